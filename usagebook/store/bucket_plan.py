"""How exact sums over arbitrary time buckets come from the rollups: the plan, in pure Python.

The rollups hold sums per UTC day, six hours, hour, half hour and quarter hour, and per six
hours and hour from half past (`store.rollups`). A local day, hour, week or month is a
range [lo, hi) of epoch ms whose ends need not fall on any of them. Its plan is a signed cover:
whole units [a, b) of one grain, where a is lo rounded down or up to that grain and b is hi
rounded down or up, plus the pieces between lo and a and between b and hi (added where a unit
stops short, taken away where it overshoots), each covered the same way by the finer grains;
what no grain covers (an edge off the quarter hour, e.g. an offset of +05:53:20 before 1942) is
summed from the entries themselves. Of every such cover (each end rounded either way, or a grain
skipped), the plan takes the one that reads the fewest rollup rows. So a Kolkata day (18:30 to
18:30 UTC) is four six hours from half past (00:30, 06:30, 12:30, 18:30 UTC), where its UTC day
and two signed edges took five rows and hours and quarters fifteen; a Kolkata hour is one hour
from half past. Every piece is a `Term`: the bucket it counts for, its sign, the grain
to read (0: raw entries) and its range.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

RAW = 0  # the grain of a term summed from the entries
_PIECE = 0.25  # what one piece costs besides its rows (an index probe), in rows
# A raw piece reads entries, far more per minute than a rollup unit has rows.
_RAW_ROWS_PER_MINUTE = 1000.0

Grain = tuple[int, int]  # (unit in ms, phase in ms): its units start at phase + n * unit
Piece = tuple[int, int, int, int, int]  # (sign, unit, phase, lo, hi)


@dataclass(frozen=True, slots=True)
class Term:
    bucket: int
    sign: int
    grain: int  # the rollup's unit in ms, or RAW
    lo: int
    hi: int  # exclusive; for a rollup, the first ms of the units read run from lo up to hi
    phase: int = 0  # the rollup's units start at phase + n * grain


def _floor(ms: int, unit: int, phase: int = 0) -> int:
    return ms - (ms - phase) % unit


def _ceil(ms: int, unit: int, phase: int = 0) -> int:
    return ms + (phase - ms) % unit


Grains = tuple[tuple[int, int, float], ...]  # (unit, phase, rows read per unit), biggest first


@lru_cache(maxsize=8192)
def _cover(lo: int, hi: int, grains: Grains) -> tuple[float, tuple[Piece, ...]]:
    """The cheapest signed cover of [lo, hi) (lo < hi) by `grains`, and its cost."""
    if not grains:
        return _RAW_ROWS_PER_MINUTE * (1 + (hi - lo) // 60_000), ((1, RAW, 0, lo, hi),)
    (unit, phase, weight), finer = grains[0], grains[1:]
    best = _cover(lo, hi, finer)
    for a in {_floor(lo, unit, phase), _ceil(lo, unit, phase)}:
        for b in {_floor(hi, unit, phase), _ceil(hi, unit, phase)}:
            if a >= b:
                continue
            cost = weight * ((b - a) // unit) + _PIECE
            pieces = [(1, unit, phase, a, b)]
            # (start, end, sign) of the two ends' remainders: added when the units stop short
            # of lo or hi, taken away when they overshoot.
            for start, end, sign in ((lo, a, 1), (a, lo, -1), (b, hi, 1), (hi, b, -1)):
                if start < end:
                    extra, inner = _cover(start, end, finer)
                    cost += extra
                    pieces += [(s * sign, g, p, x, y) for s, g, p, x, y in inner]
            if cost < best[0]:
                best = (cost, tuple(pieces))
    return best


def cover(lo: int, hi: int, grains: Grains) -> list[Piece]:
    """The cheapest signed cover of [lo, hi); the plan of one bucket. A cover is the same
    shape shifted by whole units of the biggest grain (a day: every phase is less than it),
    so one computed shape serves every day (or hour) of a query."""
    if lo >= hi:
        return []
    if not grains:
        return [(1, RAW, 0, lo, hi)]
    shift = _floor(lo, grains[0][0])
    _, pieces = _cover(lo - shift, hi - shift, grains)
    return [(sign, unit, phase, a + shift, b + shift) for sign, unit, phase, a, b in pieces]


def plan_terms(boundaries: Sequence[int], grains: Sequence[Grain],
               weights: Mapping[Grain, float] | None = None) -> list[Term]:
    """The terms whose signed sums give each bucket [boundaries[k], boundaries[k + 1]).

    `grains` are the rollups' (unit, phase), biggest unit first, the first one's unit a
    multiple of every other's (a day); `weights` how many rows one unit of each reads,
    relative to the others (1 when not given: a table that also carries the SKU reads more rows
    per unit than one that does not)."""
    known = tuple((unit, phase, (weights or {}).get((unit, phase), 1.0))
                  for unit, phase in grains)
    return [Term(k, sign, unit, a, b, phase)
            for k, (lo, hi) in enumerate(pairwise(boundaries))
            for sign, unit, phase, a, b in cover(lo, hi, known)]
