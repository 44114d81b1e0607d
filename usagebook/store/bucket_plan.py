"""How exact sums over arbitrary time buckets come from the rollups: the plan, in pure Python.

The rollups hold sums per UTC day, hour and quarter hour (`store.rollups`). A local day, hour,
week or month is a range [lo, hi) of epoch ms whose ends need not fall on any of those. Write
P(x) for the sum over [floor(x), x), where floor is the start of x's anchor unit (a UTC day for
day-sized buckets, an hour for hours). Then a bucket's sum is

    sum[lo, hi) = (whole anchor units in [floor(lo), floor(hi))) + P(hi) - P(lo)

exactly, for any lo < hi. P(x) is read from the finer rollups: [floor(x), x) when x lies in the
first half of its unit, else the whole unit minus [x, ceil(x)), so no edge reads more than half
a unit of finer rows. A range is cut greedily into whole units of each finer grain; what is left
(an edge that is not on a quarter hour, e.g. an offset of +05:53:20 before 1942) is summed from
the entries themselves. Every piece is a `Term`: the bucket it counts for, its sign, the grain
to read (0: raw entries) and its range.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

RAW = 0  # the grain of a term summed from the entries


@dataclass(frozen=True, slots=True)
class Term:
    bucket: int
    sign: int
    grain: int  # the rollup's unit in ms, or RAW
    lo: int
    hi: int  # exclusive; for a rollup, the first ms of the units read run from lo up to hi


def _floor(ms: int, unit: int) -> int:
    return ms - ms % unit


def _ceil(ms: int, unit: int) -> int:
    return -(-ms // unit) * unit


def _cut(lo: int, hi: int, grains: Sequence[int], sign: int) -> list[tuple[int, int, int, int]]:
    """[lo, hi) as whole units of each grain, biggest first, then raw edges."""
    if lo >= hi:
        return []
    if not grains:
        return [(sign, RAW, lo, hi)]
    unit, finer = grains[0], grains[1:]
    first, last = _ceil(lo, unit), _floor(hi, unit)
    if first >= last:
        return _cut(lo, hi, finer, sign)
    return [(sign, unit, first, last), *_cut(lo, first, finer, sign),
            *_cut(last, hi, finer, sign)]


def _prefix(moment: int, anchor: int, finer: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """P(moment): the sum over [floor(moment), moment) as signed pieces."""
    start = _floor(moment, anchor)
    if moment == start:
        return []
    if 2 * (moment - start) <= anchor:
        return _cut(start, moment, finer, 1)
    return [(1, anchor, start, start + anchor), *_cut(moment, start + anchor, finer, -1)]


def _cost(pieces: list[tuple[int, int, int, int]]) -> int:
    """Rollup rows read, roughly: one per unit of each piece; a raw piece counts as many."""
    return sum(1000 if grain == RAW else (hi - lo) // grain for _, grain, lo, hi in pieces)


def _netted(pieces: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Equal pieces of opposite signs cancel (a whole day added by one edge and taken away by
    the other), so they are not read at all."""
    signs: dict[tuple[int, int, int], int] = {}
    for sign, grain, lo, hi in pieces:
        signs[(grain, lo, hi)] = signs.get((grain, lo, hi), 0) + sign
    return [(sign, grain, lo, hi) for (grain, lo, hi), sign in signs.items() if sign]


def plan_terms(boundaries: Sequence[int], grains: Sequence[int], anchor_hint: int) -> list[Term]:
    """The terms whose signed sums give each bucket [boundaries[k], boundaries[k + 1]).

    `grains` are the rollup units available, biggest first, each a multiple of the next;
    the anchor is the biggest of them not above `anchor_hint` (the bucket's nominal size).
    Each bucket takes the cheaper of the anchored sum above and its range cut directly (an
    hour of a +05:30 zone is four quarter hours, cheaper than an hour and two edges)."""
    if not grains:
        return [Term(k, 1, RAW, lo, hi) for k, (lo, hi) in enumerate(pairwise(boundaries))]
    anchor = next((grain for grain in grains if grain <= anchor_hint), grains[-1])
    finer = [grain for grain in grains if grain < anchor]
    prefix = {moment: _prefix(moment, anchor, finer) for moment in boundaries}
    terms = []
    for k, (lo, hi) in enumerate(pairwise(boundaries)):
        first, last = _floor(lo, anchor), _floor(hi, anchor)
        anchored = [(1, anchor, first, last)] if first < last else []
        anchored += prefix[hi] + [(-sign, grain, a, b) for sign, grain, a, b in prefix[lo]]
        anchored = _netted(anchored)
        direct = _cut(lo, hi, grains, 1)
        chosen = direct if _cost(direct) < _cost(anchored) else anchored
        terms += [Term(k, sign, grain, a, b) for sign, grain, a, b in chosen]
    return terms
