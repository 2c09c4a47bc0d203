"""Sequential sampling of one timing: the looks, error spending and the boundaries.

Pure Python (no numpy/scipy, no pytest). A timing sampled with a plan (:class:`SamplingPlan`:
first look at ``min_samples`` target samples, then every ``look_every``, at most
``max_samples``) is judged at each look by a group-sequential test (Jennison & Turnbull 2000;
error spending, Lan & DeMets 1983). :func:`spending_bounds` gives the z-boundaries of a
one-sided test that spends its level over the looks' information fractions
(:func:`information_fractions`) with an O'Brien-Fleming-type or a Pocock-type function.
:mod:`judge` uses them for its fail and pass boundaries.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from statistics import NormalDist

_NORMAL = NormalDist()


@dataclass(frozen=True)
class SamplingPlan:
    """Sequential sampling of one timing: looks at ``min_samples``, then every
    ``look_every`` target samples, up to ``max_samples``."""

    min_samples: int
    max_samples: int
    look_every: int = 5

    def __post_init__(self) -> None:
        if self.min_samples < 2:
            raise ValueError(f"min_samples must be at least 2, got {self.min_samples!r}")
        if self.max_samples < self.min_samples:
            raise ValueError(
                f"max_samples ({self.max_samples!r}) must be at least min_samples "
                f"({self.min_samples!r})"
            )
        if self.look_every < 1:
            raise ValueError(f"look_every must be at least 1, got {self.look_every!r}")

    def looks(self, taken: int) -> list[int]:
        """Target sample counts at which the judge looks, given ``taken`` samples so far:
        the planned looks below ``taken``, and ``taken`` itself as the latest look."""
        planned = list(range(self.min_samples, self.max_samples, self.look_every))
        planned.append(self.max_samples)
        return [m for m in planned if m < taken] + [taken]

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


# ------------------------------------------------------------------------ error spending


def obrien_fleming_spending(t: float, level: float) -> float:
    """Lan-DeMets O'Brien-Fleming-type spending: almost nothing early, ``level`` at ``t = 1``."""
    if t <= 0:
        return 0.0
    if t >= 1:
        return level
    z = _NORMAL.inv_cdf(1.0 - level / 2.0)
    return 2.0 * (1.0 - _NORMAL.cdf(z / math.sqrt(t)))


def pocock_spending(t: float, level: float) -> float:
    """Lan-DeMets Pocock-type spending: ``level * ln(1 + (e - 1) t)``, spent early."""
    if t <= 0:
        return 0.0
    return level * math.log(1.0 + (math.e - 1.0) * min(t, 1.0))


SPENDING: dict[str, Callable[[float, float], float]] = {
    "obrien-fleming": obrien_fleming_spending,
    "pocock": pocock_spending,
}

#: a boundary this high is never crossed (nothing spent at that look)
_NEVER = 40.0


def upper_tail(x: float) -> float:
    return 0.5 * math.erfc(x / math.sqrt(2.0))


def _simpson(lo: float, hi: float, step: float) -> tuple[list[float], list[float]]:
    """Points and Simpson weights on [lo, hi] with spacing at most ``step``."""
    intervals = max(2, 2 * math.ceil((hi - lo) / (2.0 * step)))
    h = (hi - lo) / intervals
    xs = [lo + i * h for i in range(intervals + 1)]
    ws = [(1 if i in (0, intervals) else 4 if i % 2 else 2) * h / 3.0 for i in range(len(xs))]
    return xs, ws


@lru_cache(maxsize=1024)  # a pure function of its arguments; a memo, not session state
def spending_bounds(
    fractions: tuple[float, ...], level: float, spending: str = "obrien-fleming"
) -> tuple[float, ...]:
    """Upper z-boundaries ``c_k`` of a one-sided group-sequential test at ``level``.

    ``fractions`` are the looks' information fractions (increasing, the last one at most 1).
    Under the null, ``Z_k`` has the canonical joint distribution (``Z_k sqrt(t_k)`` has
    independent normal increments); ``c_k`` is chosen so that the chance of first crossing at
    look ``k`` is ``spend(t_k) - spend(t_{k-1})``. Computed by recursive numerical integration
    of the continuation density (Armitage, McPherson & Rowe 1969; Jennison & Turnbull 2000,
    ch. 19), Simpson's rule on a grid finer than the smallest increment's spread.
    """
    spend = SPENDING[spending]
    if not fractions or any(b <= a for a, b in itertools.pairwise(fractions)):
        raise ValueError(f"information fractions must increase, got {fractions!r}")
    if not (fractions[0] > 0.0 and fractions[-1] <= 1.0 + 1e-12):
        raise ValueError(f"information fractions must be in (0, 1], got {fractions!r}")
    increments = [fractions[0]] + [b - a for a, b in itertools.pairwise(fractions)]
    step = min(0.4 * math.sqrt(min(increments)), 0.1)
    bounds: list[float] = []
    xs: list[float] = []
    dens: list[float] = []
    ws: list[float] = []
    spent = 0.0
    for k, t in enumerate(fractions):
        target = max(0.0, spend(t, level) - spent)
        sd = math.sqrt(t)
        if k == 0:
            c = _NORMAL.inv_cdf(1.0 - target) if target > 1e-15 else _NEVER
            c = min(c, _NEVER)
            crossed = upper_tail(c)
            hi = min(c, 12.0) * sd
            xs, ws = _simpson(-9.0 * sd, hi, step)
            dens = [math.exp(-0.5 * (x / sd) ** 2) / (sd * math.sqrt(2 * math.pi)) for x in xs]
        else:
            inc = math.sqrt(t - fractions[k - 1])
            mass = [w * f for w, f in zip(ws, dens, strict=True)]

            def cross(
                c: float,
                mass: list[float] = mass,
                grid: list[float] = xs,
                inc: float = inc,
                sd: float = sd,
            ) -> float:
                edge = c * sd
                start = bisect_left(grid, edge - 9.0 * inc)  # below: a tail under 1e-19
                return sum(
                    mass[j] * upper_tail((edge - grid[j]) / inc) for j in range(start, len(grid))
                )

            if target <= 1e-15:
                c = _NEVER
            else:
                lo_c, hi_c = -12.0, _NEVER
                while hi_c - lo_c > 1e-6:
                    mid = 0.5 * (lo_c + hi_c)
                    if cross(mid) > target:
                        lo_c = mid
                    else:
                        hi_c = mid
                c = hi_c
            crossed = cross(c) if c < _NEVER else 0.0
            hi = min(c, 12.0) * sd
            new_xs, new_ws = _simpson(-9.0 * sd, hi, step)
            width = 9.0 * inc
            norm = 1.0 / (inc * math.sqrt(2 * math.pi))
            new_dens = []
            for s in new_xs:
                a, b = bisect_left(xs, s - width), bisect_right(xs, s + width)
                new_dens.append(
                    norm
                    * sum(mass[j] * math.exp(-0.5 * ((s - xs[j]) / inc) ** 2) for j in range(a, b))
                )
            xs, ws, dens = new_xs, new_ws, new_dens
        spent += crossed
        bounds.append(c)
    return tuple(bounds)


def information_fractions(
    n_reference: int, looks: Sequence[int], planned: int
) -> tuple[float, ...]:
    """Information at each look (``m`` target samples against ``n`` reference samples) as a
    fraction of the information at ``planned`` target samples: ``(1/n + 1/M) / (1/n + 1/m)``."""
    full = 1.0 / n_reference + 1.0 / max(planned, looks[-1])
    return tuple(full / (1.0 / n_reference + 1.0 / m) for m in looks)
