"""Choosing JSON or CSV from the Accept header, as the contract says: q-values decide, the
first listed wins a tie, no header or `*/*` means JSON, anything unservable is a 406.

Each media type we serve takes its quality from the most specific range that matches it
(RFC 9110 12.5.1), so `application/json;q=0, */*` refuses JSON and serves CSV. A quality that is
not a number from 0 to 1 makes its range unusable rather than guessing what was meant.
"""

from __future__ import annotations

import math

from usagebook.errors import NotAcceptable

JSON = "application/json"
CSV = "text/csv"
SERVED = (JSON, CSV)  # in this order of preference when a wildcard leaves a tie


def choose_media_type(accept: str | None) -> str:
    if not accept or not accept.strip():
        return JSON
    ranges = [_parse(part) for part in accept.split(",") if part.strip()]
    best: tuple[float, int, str] | None = None
    for served in SERVED:
        match = _best_match(served, ranges)
        if match is None:
            continue
        quality, position = match
        if quality > 0 and (best is None or (quality, -position) > best[:2]):
            best = (quality, -position, served)
    if best is None:
        raise NotAcceptable("Supported media types: application/json, text/csv")
    return best[2]


def _best_match(served: str, ranges: list[tuple[str, float]]) -> tuple[float, int] | None:
    """(quality, position) of the most specific range matching `served`, or None."""
    kind = served.split("/")[0]
    found: tuple[int, float, int] | None = None  # (specificity, quality, position)
    for position, (media, quality) in enumerate(ranges):
        specificity = 3 if media == served else 2 if media == f"{kind}/*" else (
            1 if media == "*/*" else 0)
        if specificity and (found is None or specificity > found[0]):
            found = (specificity, quality, position)
    return None if found is None else (found[1], found[2])


def _parse(part: str) -> tuple[str, float]:
    media, *params = (piece.strip() for piece in part.split(";"))
    quality = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            quality = _quality(value.strip())
    return media.lower(), quality


def _quality(text: str) -> float:
    try:
        quality = float(text)
    except ValueError:
        return 0.0
    return quality if math.isfinite(quality) and 0 <= quality <= 1 else 0.0
