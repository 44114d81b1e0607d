"""event_wire.py's and strict_json.py's shortcuts agree with the references they stand in for.

`_fast_event` may only say "valid, and here is exactly what `UsageEvent` would give" or "ask the
model"; `parse_events` (fast path, then the model) must answer as the model alone does, errors
included. `decode_body` must read every body as `json.loads(body, parse_float=Decimal)` does,
except that it refuses what is not strict JSON: not UTF-8, a key twice in one object, NaN.
Values are compared with their types and Decimal exponents, so a float or a `1.0` for a `1`
sneaking through fails.
"""

from __future__ import annotations

import json
import math
from dataclasses import fields
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from usagebook.api.event_wire import (
    WIRE_NAMES,
    UsageEvent,
    _fast_event,
    _from_model,
    _model_event,
    parse_events,
)
from usagebook.api.strict_json import decode_body
from usagebook.errors import ProblemCollector
from usagebook.ledger.events import FIELDS, MAX_INT32, Event, Named
from usagebook.money import Currency

EVENTS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TYPICAL = {
    "requestId": "req-7f3a", "sku": "llama-3.3-70b-llm-input-mtoken", "units": "0.001234",
    "apiKeyId": "key_42", "timestamp": "2026-06-15T19:05:10.504Z", "promptTokens": 1234,
    "completionTokens": 56, "inferenceExecutionTime": 870,
}

# --- values: the boundaries of every rule, and a few of each wrong kind -----------------------
_texts = [
    "", " ", "a", "\n", "a" * 40, "a" * 41, "a" * 200, "a" * 201, "a" * 2000, "a" * 2001,
    "é" * 40, "é" * 41, "😀" * 200, "😀" * 201, "a\x00b", "\x00", "\ud800", "a\ud800b",
    "\udfff" * 3, "ok\u2028", "id-1",
]
_numbers = [
    0, 1, -1, 7, MAX_INT32, MAX_INT32 + 1, 2**63, -(2**63), 10**30, True, False,
    0.0, 1.0, 2.5, -1.0, 1e-9, math.nan, math.inf,
    Decimal("1"), Decimal("2.5"), Decimal("1E-10"), Decimal("1.0000000000"), Decimal("NaN"),
]
_good_units = [
    "1", " 2.5 ", "1e-9", "1.0000000000", "0.000000001", "999999999.999999999", "999999999",
    "1E+2", "1.", ".5", "+3", "1_000", "\u0661",  # Decimal() takes underscores, Arabic digits
]
_bad_units = [
    "0", "-1", "1e-10", "0.0000000001", "1000000000", "NaN", "Infinity", "-Infinity", "1E+90",
    "1E+91", "abc", "", "9" * 120,
]
_good_timestamps = [
    "2026-06-15T19:05:10.504Z", "2026-06-15T19:05:10+02:00", "2026-06-15T19:05:10.123456-05:30",
    "2026-06-15 19:05:10Z", " 2026-06-15T19:05:10Z ", "20260615T190510Z",
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-23:59", "1969-12-31T23:59:59.999Z",
]
_bad_timestamps = [
    "2026-06-15T19:05:10", "2026-06-15", "2026-06-15T19:05:10.504z", "2026-02-30T00:00:00Z",
    "Z", "garbage", "",
]
_currencies = ["USD", "DIEM", "BUNDLED_CREDITS", "VCU", "usd", "EUR", "", Currency.USD]
_others: list[Any] = [None, [], {}, ["1"], {"a": 1}]
any_value = st.sampled_from(
    _texts + _numbers + _good_units + _bad_units + _good_timestamps + _bad_timestamps
    + _currencies + _others
)

# Per key, a value the model takes (mostly) and one around or past its limits.
_plain_text = st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=45)
_good_ids = st.sampled_from(["a" * 40, "é" * 40, "ok\u2028", "id-1"]) | _plain_text
_good_texts = st.sampled_from(["a" * 200, "😀" * 200, "é" * 41]) | _good_ids
_bad_texts = st.sampled_from(_texts) | st.text(max_size=45) | any_value


def _past_limit(longest: int) -> st.SearchStrategy[Any]:
    over = [char * (longest + 1) for char in "aé😀"]
    return st.sampled_from([*over, "", "\x00", "a\ud800"]) | _bad_texts


_good_counts = st.sampled_from([0, MAX_INT32, None]) | st.integers(0, MAX_INT32)
_bad_counts = st.sampled_from([-1, MAX_INT32 + 1, True, 1.0]) | st.integers() | any_value
_good_tags = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_]{0,31}", fullmatch=True),
    st.from_regex(r"[A-Za-z0-9._:@/+-]{1,64}", fullmatch=True), max_size=8,
) | st.sampled_from([None, {}, {"project": "search", "user": "u_123"}])
_bad_tags = st.sampled_from([
    {"A": "x"}, {"a\n": "x"}, {"a": "x\n"}, {"a": "x" * 65}, {"a" * 33: "x"}, {"a": ""},
    {"a": 1}, {"a": None}, {"": "x"}, {"_a": "x"}, {"1a": "x"}, {"a": "é"}, {"a": "x y"},
    {f"k{n}": "v" for n in range(9)}, ["a"], "a=b",
]) | st.dictionaries(st.text(max_size=34), st.text(max_size=66) | any_value, max_size=10) \
    | any_value
_GOOD: dict[str, st.SearchStrategy[Any]] = {
    "requestId": _good_texts, "sku": _good_texts,
    "units": st.sampled_from(_good_units) | st.integers(1, 999_999_999) | st.decimals(
        Decimal("0.000000001"), Decimal("999999999.999999999"), places=9).map(str),
    "apiKeyId": _good_ids, "accountId": _good_ids,
    "timestamp": st.sampled_from([*_good_timestamps, None])
    | st.datetimes(timezones=st.timezones()).map(lambda moment: moment.isoformat()),
    "notes": _good_texts | st.sampled_from(["", "a" * 2000]),
    "inferenceExecutionTime": _good_counts, "promptTokens": _good_counts,
    "completionTokens": _good_counts,
    "currency": st.sampled_from(["USD", "DIEM", "BUNDLED_CREDITS", "VCU", None]),
    "tags": _good_tags,
}
_BAD: dict[str, st.SearchStrategy[Any]] = {
    **{key: _past_limit(200) for key in ("requestId", "sku")},
    **{key: _past_limit(40) for key in ("apiKeyId", "accountId")},
    "notes": _past_limit(2000),
    **{key: _bad_counts for key in ("inferenceExecutionTime", "promptTokens", "completionTokens")},
    "units": st.sampled_from(_bad_units) | st.decimals().map(str) | any_value,
    "timestamp": st.sampled_from(_bad_timestamps) | st.datetimes().map(str) | any_value,
    "currency": any_value,
    "tags": _bad_tags,
}
_REQUIRED = ["requestId", "sku", "units"]
_OPTIONAL = [key for key in _GOOD if key not in _REQUIRED]
_STRAY_KEYS = ["request_id", "api_key_id", "ts_ms", "execution_ms", "prompt_tokens", "sent",
               "RequestId", "extra", ""]
_kept = st.integers(0, 11)  # 0 drops a required key
_clean = st.integers(0, 5)  # 0 adds keys the model refuses or the fast path does not know
_optional_keys = st.lists(st.sampled_from(_OPTIONAL), unique=True, max_size=len(_OPTIONAL))
_stray_keys = st.lists(st.sampled_from(_STRAY_KEYS), unique=True, min_size=1, max_size=2)
_bad_keys = st.lists(st.sampled_from(_REQUIRED + _OPTIONAL), min_size=1, max_size=2)
_orders = st.permutations(_REQUIRED + _OPTIONAL + _STRAY_KEYS)


@st.composite
def raw_events(draw: st.DrawFn) -> dict[Any, Any]:
    """Mostly near-valid events: some keys missing, stray or out of order, a few values bad."""
    keys = [key for key in _REQUIRED if draw(_kept)]
    keys += draw(_optional_keys)
    if not draw(_clean):
        keys += draw(_stray_keys)
    keys.sort(key=draw(_orders).index)  # the fast path caches by key order
    bad = set(draw(_bad_keys))
    return {key: draw((_BAD if key in bad else _GOOD).get(key, any_value)) for key in keys}


# --- exact comparison ---------------------------------------------------------------------------
def _same(left: Any, right: Any) -> bool:
    """Equal, of the same type, and (for Decimals) with the same digits and exponent."""
    if type(left) is not type(right):
        return False
    if isinstance(left, Decimal):
        return left.as_tuple() == right.as_tuple()
    if isinstance(left, float):
        return left == right or (math.isnan(left) and math.isnan(right))
    if isinstance(left, dict):
        return list(left) == list(right) and all(_same(left[k], right[k]) for k in left)
    if isinstance(left, list):
        return len(left) == len(right) and all(map(_same, left, right))
    return bool(left == right)


def _same_event(left: Event | None, right: Event | None) -> bool:
    if left is None or right is None:
        return left is right
    return left == right and all(
        _same(getattr(left, f.name), getattr(right, f.name)) for f in fields(Event)
    )


def _check_event(raw: Any) -> None:
    fast = _fast_event(raw)
    if fast is not None:
        model = UsageEvent.model_validate(raw)  # raises if the fast path accepted an invalid event
        assert _same_event(fast, _from_model(model)), (fast, _from_model(model))
    model_problems, problems = ProblemCollector(), ProblemCollector()
    expected = _model_event(raw, 0, model_problems)
    parsed = parse_events([raw], problems)[0]
    assert _same_event(None if isinstance(parsed, Named) else parsed, expected)
    assert problems.problems == model_problems.problems


def test_the_model_names_the_ledgers_fields() -> None:
    # _from_model copies the model's fields into the ledger's Event by name.
    assert set(WIRE_NAMES) == FIELDS == {f.name for f in fields(Event)} - {"sent"}


# --- the fast path ------------------------------------------------------------------------------
@EVENTS
@given(raw_events())
def test_fast_path_gives_what_the_model_gives(raw: dict[Any, Any]) -> None:
    _check_event(raw)


def test_a_typical_event_takes_the_fast_path() -> None:
    # Else the property above holds trivially and recording silently pays for pydantic.
    tagged = {**TYPICAL, "tags": {"project": "search", "user": "u_123"}}
    for raw in (TYPICAL, {"requestId": "r", "sku": "s", "units": 1}, tagged):
        fast = _fast_event(dict(raw))
        assert fast is not None
        assert _same_event(fast, _from_model(UsageEvent.model_validate(raw)))


@pytest.mark.parametrize(("key", "value"), [
    ("requestId", "a" * 200), ("requestId", "a" * 201), ("requestId", ""), ("requestId", "a\x00"),
    ("requestId", "\ud800"), ("requestId", "é" * 201), ("requestId", 7), ("sku", "😀" * 200),
    ("apiKeyId", "a" * 40), ("apiKeyId", "a" * 41), ("accountId", ""), ("accountId", None),
    ("notes", ""), ("notes", "a" * 2000), ("notes", "a" * 2001), ("notes", "\x00"),
    ("promptTokens", MAX_INT32), ("promptTokens", MAX_INT32 + 1), ("promptTokens", -1),
    ("completionTokens", True), ("inferenceExecutionTime", 1.0),
    ("units", "1e-9"), ("units", "1e-10"), ("units", "1.0000000000"), ("units", " 2.5 "),
    ("units", "999999999.999999999"), ("units", "1000000000"), ("units", "0"), ("units", "-1"),
    ("units", "NaN"), ("units", "Infinity"), ("units", "1E+90"), ("units", "abc"),
    ("units", 2.5), ("units", Decimal("2.5")), ("units", True), ("units", 3),
    ("timestamp", "2026-06-15T19:05:10+02:00"), ("timestamp", "2026-06-15T19:05:10"),
    ("timestamp", "Z"), ("timestamp", None), ("timestamp", 1750000000000),
    ("currency", "VCU"), ("currency", "usd"), ("currency", Currency.DIEM), ("currency", None),
    ("request_id", "r2"), ("unknown", 1),
])
def test_boundary(key: str, value: Any) -> None:
    _check_event({**TYPICAL, key: value})


@pytest.mark.parametrize("raw", [None, [], "event", 1, {}, {"requestId": "r", "sku": "s"}])
def test_not_an_event(raw: Any) -> None:
    assert _fast_event(raw) is None
    _check_event(raw)


# --- decode_body --------------------------------------------------------------------------------
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from([0.1, 1e-7, 1e300, -0.0, 2.5, 1e16, 5e-324]) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=12,
)
_ENCODERS = {
    "ascii": lambda value: json.dumps(value).encode(),
    "utf-8": lambda value: json.dumps(value, ensure_ascii=False).encode("utf-8", "surrogatepass"),
    "indented": lambda value: json.dumps(value, indent=1).encode(),
}


def _strict_reference(body: bytes) -> Any:
    """json.loads, refusing (ValueError) non-UTF-8 bytes, repeated keys and NaN/Infinity."""
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({key for key, _ in pairs}) != len(pairs):
            raise ValueError("repeated key")
        return dict(pairs)

    def constant(name: str) -> Any:
        raise ValueError(name)

    return json.loads(body.decode("utf-8"), parse_float=Decimal, object_pairs_hook=unique,
                      parse_constant=constant)


def _check_body(body: bytes) -> None:
    try:
        expected = _strict_reference(body)
    except ValueError:
        with pytest.raises(ValueError):
            decode_body(body)
        return
    assert _same(decode_body(body), expected)


@settings(max_examples=500, deadline=None)
@given(json_values, st.sampled_from(sorted(_ENCODERS)))
def test_decode_body_reads_as_the_standard_parser(value: Any, encoder: str) -> None:
    _check_body(_ENCODERS[encoder](value))


@settings(max_examples=150, deadline=None)
@given(json_values)
def test_decode_body_reads_what_orjson_writes(value: Any) -> None:
    try:
        body = orjson.dumps(value)
    except orjson.JSONEncodeError:  # integers beyond 64 bits, lone surrogates
        body = json.dumps(value).encode()
    _check_body(body)


@settings(max_examples=300, deadline=None)
@given(json_values, st.integers(min_value=0), st.binary(min_size=1, max_size=2))
def test_decode_body_refuses_what_the_standard_parser_refuses(
    value: Any, position: int, noise: bytes
) -> None:
    body = json.dumps(value).encode()
    cut = position % (len(body) + 1)
    _check_body(body[:cut] + noise + body[cut:])
    _check_body(body[:cut])


@pytest.mark.parametrize("body", [
    b"", b" ", b"{", b"[1,]", b"{'a': 1}", b"\xff", b"01", b"1 2", b"nul", b'"\x01"', b"[1e]",
    b"-", b'{"a" 1}', b'"\\x"', b"\xef\xbb\xbf{}", '{"a": "é"}'.encode("utf-16"),
    b"NaN", b"-Infinity", b'{"units": NaN, "n": [Infinity, 1]}', b'{"units": Infinity}',
    b'"\\ud800"', b'{"a": 1, "a": 2.5}', b'{"a": 1, "a": 2}', b"18446744073709551616",
    b"-9223372036854775809", b"18446744073709551615", b"-9223372036854775808", b"1" * 5000,
    b'{"a": 1, "b": 2, "a": 3}', b"1e400", b"-0", b"1\x00", b"[0.1, 1e-7, 1E2, -0.0, 10]",
    b'{"units": "0.1"}', b'{"a":1,"a" :2}', b'{"a":1,"a"\n:2}', b'{"a":"\\":","a":1}',
    b'{"a":"x\\":y","b":1}', b'[{"a":1},{"a":1,"b":{"c":1,"c":2}}]', b'{"a\\"":1,"a\\"":2}',
    b'{"":1,"":2}', b'{"a":1}\n', b' {"a" : 1} ', b'{"k":"\\u0022:"}',
])
def test_decode_body_edge(body: bytes) -> None:
    _check_body(body)


def test_decode_body_refuses_nesting_deeper_than_the_parsers_go() -> None:
    # Both parsers stop (orjson at 1024 levels, json at the recursion limit); the endpoint
    # answers either error with a 400. (Just below the limit decode_body reads a few levels
    # deeper than json.loads: orjson parses them and the float scan needs fewer frames.)
    deep = b"[" * 5000 + b"]" * 5000
    with pytest.raises(RecursionError):
        json.loads(deep)
    with pytest.raises((ValueError, RecursionError)):
        decode_body(deep)
