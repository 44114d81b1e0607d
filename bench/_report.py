"""The hot-path benchmark's report: ratios against the raw statements and the trivial endpoint
measured in the same run, written to docs/performance.md under "The read hot path"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parents[1] / "docs" / "performance.md"
SECTION = "## The read hot path (bench/hotpath.py)"
# (what, target, higher is better)
TARGETS = {
    "postgresql": {"balance/raw": 0.5, "balance/trivial": 0.2, "page c1 x raw": 3.0,
                   "page c8/raw": 0.3, "history c1 x raw": 2.5},
    "sqlite": {"balance/raw": 0.2, "balance/trivial": 0.2, "page c1 x raw": 5.0,
               "page c8/raw": 0.5},
}


def ratios(found: dict[str, Any]) -> dict[str, float]:
    ub, raw = found["usagebook"], found["raw"]
    w1, w2 = ub["w1"], ub["w2"]
    rate = lambda run: run["requests"] / run["seconds"]  # noqa: E731
    raw_balance = raw.get("balance, one read-only transaction c8",
                          raw["balance, the statement alone c8"])
    return {
        "balance/raw": rate(w2["balance c8"]) / raw_balance,
        "balance/raw statement alone": rate(w2["balance c8"]) / raw[
            "balance, the statement alone c8"],
        "balance/trivial": rate(w2["balance c8"]) / rate(found["trivial"]["w2"]),
        "page c1 x raw": w2["page c1"]["latency_ms"] / raw["page c1"],
        "page c8/raw": rate(w2["page c8"]) / raw["page c8"],
        "history c1 x raw": w2["history c1"]["latency_ms"] / raw["history c1"],
        "page csv/json": w2["page csv c1"]["latency_ms"] / w2["page c1"]["latency_ms"],
        "history csv/json": w2["history csv c1"]["latency_ms"] / w2["history c1"]["latency_ms"],
        "balance w2/w1": rate(w2["balance c8"]) / rate(w1["balance c8"]),
        "page w2/w1": rate(w2["page c8"]) / rate(w1["page c8"]),
        # What a second worker gives the HTTP stack alone on this machine, in the same run.
        "trivial w2/w1": rate(found["trivial"]["w2"]) / rate(found["trivial"]["w1"]),
    }


def _met(name: str, value: float, backend: str) -> str:
    target = TARGETS[backend].get(name)
    if target is None:
        if name.endswith("csv/json"):
            return "met" if value <= 1.2 else "NOT met"
        if name.endswith("w2/w1") and not name.startswith("trivial"):
            return "met" if value >= 1.0 else "NOT met"
        return ""
    good = value <= target if " x " in name else value >= target
    op = "<=" if " x " in name else ">="
    return f"{op} {target:g}: {'met' if good else 'NOT met'}"


def render(results: dict[str, Any]) -> str:
    lines = [
        f"Command: `.venv/bin/python -m bench.hotpath --entries {results['entries']} "
        f"--seconds {results['seconds']:g}` ({results['measured']}); wrk, "
        f"{results['clients']} keep-alive connections (c8) or one (c1), "
        f"{results['seconds']:g} s per case, every case in the same run, workers 1 and 2 "
        f"taking turns at each; raw: the mean of a run right before and right after them (both "
        f"in brackets); load average at the end {results['load']:.1f} on 2 cores shared with "
        f"other work.",
        "",
    ]
    for backend in ("postgresql", "sqlite"):
        if backend not in results:
            continue
        found = results[backend]
        lines += _backend_table(backend, found)
    return "\n".join(lines) + "\n"


def _backend_table(backend: str, found: dict[str, Any]) -> list[str]:
    lines = [f"### {backend}", "", "| case | workers 1 | workers 2 | server CPU / request (w2) |",
             "|---|---:|---:|---:|"]
    for name, run in found["usagebook"]["w2"].items():
        one = found["usagebook"]["w1"][name]
        unit = " ms" if name.endswith("c1") else " req/s"
        latency = name.endswith("c1")

        def value(r: dict[str, Any], latency: bool = latency) -> float:
            return float(r["latency_ms"] if latency else r["requests"] / r["seconds"])

        lines.append(f"| {name} | {value(one):,.2f}{unit} | {value(run):,.2f}{unit} | "
                     f"{run['cpu_ms']:.2f} ms |")
    for workers in ("w1", "w2"):
        run = found["trivial"][workers]
        lines.append(f"| trivial endpoint c8 ({workers}) | | "
                     f"{run['requests'] / run['seconds']:,.0f} req/s | {run['cpu_ms']:.2f} ms |")
    runs = found.get("raw runs", [])
    for name, value in found["raw"].items():
        unit = "ms" if name.endswith("c1") else "req/s"
        spread = " (" + " / ".join(f"{run[name]:,.2f}" for run in runs) + ")" if runs else ""
        lines.append(f"| raw: {name} | | {value:,.2f} {unit}{spread} | |")
    lines += ["", "| ratio (workers 2) | value | target |", "|---|---:|---|"]
    for name, value in ratios(found).items():
        lines.append(f"| {name} | {value:.2f} | {_met(name, value, backend)} |")
    lines.append("")
    for endpoint, frames in found.get("profiles", {}).items():
        top = "; ".join(f"{frame} {share:.0%}" for frame, share in frames[:8])
        lines.append(f"- py-spy, {endpoint} under load (own time, top frames): {top}")
    lines.append("")
    return lines


def write_report(results: dict[str, Any], *, docs: bool) -> None:
    report = render(results)
    print(report)
    if not docs:
        return
    text = DOCS.read_text()
    if SECTION not in text:
        text = text.rstrip("\n") + f"\n\n{SECTION}\n\n<!-- figures -->\n"
    start = text.index(SECTION) + len(SECTION)
    marker = text.find("<!-- figures -->", start)
    end = text.find("<!-- /figures -->", start)
    if marker == -1:
        return
    rest = text[end:] if end != -1 else "<!-- /figures -->\n" + text[marker + 16:]
    DOCS.write_text(text[:marker] + "<!-- figures -->\n" + report + rest)
