"""Usage events as the inference platform sends them, read into the ledger's `Event`s.

The endpoint (`POST /api/v1/usage/events`) and `usagebook import` share these rules; every
problem of every event is reported at once, by path (`events.<index>.<field>`, the client's
field names), and an invalid event still hands the ledger what it names (`ledger.events.Named`)
so that unknown SKUs, keys and accounts are reported with it.

`UsageEvent` (pydantic) is the reference: it states the rules, writes the OpenAPI schema and
words every error. On recording's hot path the model's cost per event is a share of the server's
CPU worth saving (measured by bench/strict_json.py: docs/performance.md, Event validation), so
`_fast_event` accepts the plain well-formed event more cheaply and hands anything else (an
error, a float, an unusual key) to the model. It only ever says "valid, and here is the same
value the model would give" or "ask the model": the hypothesis properties of
tests/api/recording/test_event_fast_path.py hold `parse_events` to the model alone, on generated
valid and invalid events, for acceptance, the value given and every error's path and wording.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

from usagebook.errors import ProblemCollector
from usagebook.ledger.events import (
    FIELDS,
    MAX_EVENTS,
    MAX_ID,
    MAX_INT32,
    MAX_NOTES,
    MAX_TAGS,
    MAX_TEXT,
    MAX_UNITS,
    TAG_KEY,
    TAG_VALUE,
    Event,
    Named,
    tag_key_ok,
    tag_value_ok,
)
from usagebook.money import FILTER_CURRENCIES, LEGACY_VCU, Currency, NotExact, parse_decimal
from usagebook.plain_errors import add_errors
from usagebook.strict_model import StrictInput
from usagebook.timeutil import to_ms


def _units(value: Any) -> Decimal:
    try:
        units = parse_decimal(value)
    except NotExact as exc:
        raise PydanticCustomError("units", str(exc)) from None
    if not 0 < units < MAX_UNITS:
        raise PydanticCustomError("units", f"must be greater than 0 and less than {MAX_UNITS}")
    return units


def _timestamp(value: Any) -> int:
    problem = "must be an ISO 8601 date-time with a time zone, e.g. 2026-06-15T19:05:10.504Z"
    if not isinstance(value, str):
        raise PydanticCustomError("timestamp", problem)
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError("timestamp", problem) from None
    if moment.tzinfo is None:
        raise PydanticCustomError("timestamp", problem)
    return to_ms(moment)


TAGS_SCHEMA = {
    "type": "object", "maxProperties": MAX_TAGS, "propertyNames": {"pattern": TAG_KEY},
    "additionalProperties": {"type": "string", "pattern": TAG_VALUE},
    "description": f"Up to {MAX_TAGS} tags, e.g. {{\"project\": \"search\", \"user\": \"u_123\"}}",
}


def tags_text(value: Any) -> str | None:
    """Tags as stored: canonical JSON text (keys sorted, compact), None for no tags. The
    characters allowed need no JSON escape, so equal tags always give equal text."""
    if value is None:
        return None
    if type(value) is not dict or len(value) > MAX_TAGS:
        raise PydanticCustomError("tags", f"must be an object of at most {MAX_TAGS} tags")
    for key, text in value.items():
        if not tag_key_ok(key):
            raise PydanticCustomError(
                "tags", f"tag key {key[:40]!r} must be 1-32 of a-z, 0-9 and _, starting with a "
                        "letter")
        if type(text) is not str or not tag_value_ok(text):
            raise PydanticCustomError(
                "tags", f"tag {key!r} must have a value of 1-64 of A-Z, a-z, 0-9 and ._:@/+-")
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode() if value else None


def _stored_currency(value: str) -> str:
    # Venice's legacy VCU is stored as DIEM: usagebook never writes VCU.
    return Currency.DIEM.value if value == LEGACY_VCU else value


# PostgreSQL text cannot hold NUL (it failed the whole request with a 500): refused as input.
NO_NUL = r"^[^\x00]*$"
Text200 = Annotated[str, Strict(), Field(min_length=1, max_length=MAX_TEXT, pattern=NO_NUL)]
Id40 = Annotated[str, Strict(), Field(min_length=1, max_length=MAX_ID, pattern=NO_NUL)]
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_INT32)]


# Its Python field names are the ledger Event's; its docstring is the OpenAPI description.
class UsageEvent(StrictInput):
    """One validated event. `model_fields_set` says which fields the client sent, which is what
    a repeat is compared on (duplicate or conflict)."""

    request_id: Text200 = Field(alias="requestId")
    sku: Text200
    units: Annotated[
        Decimal,
        BeforeValidator(_units),
        WithJsonSchema({"type": ["string", "number"], "description": "> 0, at most 9 decimals"}),
    ]
    api_key_id: Id40 | None = Field(None, alias="apiKeyId")
    account_id: Id40 | None = Field(None, alias="accountId")
    ts_ms: (
        Annotated[
            int,
            BeforeValidator(_timestamp),
            WithJsonSchema({"type": "string", "format": "date-time"}),
        ]
        | None
    ) = Field(None, alias="timestamp")
    notes: Annotated[str, Strict(), Field(max_length=MAX_NOTES, pattern=NO_NUL)] | None = None
    execution_ms: Count | None = Field(None, alias="inferenceExecutionTime")
    prompt_tokens: Count | None = Field(None, alias="promptTokens")
    completion_tokens: Count | None = Field(None, alias="completionTokens")
    # The hold granted for this usage by POST /usage/authorize: the event is charged in the
    # hold's currency and the hold is released (ledger.recording).
    hold_id: Id40 | None = Field(None, alias="holdId")
    # Stored as canonical JSON text (`tags_text`); `{}` is no tags.
    tags: Annotated[str | None, BeforeValidator(tags_text), WithJsonSchema(TAGS_SCHEMA)] = None
    # Only `usagebook import` may carry a currency (history from another ledger); live events
    # get theirs from the consumption order.
    currency: (
        Annotated[
            Literal["USD", "DIEM", "BUNDLED_CREDITS", "VCU"], AfterValidator(_stored_currency)
        ]
        | None
    ) = None


_ONE = TypeAdapter(UsageEvent)
# Field names as the client writes them, by the ledger's names.
WIRE_NAMES = {name: field.alias or name for name, field in UsageEvent.model_fields.items()}
_BY_WIRE_NAME = {alias: name for name, alias in WIRE_NAMES.items()}


def _from_model(model: UsageEvent) -> Event:
    values = {name: getattr(model, name) for name in FIELDS}
    return Event(**values, sent=frozenset(model.model_fields_set))


def parse_batch(body: Any, problems: ProblemCollector) -> list[Event | Named]:
    """Read `{"events": [...]}`. Returns one item per event (what it names where it is
    invalid) and adds every problem found to `problems` under `events.<index>.<field>`."""
    if not isinstance(body, dict) or set(body) != {"events"}:
        problems.add("", 'the body must be a JSON object {"events": [...]} and nothing else')
        return []
    events = body["events"]
    if not isinstance(events, list) or not 1 <= len(events) <= MAX_EVENTS:
        problems.add("events", f"must be a list of 1 to {MAX_EVENTS} events")
        return []
    return parse_events(events, problems)


def parse_events(events: Sequence[Any], problems: ProblemCollector) -> list[Event | Named]:
    parsed: list[Event | Named] = []
    for index, raw in enumerate(events):
        event = _fast_event(raw)
        if event is None:
            event = _model_event(raw, index, problems)
        parsed.append(_named_in(raw) if event is None else event)
    return parsed


def _model_event(raw: Any, index: int, problems: ProblemCollector) -> Event | None:
    try:
        return _from_model(_ONE.validate_python(raw))
    except ValidationError as exc:
        add_errors(problems, exc.errors(include_url=False), f"events.{index}")
        return None


def _named_in(raw: Any) -> Named:
    if not isinstance(raw, dict):
        return Named(None, None, None)
    found = (raw.get("sku"), raw.get("apiKeyId"), raw.get("accountId"))
    # A name PostgreSQL cannot even compare (NUL) is already reported invalid: look up nothing.
    sku, key, account = (
        value if isinstance(value, str) and value and "\x00" not in value else None
        for value in found
    )
    return Named(sku, key, account)


# --- the fast path ----------------------------------------------------------------------------
# Each check below mirrors one constraint of UsageEvent; anything it does not recognise returns
# None, which sends the event to the model. Key sets seen are remembered (bounded): a platform
# sends the same few shapes over and over.
_SENT_BY_KEYS: dict[tuple[str, ...], frozenset[str]] = {}
_STORED_CURRENCY = {c: _stored_currency(c) for c in FILTER_CURRENCIES}


def _sent(raw: dict[str, Any]) -> frozenset[str] | None:
    keys = tuple(raw)
    sent = _SENT_BY_KEYS.get(keys)
    if sent is None:
        if not all(key in _BY_WIRE_NAME for key in keys):
            return None
        sent = frozenset(_BY_WIRE_NAME[key] for key in keys)
        if len(_SENT_BY_KEYS) < 1024:
            _SENT_BY_KEYS[keys] = sent
    return sent


def _text(value: Any, longest: int, shortest: int = 1) -> bool:
    """A str the model's Text/Id types accept: length in range, no NUL, encodable (a lone
    surrogate from the standard parser is not)."""
    if type(value) is not str or not shortest <= len(value) <= longest or "\x00" in value:
        return False
    if value.isascii():
        return True
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _count(value: Any) -> bool:
    return value is None or (type(value) is int and 0 <= value <= MAX_INT32)


def _fast_event(raw: Any) -> Event | None:
    if type(raw) is not dict:
        return None
    sent = _sent(raw)
    if sent is None or "request_id" not in sent or "sku" not in sent or "units" not in sent:
        return None
    get = raw.get
    request_id, sku, units_in = raw["requestId"], raw["sku"], raw["units"]
    api_key_id, account_id, notes = get("apiKeyId"), get("accountId"), get("notes")
    execution_ms, prompt_tokens = get("inferenceExecutionTime"), get("promptTokens")
    completion_tokens, timestamp = get("completionTokens"), get("timestamp")
    currency, hold_id, tags = get("currency"), get("holdId"), get("tags")
    if not (
        _text(request_id, MAX_TEXT)
        and _text(sku, MAX_TEXT)
        and (api_key_id is None or _text(api_key_id, MAX_ID))
        and (account_id is None or _text(account_id, MAX_ID))
        and (notes is None or _text(notes, MAX_NOTES, 0))
        and (hold_id is None or _text(hold_id, MAX_ID))
        and _count(execution_ms)
        and _count(prompt_tokens)
        and _count(completion_tokens)
        and (currency is None or (type(currency) is str and currency in _STORED_CURRENCY))
        and type(units_in) in (str, int)
    ):
        return None
    try:
        units = _units(units_in)
        ts_ms = None if timestamp is None else _timestamp(timestamp)
        tags_sent = None if tags is None else tags_text(tags)
    except PydanticCustomError:
        return None
    return Event(
        request_id, sku, units, api_key_id, account_id, ts_ms, notes, execution_ms,
        prompt_tokens, completion_tokens, hold_id,
        None if currency is None else _STORED_CURRENCY[currency], tags_sent, sent,
    )
