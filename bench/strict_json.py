"""Benchmark: the cost of reading a recording body as strict JSON (UTF-8 only, no key twice,
every number exact: `usagebook.api.strict_json.decode_body`) beside, in the same run, orjson.loads
of the same bytes (which takes the last of two equal keys and cannot say which were repeated)
and the reading it replaced: orjson.loads, then a scan for floats (present, the body is read
again with Decimals). The body is a batch of 1000 typical events.

Then the events' validation, per batch: `parse_batch` as recording runs it (the fast path, the
model only for what it does not recognise) beside the reference `UsageEvent` model alone for
every event, which is what recording would pay without the fast path.

    .venv/bin/python -m bench.strict_json [--rounds 200]

Figures go to docs/performance.md, sections "Strict JSON bodies" and "Event validation".
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import Any

import orjson

from usagebook.api.event_wire import _model_event, parse_batch
from usagebook.api.strict_json import decode_body
from usagebook.errors import ProblemCollector


def batch(size: int = 1000) -> bytes:
    events = [{"requestId": f"req_{n}", "sku": "llama-3.3-70b-llm-input-mtoken",
               "units": "0.001234", "apiKeyId": "key_0123456789abcdef", "promptTokens": 1234,
               "completionTokens": 55, "inferenceExecutionTime": 321,
               "timestamp": "2026-06-15T19:05:10.504Z"} for n in range(size)]
    return json.dumps({"events": events}).encode()


def per_call_ms(work: Callable[[bytes], Any], body: bytes, rounds: int,
                clock: Callable[[], float] = time.perf_counter) -> float:
    best = float("inf")
    for _ in range(5):  # the best of five runs: the machine is shared
        started = clock()
        for _ in range(rounds):
            work(body)
        best = min(best, (clock() - started) / rounds * 1000)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    rounds = parser.parse_args().rounds
    body = batch()
    assert decode_body(body) == orjson.loads(body)
    strict = per_call_ms(decode_body, body, rounds)
    fast = per_call_ms(orjson.loads, body, rounds)
    before = per_call_ms(_orjson_then_float_scan, body, rounds)
    print(f"body: 1000 events, {len(body)} bytes")
    print(f"orjson.loads:              {fast:.3f} ms per body")
    print(f"orjson + float scan (old): {before:.3f} ms per body")
    print(f"decode_body (strict):      {strict:.3f} ms per body ({strict / before:.2f}x the old, "
          f"{strict - before:+.3f} us per event)")
    # CPU time of this process, not wall time: single-threaded work, on a shared machine.
    events = decode_body(body)
    fast = per_call_ms(lambda _: parse_batch(events, ProblemCollector()), body, rounds,
                       time.process_time)
    model = per_call_ms(lambda _: _model_only(events["events"]), body, rounds, time.process_time)
    print(f"parse_batch (fast path):   {fast:.3f} ms CPU per batch ({fast:.2f} us per event)")
    print(f"UsageEvent model alone:    {model:.3f} ms CPU per batch ({model:.2f} us per event, "
          f"{model / fast:.1f}x)")


def _model_only(events: list[Any]) -> list[Any]:
    problems = ProblemCollector()
    parsed = [_model_event(raw, index, problems) for index, raw in enumerate(events)]
    assert not problems.problems and all(parsed)
    return parsed


def _orjson_then_float_scan(body: bytes) -> Any:
    parsed = orjson.loads(body)
    pending = [parsed]
    while pending:
        item = pending.pop()
        for child in item.values() if type(item) is dict else item:
            if type(child) is float:
                return json.loads(body)
            if type(child) in (dict, list):
                pending.append(child)
    return parsed


if __name__ == "__main__":
    main()
