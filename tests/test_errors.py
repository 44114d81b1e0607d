"""usagebook.errors: an InvalidInput as an edge shows it (its own names for the ledger's)."""

from __future__ import annotations

from usagebook.errors import InvalidInput, ProblemCollector

PROBLEMS = {
    "start": ["must not be after {end}"],
    "limits.usd": ["is too large"],
    "limits.diem": ["must be at most {limits}"],
    "rows.2.model_type": ["is required"],
    "": ["the body {unknown} {\"skus\": [...]}"],
}


def test_paths_and_placeholders_take_the_edge_names() -> None:
    names = {"start": "startDate", "end": "endDate", "limits": "consumptionLimit",
             "limits.usd": "limit-usd", "model_type": "modelType"}
    shown = InvalidInput(PROBLEMS, "{start} is off").named(names)
    assert shown.problems == {
        "startDate": ["must not be after endDate"],
        "limit-usd": ["is too large"],  # the whole path before its segments
        "consumptionLimit.diem": ["must be at most consumptionLimit"],
        "rows.2.modelType": ["is required"],
        "": ["the body {unknown} {\"skus\": [...]}"],  # not in the names: as it is
    }
    assert shown.message == "startDate is off"


def test_problems_whose_names_meet_are_merged_in_order() -> None:
    raised = InvalidInput({"start": ["a"], "currency": ["b"], "startDate": ["c"]})
    assert raised.named({"start": "startDate"}).problems == {"startDate": ["a", "c"],
                                                             "currency": ["b"]}


def test_no_names_leaves_the_error_as_it_is() -> None:
    raised = InvalidInput(PROBLEMS)
    assert raised.named({}) is raised


def test_keys_a_caller_chose_are_never_renamed() -> None:
    names = {"tags": "tag", "start": "startTimestamp", "hold_id": "holdId"}
    raised = InvalidInput({"tags.start": ["twice"], "events.3.hold_id": ["unknown"],
                           "start.start": ["x"]})
    assert raised.named(names).problems == {"tag.start": ["twice"],  # a tag key below a name
                                            "events.3.holdId": ["unknown"],  # after an index
                                            "startTimestamp.start": ["x"]}


def test_problems_found_as_sent_keep_their_names() -> None:
    problems = ProblemCollector()
    problems.add("start", "must not be after {end}")
    problems.add("expires_ms", "is not a known field {end}", as_sent=True)  # a body's own key
    shown = problems.error().named({"start": "startDate", "end": "endDate",
                                    "expires_ms": "expiresAt"})
    assert shown.problems == {"startDate": ["must not be after endDate"],
                              "expires_ms": ["is not a known field {end}"]}
    assert shown.named({"startDate": "again"}).problems == shown.problems  # shown once
