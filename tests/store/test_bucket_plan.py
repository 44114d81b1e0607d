"""The bucket plan: for any boundaries and any grains, the signed terms read from simulated
rollups (and raw edges) add up to exactly the entries of each bucket."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from usagebook.store.bucket_plan import RAW, plan_terms

DAY, HOUR, QUARTER = 86_400_000, 3_600_000, 900_000
GRAIN_SETS = ((DAY, HOUR, QUARTER), (HOUR, QUARTER), (QUARTER,), (DAY, QUARTER), ())
moment = st.integers(-3 * DAY, 3 * DAY)


def _read(term_grain: int, lo: int, hi: int, entries: list[int]) -> int:
    """What a rollup of `term_grain` (or the raw entries) gives for [lo, hi)."""
    if term_grain == RAW:
        return sum(1 for ts in entries if lo <= ts < hi)
    assert lo % term_grain == 0 and hi % term_grain == 0 and lo < hi
    units = Counter(ts - ts % term_grain for ts in entries)
    return sum(n for start, n in units.items() if lo <= start < hi)


@given(bounds=st.lists(st.one_of(moment, moment.map(lambda m: m - m % QUARTER)),
                       min_size=2, max_size=8, unique=True),
       entries=st.lists(moment, max_size=40), grains=st.sampled_from(GRAIN_SETS),
       hint=st.sampled_from((DAY, HOUR)))
def test_terms_add_up_to_each_bucket(bounds: list[int], entries: list[int],
                                     grains: tuple[int, ...], hint: int) -> None:
    bounds.sort()
    near = [b + d for b in bounds for d in (-1, 0, 1)]
    entries = entries + near
    got = Counter[int]()
    for term in plan_terms(bounds, grains, hint):
        got[term.bucket] += term.sign * _read(term.grain, term.lo, term.hi, entries)
    for k in range(len(bounds) - 1):
        assert got[k] == sum(1 for ts in entries if bounds[k] <= ts < bounds[k + 1]), k


def test_an_edge_reads_at_most_half_a_day_of_hours() -> None:
    # A Kolkata local day: 18:30 UTC to 18:30 UTC.
    bounds = [DAY + 18 * HOUR + 2 * QUARTER, 2 * DAY + 18 * HOUR + 2 * QUARTER]
    terms = plan_terms(bounds, (DAY, HOUR, QUARTER), DAY)
    hours = sum((t.hi - t.lo) // HOUR for t in terms if t.grain == HOUR)
    assert hours <= 12 and all(t.grain != RAW for t in terms)


def test_a_half_hour_zone_hour_reads_four_quarters() -> None:
    bounds = [10 * HOUR + 2 * QUARTER, 11 * HOUR + 2 * QUARTER]
    terms = plan_terms(bounds, (DAY, HOUR, QUARTER), HOUR)
    assert [(t.grain, t.hi - t.lo) for t in terms] == [(QUARTER, HOUR)]


def test_a_whole_utc_day_reads_one_row_range() -> None:
    terms = plan_terms([5 * DAY, 6 * DAY, 7 * DAY], (DAY, HOUR, QUARTER), DAY)
    assert [(t.bucket, t.grain, t.lo, t.hi) for t in terms] == [(0, DAY, 5 * DAY, 6 * DAY),
                                                                (1, DAY, 6 * DAY, 7 * DAY)]
