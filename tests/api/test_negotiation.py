"""api/negotiation.py: JSON or CSV from an Accept header."""

from __future__ import annotations

import pytest

from usagebook.api.negotiation import CSV, JSON, choose_media_type
from usagebook.errors import NotAcceptable


@pytest.mark.parametrize(("accept", "expected"), [
    (None, JSON), ("", JSON), ("   ", JSON), ("*/*", JSON), ("application/json", JSON),
    ("application/*", JSON), ("text/csv", CSV), ("text/*", CSV), ("Text/CSV;charset=UTF-8", CSV),
    ("text/csv;q=0.5, application/json", JSON),
    ("text/csv, application/json;q=0.999", CSV),
    ("text/csv;q=0.5, application/json;q=0.5", CSV),
    ("application/json;q=0.5, text/csv;q=0.5", JSON),
    ("*/*;q=0.1, text/csv;q=0.2", CSV),
    ("application/json;q=0, */*", CSV),
    ("text/*;q=0, */*", JSON),
    ("text/csv;q=0, text/*", "406"),  # the specific refusal beats text/*
    ("text/html, application/xhtml+xml, */*;q=0.8", JSON),
    ("text/csv;q=abc, application/json;q=0.1", JSON),
    ("text/csv ; q = 0.7 , application/json ; q = 0.6", CSV),
    ("application/json;q=1.0", JSON),
    (",text/csv,", CSV),
])
def test_choice(accept: str | None, expected: str) -> None:
    if expected == "406":
        with pytest.raises(NotAcceptable):
            choose_media_type(accept)
    else:
        assert choose_media_type(accept) == expected


@pytest.mark.parametrize("accept", ["text/html", "application/xml", "*/*;q=0", "text/csv;q=0",
                                    "text/csv;q=1.5", "text/csv;q=-1", "text/csv;q=nan",
                                    "text/csv;q=inf", "image/*"])
def test_unservable(accept: str) -> None:
    with pytest.raises(NotAcceptable):
        choose_media_type(accept)
