"""The bucket plan: for any boundaries and any grains, the signed terms read from simulated
rollups (and raw edges) add up to exactly the entries of each bucket."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from usagebook.store.bucket_plan import RAW, Grain, Term, plan_terms

DAY, SIX_HOURS, HOUR, HALF_HOUR, QUARTER = (86_400_000, 21_600_000, 3_600_000, 1_800_000,
                                           900_000)
HALF_PAST = (HOUR, HALF_HOUR)  # hours from half past
HALF_PAST_SIX = (SIX_HOURS, HALF_HOUR)  # six hours from 00:30, 06:30, 12:30, 18:30


def _grains(*units: int) -> tuple[Grain, ...]:
    return tuple((unit, 0) for unit in units)


# The sku source's grains, and those before revision 0016
STORED = (*_grains(DAY, SIX_HOURS), HALF_PAST_SIX, (HOUR, 0), HALF_PAST,
          *_grains(HALF_HOUR, QUARTER))
BEFORE_0016 = (*_grains(DAY, SIX_HOURS, HOUR), HALF_PAST, *_grains(HALF_HOUR, QUARTER))
GRAIN_SETS = (STORED, BEFORE_0016, _grains(DAY, SIX_HOURS, HOUR, HALF_HOUR, QUARTER),
              _grains(DAY, HOUR, QUARTER), _grains(HOUR, QUARTER), _grains(QUARTER),
              _grains(DAY, QUARTER), (HALF_PAST, (QUARTER, 0)), (HALF_PAST_SIX, (QUARTER, 0)), ())
moment = st.integers(-3 * DAY, 3 * DAY)


def _read(term: Term, entries: list[int]) -> int:
    """What the term's rollup (or the raw entries) gives for its range."""
    unit, phase, lo, hi = term.grain, term.phase, term.lo, term.hi
    if unit == RAW:
        return sum(1 for ts in entries if lo <= ts < hi)
    assert (lo - phase) % unit == 0 and (hi - phase) % unit == 0 and lo < hi
    units = Counter(ts - (ts - phase) % unit for ts in entries)
    return sum(n for start, n in units.items() if lo <= start < hi)


@given(bounds=st.lists(st.one_of(moment, moment.map(lambda m: m - m % QUARTER)),
                       min_size=2, max_size=8, unique=True),
       entries=st.lists(moment, max_size=40), grains=st.sampled_from(GRAIN_SETS),
       heavy=st.sampled_from(((), _grains(HOUR, QUARTER))))
def test_terms_add_up_to_each_bucket(bounds: list[int], entries: list[int],
                                     grains: tuple[Grain, ...], heavy: tuple[Grain, ...]) -> None:
    bounds.sort()
    near = [b + d for b in bounds for d in (-1, 0, 1)]
    entries = entries + near
    got = Counter[int]()
    for term in plan_terms(bounds, grains, dict.fromkeys(heavy, 4.0)):
        got[term.bucket] += term.sign * _read(term, entries)
    for k in range(len(bounds) - 1):
        assert got[k] == sum(1 for ts in entries if bounds[k] <= ts < bounds[k + 1]), k


def _shape(terms: list[Term]) -> list[tuple[int, int, int, int]]:
    """(sign, grain, start within its UTC day, length in units) of each term."""
    return sorted((t.sign, t.grain, t.lo % DAY, (t.hi - t.lo) // t.grain) for t in terms)


def test_a_kolkata_day_is_four_six_hours_from_half_past() -> None:
    # 18:30 UTC to 18:30 UTC: one range of four rows per SKU, none shared with the next day.
    start = DAY + 18 * HOUR + 2 * QUARTER
    terms = plan_terms([start, start + DAY, start + 2 * DAY], STORED)
    assert [(t.bucket, t.sign, t.grain, t.phase, t.lo, t.hi) for t in terms] == [
        (0, 1, SIX_HOURS, HALF_HOUR, start, start + DAY),
        (1, 1, SIX_HOURS, HALF_HOUR, start + DAY, start + 2 * DAY)]
    # Before them: the UTC day, plus [18:30, 24:00) of the day before (six hours less a half
    # hour), less the same of its own day.
    edge = [(SIX_HOURS, 18 * HOUR, 1), (HALF_HOUR, 18 * HOUR, 1)]
    assert _shape(plan_terms([start, start + DAY], BEFORE_0016)) == sorted(
        [(1, DAY, 0, 1), *((1, *e) for e in edge[:1]), *((-1, *e) for e in edge[1:]),
         *((-1, *e) for e in edge[:1]), *((1, *e) for e in edge[1:])])


def test_other_half_hour_zones_read_fewer_terms() -> None:
    # -03:30, +03:30, +04:30, +09:30, +10:30, -09:30: six hours from half past and hours from
    # half past, three terms a day where they were five or more, and never more rows.
    for minutes in (-210, 210, 270, 570, 630, -570):
        start = 10 * DAY - minutes * 60_000
        bounds = [start + k * DAY for k in range(8)]
        after, before = plan_terms(bounds, STORED), plan_terms(bounds, BEFORE_0016)
        assert len(after) == 3 * 7 < len(before), minutes
        assert _rows(after) <= _rows(before), minutes


def _rows(terms: list[Term]) -> int:
    return sum((t.hi - t.lo) // t.grain for t in terms)


def test_a_kathmandu_and_a_st_johns_edge_read_two_rows() -> None:
    # +05:45: midnight at 18:15 UTC; -03:30: at 03:30 UTC (six hours less 2.5 hours would be
    # dearer than three hours and a half hour).
    kathmandu = DAY + 18 * HOUR + QUARTER
    assert len(plan_terms([kathmandu, kathmandu + DAY], STORED)) == 5
    st_johns = DAY + 3 * HOUR + 2 * QUARTER
    assert len(plan_terms([st_johns, st_johns + DAY], STORED)) <= 5


def test_a_half_hour_zone_hour_reads_one_hour_from_half_past() -> None:
    bounds = [10 * HOUR + 2 * QUARTER, 11 * HOUR + 2 * QUARTER]
    assert _shape(plan_terms(bounds, STORED)) == [(1, HOUR, bounds[0], 1)]
    without = plan_terms(bounds, _grains(DAY, SIX_HOURS, HOUR, HALF_HOUR, QUARTER))
    assert _shape(without) == [(1, HALF_HOUR, bounds[0], 2)]


def test_heavier_rows_are_avoided() -> None:
    # A New York day's edge (05:00 UTC): six hours less an hour, unless an hour reads four
    # times the rows of a half hour (a key's hour rows carry the SKU).
    start = DAY + 5 * HOUR
    light = plan_terms([start, start + DAY], STORED)
    heavy = plan_terms([start, start + DAY], STORED, {(HOUR, 0): 4.0, (QUARTER, 0): 4.0})
    assert HOUR in {t.grain for t in light} and HOUR not in {t.grain for t in heavy}


def test_a_whole_utc_day_reads_one_row_range() -> None:
    terms = plan_terms([5 * DAY, 6 * DAY, 7 * DAY], STORED)
    assert [(t.bucket, t.grain, t.lo, t.hi) for t in terms] == [(0, DAY, 5 * DAY, 6 * DAY),
                                                                (1, DAY, 6 * DAY, 7 * DAY)]


def test_an_edge_off_the_quarter_hour_reads_the_entries() -> None:
    # +05:53:20 (Kolkata before 1942): a few seconds past a quarter hour.
    start = DAY + 18 * HOUR + 6 * 60_000 + 40_000
    terms = plan_terms([start, start + DAY], STORED)
    raw = [t for t in terms if t.grain == RAW]
    assert raw and all(t.hi - t.lo < QUARTER for t in raw)
