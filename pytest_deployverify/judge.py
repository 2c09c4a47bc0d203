"""Performance statistics: is the target slower than its reference by more than allowed?

Pure Python (no numpy/scipy, no pytest) so the plugin needs nothing heavy at run time. The
dev extra's scipy only checks these numbers in the tests.

The model: timings are positive and vary multiplicatively, so we work on log-seconds, where a
slowdown by a factor ``r`` is a shift by ``log r``. On the logs we compute (:mod:`rank_tests`)

* the Mann-Whitney U statistic of target vs reference, and its one-sided p-value for "target
  slower", and ``z = Phi^-1(1 - p)`` for the sequential boundaries;
* the Hodges-Lehmann estimate of the shift and its distribution-free confidence interval;
* ``exp`` of both: the target/reference ratio and its interval.

**Sequential looks** (:mod:`sequential`). A timing sampled with a plan (``SamplingPlan``: first look at
``min_samples`` target samples, then every ``look_every``, at most ``max_samples``) is judged
at each look by a group-sequential test (Jennison & Turnbull 2000; error spending, Lan &
DeMets 1983): the fail boundary spends the fail level ``alpha`` (default ``(1-confidence)/2``
= 1 %) with the O'Brien-Fleming-type function ``2 - 2 Phi(z_{alpha/2} / sqrt(t))``, the pass
boundary spends ``pass_error`` (beta, default 5 %) with the Pocock-type function
``beta ln(1 + (e-1) t)`` (Pampallona, Tsiatis & Kim 2001), where ``t`` is the information
fraction ``(1/n + 1/M) / (1/n + 1/m)`` of a look at ``m`` of ``M`` planned target samples
against ``n`` reference samples. Both boundaries are non-binding, so crossing one never
spends the other's error. Samples recorded without a plan are one look (a fixed-sample test:
``z >= z_{1-alpha}`` fails, the ``1 - beta`` upper bound decides a pass).

Decision rule at a look, in order; the first that applies decides. The last look's
"continue" is **inconclusive**:

1. fewer than ``min_samples`` on either side: **inconclusive** (too few samples);
2. the medians differ by at most ``abs_floor_s`` seconds: **pass** (absolute floor: a tiny
   difference never fails, however large the ratio);
3. ``z`` reaches the fail boundary (significantly slower at the spent level) **and** the
   ratio estimate exceeds the effect-size floor (default: the allowed ratio): **fail**;
4. the Hodges-Lehmann upper bound at the pass boundary's level is at or below the pass limit
   (default ``1 + 2*(ratio-1)``, 1.4 for 1.2): **pass** (a slowdown beyond the pass limit is
   ruled out);
5. otherwise continue; at the last look **inconclusive**: the estimate is above the floor but
   the slowdown is not significant (too noisy to tell), or it is significant and the
   estimate within the floor (a real slowdown of uncertain size), or the interval is too wide
   to rule out a slowdown beyond the pass limit.

**Run level.** ``judge_family`` judges the timings of one run as a family with Holm's step-down
procedure (Holm 1979), applied to group-sequential tests as Maurer & Bretz (2013) show: every
timing is first tested at ``alpha / F`` (``F`` timings), each one that fails is set aside and
the others are tested again at ``alpha / (F - k)`` on the looks they took, until no new
timing fails. The chance that an unchanged run fails is then at most ``alpha`` whatever ``F``;
one clearly slower timing still fails at ``alpha / F``. Each timing keeps its own numbers
(ratio, interval, raw ``p_value``) and says at which level and look it was decided.

Rule 3 is what gives the judge its power with 10-50 samples; the effect-size floor keeps it
from failing small, significant slowdowns, and rules 4/5 keep noisy data from becoming a false
success.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from statistics import NormalDist, median
from typing import Any

from pytest_deployverify.judge_config import JudgeConfig as JudgeConfig
from pytest_deployverify.rank_tests import hl_bounds, mann_whitney
from pytest_deployverify.sequential import (
    SamplingPlan,
    information_fractions,
    spending_bounds,
    upper_tail,
)

#: Timings are clamped to this before taking logs (a 0 s stage is possible at microsecond
#: timestamp resolution; the absolute floor makes such stages pass anyway).
_MIN_SECONDS = 1e-6

_NORMAL = NormalDist()


@dataclass
class TimingResult:
    """One timing's judgement, with every number that decided it."""

    name: str
    outcome: str  # pass | fail | inconclusive
    rule: str  # the rule that decided, in words
    reason: str  # one sentence with the numbers
    group: str = "own"
    #: the external service an "external" timing waits on (e.g. "parser"), when known
    service: str | None = None
    baseline_n: int = 0
    target_n: int = 0
    baseline_median: float | None = None
    target_median: float | None = None
    ratio: float | None = None  # Hodges-Lehmann estimate of target/reference
    ratio_ci: tuple[float, float] | None = None
    median_ratio: float | None = None  # plain ratio of medians, for reference
    p_value: float | None = None  # one-sided Mann-Whitney, target slower (this timing alone)
    test_method: str | None = None
    allowed_ratio: float = 1.2
    confidence: float = 0.98
    baseline_samples: list[float] = field(default_factory=list)
    target_samples: list[float] = field(default_factory=list)
    #: the one-sided level this timing's fail test was held to (alpha, or Holm's alpha/k)
    level: float | None = None
    #: how many timings were judged together (Holm's family); 1 for a timing alone
    family_size: int = 1
    #: the look that decided (1-based) and how many looks the samples allowed
    look: int = 0
    looks: int = 0
    #: target samples planned at most (sequential sampling), None for a fixed sample
    planned_samples: int | None = None
    #: False while a sequential judge would still ask for more samples
    decided: bool = True
    #: what the target was compared with: "baseline", "history" or "baseline (history corrupt)"
    reference: str = "baseline"
    #: one line on where the reference samples came from (files, runs)
    reference_detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ratio_ci"] = list(self.ratio_ci) if self.ratio_ci else None
        return data


# ------------------------------------------------------------------------ the judge


def _logs(samples: Sequence[float]) -> list[float]:
    return [math.log(max(float(s), _MIN_SECONDS)) for s in samples]


def _fmt_ratio(value: float) -> str:
    if math.isinf(value):
        return "inf" if value > 0 else "0"
    return f"{value:.2f}"


def _fmt_level(level: float) -> str:
    return f"{level:.2g}" if level < 0.01 else f"{level:.3g}"


def _z_of(p: float) -> float:
    """``Phi^-1(1 - p)`` without losing the tail to ``1 - p`` rounding."""
    if p <= 0.0:
        return math.inf
    if p >= 1.0:
        return -math.inf
    return -_NORMAL.inv_cdf(p)


@dataclass
class _Look:
    m: int
    p: float
    z: float
    method: str
    estimate: float
    upper_pass: float  # HL upper bound at the pass boundary's level
    low: float  # reported interval at the configured confidence
    high: float
    ref_median: float
    target_median: float


def _look(
    base: Sequence[float],
    lb: Sequence[float],
    targ: Sequence[float],
    lt: Sequence[float],
    pass_z: float,
    confidence: float,
) -> _Look:
    n, m = len(lb), len(lt)
    mw = mann_whitney(lb, lt)
    diffs = sorted(t - b for t in lt for b in lb)
    has_ties = len(set(lb) | set(lt)) < n + m
    pass_conf = 1.0 - 2.0 * upper_tail(pass_z)
    upper = hl_bounds(diffs, n, m, has_ties, pass_conf)[1] if pass_conf > 0 else math.inf
    low, high = hl_bounds(diffs, n, m, has_ties, confidence)
    return _Look(
        m=m,
        p=mw.p_greater,
        z=_z_of(mw.p_greater),
        method=mw.method,
        estimate=median(diffs),
        upper_pass=upper,
        low=low,
        high=high,
        ref_median=median(base),
        target_median=median(targ),
    )


def judge(
    name: str,
    baseline: Sequence[float],
    target: Sequence[float],
    config: JudgeConfig | None = None,
    group: str = "own",
    *,
    plan: SamplingPlan | None = None,
    level: float | None = None,
    family_size: int = 1,
    latest_only: bool = False,
) -> TimingResult:
    """Judge one timing: target samples against reference samples (seconds).

    ``plan`` None judges the samples as one fixed sample; with a plan the samples are replayed
    look by look (in the order they were taken) and the first look that decides wins.
    ``level`` is the one-sided fail level (default ``config.alpha``; ``judge_family`` passes
    Holm's ``alpha / k``). ``latest_only`` evaluates the latest look alone, for a sampler
    that already saw every earlier look undecided. See the module docstring for the rule; the result names the rule
    that decided and carries the numbers (n, medians, ratio, interval, p) of that look.
    """
    cfg = config or JudgeConfig()
    alpha = cfg.alpha if level is None else level
    base = [float(x) for x in baseline]
    targ = [float(x) for x in target]
    res = TimingResult(
        name=name,
        outcome="inconclusive",
        rule="",
        reason="",
        group=group,
        baseline_n=len(base),
        target_n=len(targ),
        allowed_ratio=cfg.allowed_ratio,
        confidence=cfg.confidence,
        baseline_samples=base,
        target_samples=targ,
        level=alpha,
        family_size=family_size,
        planned_samples=plan.max_samples if plan else None,
    )
    if base:
        res.baseline_median = median(base)
    if targ:
        res.target_median = median(targ)
    if len(base) < cfg.min_samples or len(targ) < cfg.min_samples:
        res.rule = f"at least {cfg.min_samples} samples a side"
        res.reason = (
            f"{name}: too few samples to judge (reference {len(base)}, target {len(targ)}; "
            f"need {cfg.min_samples} a side)"
        )
        res.decided = plan is None or len(targ) >= plan.max_samples
        return res

    looks = plan.looks(len(targ)) if plan else [len(targ)]
    looks = [m for m in looks if m >= cfg.min_samples] or [len(targ)]
    planned = max(plan.max_samples if plan else len(targ), len(targ))
    fractions = information_fractions(len(base), looks, planned)
    fail_z = spending_bounds(fractions, alpha, "obrien-fleming")
    pass_z = spending_bounds(fractions, cfg.pass_error, "pocock")
    lb, lt_all = _logs(base), _logs(targ)
    limit, floor, pass_limit = cfg.allowed_ratio, cfg.floor, cfg.pass_limit
    pct = f"{cfg.confidence:.0%}"
    final = len(targ) >= planned
    res.looks = len(looks)
    decision: tuple[str, str, str] | None = None
    look: _Look | None = None
    for index, m in enumerate(looks):
        if latest_only and index < len(looks) - 1:
            continue
        look = _look(base, lb, targ[:m], lt_all[:m], pass_z[index], cfg.confidence)
        res.look = index + 1
        at = f"look {index + 1} of {len(looks)}" if plan else "one fixed sample"
        if abs(look.target_median - look.ref_median) <= cfg.abs_floor_s:
            decision = (
                "pass",
                f"medians within the absolute floor of {cfg.abs_floor_s * 1000:g} ms",
                f"difference {(look.target_median - look.ref_median) * 1000:+.1f} ms is below "
                "the absolute floor",
            )
        elif look.z >= fail_z[index] and math.exp(look.estimate) > floor:
            decision = (
                "fail",
                f"significantly slower at level {_fmt_level(alpha)} (z {look.z:.2f} >= "
                f"{fail_z[index]:.2f}, {at}) and ratio estimate above the effect-size floor "
                f"{floor:g}",
                f"slower than allowed ({limit:g}x)",
            )
        elif look.upper_pass <= math.log(pass_limit):
            cover = 1.0 - upper_tail(pass_z[index])
            decision = (
                "pass",
                f"a slowdown beyond {pass_limit:g} ruled out (upper {cover:.0%} bound "
                f"{_fmt_ratio(math.exp(look.upper_pass))}, {at})",
                f"within the allowed ratio {limit:g}",
            )
        if decision is not None:
            break
    assert look is not None
    res.target_n = look.m
    res.target_samples = targ[: look.m]
    res.target_median = look.target_median
    res.p_value = look.p
    res.test_method = look.method
    res.ratio = math.exp(look.estimate)
    lo = math.exp(look.low) if look.low > -math.inf else 0.0
    hi = math.exp(look.high)
    res.ratio_ci = (lo, hi)
    if look.ref_median > 0:
        res.median_ratio = look.target_median / look.ref_median
    numbers = (
        f"ratio {_fmt_ratio(res.ratio)} ({pct} CI {_fmt_ratio(lo)}-{_fmt_ratio(hi)}), "
        f"medians {look.ref_median * 1000:.1f} ms -> {look.target_median * 1000:.1f} ms, "
        f"n={len(base)}/{look.m}, p={look.p:.3g}"
    )
    if decision is None:
        res.decided = final
        significant = look.z >= fail_z[-1]
        if res.ratio > floor:
            decision = (
                "inconclusive",
                f"ratio estimate above {floor:g} but not significantly slower at level "
                f"{_fmt_level(alpha)}",
                "looks slower than allowed but the samples are too noisy to tell",
            )
        elif significant:
            decision = (
                "inconclusive",
                f"significantly slower, estimate within {floor:g}, a slowdown beyond "
                f"{pass_limit:g} not ruled out",
                "a real slowdown of uncertain size",
            )
        else:
            decision = (
                "inconclusive",
                f"interval reaches above {pass_limit:g}: too wide to call a pass",
                "too noisy to tell",
            )
        if not final and plan is not None:
            decision = (
                decision[0],
                decision[1] + f" (stopped at {look.m} of {planned} planned samples)",
                decision[2],
            )
    res.outcome, res.rule = decision[0], decision[1]
    res.reason = f"{name}: {decision[2]}: {numbers}"
    return res


@dataclass(frozen=True)
class TimingCase:
    """One timing of a run, as ``judge_family`` takes it."""

    name: str
    baseline: Sequence[float]
    target: Sequence[float]
    config: JudgeConfig = field(default_factory=JudgeConfig)
    group: str = "own"
    plan: SamplingPlan | None = None


def judge_family(cases: Sequence[TimingCase]) -> list[TimingResult]:
    """Judge a run's timings together: Holm's step-down over the sequential tests.

    Every case is tested at ``alpha / F``; cases that fail are set aside and the rest are
    tested again at ``alpha / (F - failed)`` until no new case fails (Holm 1979, for
    group-sequential tests as in Maurer & Bretz 2013). Results come back in input order.
    """
    total = len(cases)
    results: list[TimingResult | None] = [None] * total
    open_cases = set(range(total))
    while open_cases:
        k = len(open_cases)
        newly_failed = set()
        for i in sorted(open_cases):
            c = cases[i]
            res = judge(
                c.name,
                c.baseline,
                c.target,
                c.config,
                c.group,
                plan=c.plan,
                level=c.config.alpha / k,
                family_size=total,
            )
            results[i] = res
            if res.outcome == "fail":
                newly_failed.add(i)
        if not newly_failed:
            break
        open_cases -= newly_failed
    return [r for r in results if r is not None]


def p95_rule(
    name: str, baseline: Sequence[float], target: Sequence[float], allowed_ratio: float = 1.2
) -> str:
    """The plain alternative the benchmark compares against: fail when the target's p95 is
    more than ``allowed_ratio`` times the baseline's (nearest-rank p95)."""

    def p95(xs: Sequence[float]) -> float:
        ordered = sorted(xs)
        return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]

    return "fail" if p95(target) > allowed_ratio * p95(baseline) else "pass"
