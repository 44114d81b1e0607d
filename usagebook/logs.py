"""JSON logs: one object per line, with the request id of the request being served.

`configure_logging()` is called once by `usagebook serve`. Secrets never reach a log line: the
code logs key ids, never secrets or headers, and as a second line of defence every line is
scrubbed of anything shaped like a key secret or a bearer credential.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from contextvars import ContextVar
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("usagebook_request_id", default=None)

# `ubk_` secrets (ledger.keys.SECRET_PREFIX) and whatever follows "Bearer".
_SECRET_SHAPES = re.compile(r"ubk_[A-Za-z0-9_-]+|(?i:bearer)\s+\S+")
REDACTED = "[redacted]"
# The attributes every LogRecord has; anything else on a record came in through `extra=`.
# uvicorn adds `color_message`, the same text with terminal colour codes: noise in a JSON line.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


def scrub(text: str) -> str:
    # The substring test first: it is much cheaper than the regex (bench/hot_choices.py), and
    # this runs on every logged value.
    if "ubk_" in text or "earer" in text.lower():
        return _SECRET_SHAPES.sub(REDACTED, text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        # Lines logged while a request is served carry its id (read at emit time, in its context).
        if (request_id := request_id_var.get()) is not None:
            line["request_id"] = request_id
        line.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        # Scrub the values, not the JSON text, so a redaction can never break the line's syntax.
        scrubbed = {k: scrub(v) if isinstance(v, str) else v for k, v in line.items()}
        return orjson.dumps(scrubbed, default=lambda value: scrub(str(value))).decode()



def configure_logging(level: int = logging.INFO) -> None:
    """Send every logger (usagebook's, uvicorn's, SQLAlchemy's) as JSON lines to stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # The access middleware logs each request once; uvicorn's own access line would repeat it.
    logging.getLogger("uvicorn.access").disabled = True
