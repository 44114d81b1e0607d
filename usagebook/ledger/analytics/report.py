"""The rules of the usage-analytics answer, as pure functions over rollup totals.

Spend is reported positive (entries store charges as negative amounts). USD spend is USD +
BUNDLED_CREDITS, DIEM spend is DIEM (+ legacy VCU). Models and keys rank by USD + DIEM spend,
highest first, ties by name; the top 8 of each get daily chart rows. Chart names are unique and
never `date`, so they can be keys of the chart rows beside the wire's own `date`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from usagebook.money import LEGACY_VCU, Currency
from usagebook.store.analytics import Total
from usagebook.store.skus import SkuRow

TOP = 8
WEB_APP = "Web App"
CHART_MODEL_TYPES = ("LLM", "IMAGE", "TTS", "ASR", "VIDEO")
_USD_LIKE = (Currency.USD.value, Currency.BUNDLED_CREDITS.value)
_DIEM_LIKE = (Currency.DIEM.value, LEGACY_VCU)


@dataclass
class Spend:
    usd: Decimal = Decimal(0)
    diem: Decimal = Decimal(0)
    units: Decimal = Decimal(0)

    def add(self, currency: str, amount: Decimal, units: Decimal) -> None:
        if currency in _USD_LIKE:
            self.usd -= amount
        elif currency in _DIEM_LIKE:
            self.diem -= amount
        self.units += units

    @property
    def total(self) -> Decimal:
        return self.usd + self.diem


@dataclass
class Line:
    """One model or key of the answer: its identity, chart name and spend."""

    ident: str | None  # the model id, or the key id (None for the Web App line)
    base_name: str
    tag: str | None  # what tells it apart from a namesake; None for the Web App line
    spend: Spend = field(default_factory=Spend)
    name: str = ""
    unit_type: str = "units"
    model_type: str | None = None
    by_usage: dict[str, Spend] = field(default_factory=dict)
    # `by_usage` highest first, ties by type, once ranked; empty for a single usage type (the
    # answer then shows none).
    breakdown: list[tuple[str, Spend]] = field(default_factory=list)


@dataclass(frozen=True)
class DaySpend:
    date: str  # ISO date of the (UTC or local) day
    usd: Decimal
    diem: Decimal


@dataclass(frozen=True)
class ChartDay:
    """One day of a daily chart: epoch ms of the day's start, and each top line's DIEM spend
    by its chart name, in rank order (0 when unused)."""

    day_ms: int
    spend: dict[str, Decimal | int]


@dataclass(frozen=True)
class Report:
    """The usage-analytics answer, every figure but the period's label."""

    by_date: list[DaySpend]
    models: list[Line]
    model_daily: list[ChartDay]
    top_models: list[str]
    keys: list[Line]
    key_daily: list[ChartDay]
    top_keys: list[str]


def unknown_sku(sku: str) -> SkuRow:
    """A SKU missing from the catalog still counts: as its own model, in ledger units."""
    return SkuRow(sku, sku, sku, "", "units", Decimal(1), "Usage", Decimal(0))


def model_lines(totals: Iterable[tuple[Total, SkuRow | None]]) -> list[Line]:
    """Per model: spend, units in the model's unit type, and spend per usage type."""
    lines: dict[str, Line] = {}
    for total, found in totals:
        sku = found or unknown_sku(total.name)
        line = lines.get(sku.model_id)
        if line is None:
            line = lines[sku.model_id] = Line(
                sku.model_id, sku.model_name or sku.model_id, sku.model_id,
                unit_type=sku.unit_type,
                model_type=sku.model_type if sku.model_type in CHART_MODEL_TYPES else None)
        units = total.units * sku.unit_type_per_unit
        line.spend.add(total.currency, total.amount, units)
        line.by_usage.setdefault(sku.usage_type, Spend()).add(total.currency, total.amount, units)
    return _ranked(lines.values(), lambda tag: f"({tag})")


def key_lines(totals: Iterable[tuple[Total, str]]) -> list[Line]:
    """Per API key (None: usage without a key, named "Web App"), in ledger units."""
    lines: dict[str | None, Line] = {}
    for total, description in totals:
        key_id = total.name
        line = lines.get(key_id)
        if line is None:
            line = lines[key_id] = _key_line(key_id, description)
        line.spend.add(total.currency, total.amount, total.units)
    return _ranked(lines.values(), lambda tag: f"(...{tag[-6:]})")


def _key_line(key_id: str | None, description: str) -> Line:
    if key_id is None:
        return Line(None, WEB_APP, None)
    return Line(key_id, description.strip() or f"Key ...{key_id[-6:]}", key_id)


def _ranked(lines: Iterable[Line], suffix: Callable[[str], str]) -> list[Line]:
    found = list(lines)
    _name_uniquely(found, suffix)
    for line in found:
        if len(line.by_usage) > 1:
            line.breakdown = sorted(line.by_usage.items(),
                                    key=lambda item: (-item[1].total, item[0]))
    return sorted(found, key=lambda line: (-line.spend.total, line.name))


def _name_uniquely(lines: list[Line], suffix: Callable[[str], str]) -> None:
    """Repeated names (and `date`, the chart rows' own key) get a suffix from the line's tag;
    should that still repeat, the whole tag is used."""
    repeats = Counter(line.base_name for line in lines)
    for line in lines:
        clash = repeats[line.base_name] > 1 or line.base_name == "date"
        line.name = f"{line.base_name} {suffix(line.tag)}" if clash and line.tag else line.base_name
    names = Counter(line.name for line in lines)
    for line in lines:
        if names[line.name] > 1 and line.tag:
            line.name = f"{line.base_name} ({line.tag})"


def by_date(days_ms: list[tuple[str, int]], totals: Iterable[Total]) -> list[DaySpend]:
    """One row per day of the period, oldest first, zeros where nothing was used."""
    spend = {day_ms: Spend() for _, day_ms in days_ms}
    for total in totals:
        if total.name in spend:
            spend[total.name].add(total.currency, total.amount, total.units)
    return [DaySpend(text, spend[ms].usd, spend[ms].diem) for text, ms in days_ms]


def daily_chart(
    days_ms: list[int], top: list[Line], rows: Iterable[tuple[int, Any, Decimal]],
    name_of: dict[Any, str],
) -> list[ChartDay]:
    """Per day: epoch ms of the day, and every top line's spend that day (0 when unused).
    `rows` are (day, line id, stored amount); `name_of` maps a line id to its name."""
    chart: dict[int, dict[str, Decimal | int]] = {
        day: dict.fromkeys((line.name for line in top), 0) for day in days_ms}
    for day, ident, amount in rows:
        if day in chart and ident in name_of:
            chart[day][name_of[ident]] -= amount
    return [ChartDay(day, chart[day]) for day in days_ms]
