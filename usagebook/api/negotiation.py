"""Choosing JSON or CSV from the Accept header, as the contract says: q-values decide, the
first listed wins a tie, no header or `*/*` means JSON, anything unservable is a 406."""

from __future__ import annotations

from usagebook.errors import NotAcceptable

JSON = "application/json"
CSV = "text/csv"
_WILDCARDS = {"*/*": JSON, "application/*": JSON, "text/*": CSV}


def choose_media_type(accept: str | None) -> str:
    if not accept or not accept.strip():
        return JSON
    best: tuple[float, int, str] | None = None
    for position, part in enumerate(accept.split(",")):
        media, quality = _parse(part)
        served = media if media in (JSON, CSV) else _WILDCARDS.get(media)
        if served is None or quality <= 0:
            continue
        rank = (quality, -position, served)
        if best is None or rank[:2] > best[:2]:
            best = rank
    if best is None:
        raise NotAcceptable("Supported media types: application/json, text/csv")
    return best[2]


def _parse(part: str) -> tuple[str, float]:
    media, *params = (piece.strip() for piece in part.split(";"))
    quality = 1.0
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value)
            except ValueError:
                quality = 0.0
    return media.lower(), quality
