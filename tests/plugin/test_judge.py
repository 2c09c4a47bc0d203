"""Unit tests for the timing judge (pure statistics): numbers checked against scipy, and every
decision rule shown firing and not firing."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from pytest_deployverify import judge as J
from pytest_deployverify import rank_tests as R
from pytest_deployverify import sequential as S
from pytest_deployverify.judge import JudgeConfig, judge
from pytest_deployverify.rank_tests import hodges_lehmann, mann_whitney

stats = pytest.importorskip("scipy.stats")


def _lognormal(rng: random.Random, n: int, median: float, sigma: float) -> list[float]:
    return [rng.lognormvariate(math.log(median), sigma) for _ in range(n)]


@pytest.mark.parametrize(("n", "m"), [(5, 5), (6, 9), (12, 8), (20, 20), (30, 25), (60, 60)])
def test_mann_whitney_matches_scipy(n: int, m: int) -> None:
    rng = random.Random(n * 100 + m)
    for shift in (0.0, 0.2, 0.5):
        base = _lognormal(rng, n, 1.0, 0.3)
        targ = _lognormal(rng, m, math.exp(shift), 0.3)
        ours = mann_whitney(base, targ)
        method = "exact" if ours.method == "exact" else "asymptotic"
        ref = stats.mannwhitneyu(targ, base, alternative="greater", method=method)
        assert ours.u == pytest.approx(float(ref.statistic))
        assert ours.p_greater == pytest.approx(float(ref.pvalue), rel=1e-9, abs=1e-12)
    assert (ours.method == "exact") == (n * m <= R.EXACT_MAX_PRODUCT)


def test_mann_whitney_with_ties_uses_tie_corrected_normal_like_scipy() -> None:
    base = [1.0, 2, 2, 3, 3, 3, 4, 5]
    targ = [2.0, 3, 4, 4, 5, 6, 6, 7]
    ours = mann_whitney(base, targ)
    ref = stats.mannwhitneyu(targ, base, alternative="greater", method="asymptotic")
    assert ours.method == "normal"
    assert ours.p_greater == pytest.approx(float(ref.pvalue), rel=1e-9)


def test_exact_distribution_counts_every_arrangement() -> None:
    # brute force: U over all ways to pick which 4 of 7 ranks belong to the first sample
    n, m = 4, 3
    counts = [0] * (n * m + 1)
    for first in itertools.combinations(range(n + m), n):
        u = sum(1 for a in first for b in set(range(n + m)) - set(first) if a > b)
        counts[u] += 1
    assert list(R._u_counts(n, m)) == counts


def test_hodges_lehmann_interval_is_the_textbook_one_for_five_a_side() -> None:
    # n = m = 5 at 95 %: P(U <= 2) = 0.016 <= 0.025 < P(U <= 3), so the interval is
    # (D(3), D(23)) of the 25 ordered pairwise differences
    base = [1.0, 2.0, 3.0, 4.0, 5.0]
    targ = [3.5, 4.5, 5.5, 6.5, 7.5]
    diffs = sorted(t - b for t in targ for b in base)
    hl = hodges_lehmann(base, targ, 0.95)
    assert hl.method == "exact"
    assert hl.estimate == pytest.approx(2.5)
    assert (hl.low, hl.high) == (diffs[2], diffs[22])


def test_hodges_lehmann_interval_covers_the_true_shift_at_the_stated_rate() -> None:
    rng = random.Random(7)
    covered = 0
    runs = 400
    for _ in range(runs):
        base = [rng.gauss(0, 1) for _ in range(10)]
        targ = [rng.gauss(0.7, 1) for _ in range(10)]
        hl = hodges_lehmann(base, targ, 0.90)
        covered += hl.low <= 0.7 <= hl.high
    assert 0.86 <= covered / runs <= 0.97  # at least 90 % by construction, minus MC noise


def test_too_few_samples_is_inconclusive_and_enough_is_judged() -> None:
    few = judge("t", [1.0] * 4, [3.0] * 4)
    assert few.outcome == "inconclusive"
    assert "too few samples" in few.reason and "need 5" in few.reason
    enough = judge("t", [1.0, 1.1, 0.9, 1.05, 0.95], [3.0, 3.1, 2.9, 3.05, 2.95])
    assert enough.outcome == "fail"


def test_absolute_floor_passes_a_tiny_difference_however_large_the_ratio() -> None:
    base = [0.001, 0.0011, 0.0009, 0.00105, 0.00095, 0.001]
    targ = [x * 5 for x in base]  # 5x slower, but by 4 ms
    res = judge("tiny", base, targ, JudgeConfig(abs_floor_s=0.05))
    assert res.outcome == "pass"
    assert "absolute floor" in res.rule
    assert judge("tiny", base, targ, JudgeConfig(abs_floor_s=0.0)).outcome == "fail"


def test_clear_regression_fails_with_every_number_that_decided_it() -> None:
    rng = random.Random(1)
    base = _lognormal(rng, 20, 0.8, 0.2)
    targ = _lognormal(rng, 20, 1.6, 0.2)
    res = judge("pipeline.total", base, targ)
    assert res.outcome == "fail"
    assert res.ratio_ci is not None and res.ratio_ci[0] > 1.2
    assert res.rule.startswith("significantly slower at level 0.01")
    assert res.p_value is not None and res.p_value < 0.001
    assert res.baseline_n == res.target_n == 20
    for text in ("ratio", "CI", "medians", "n=20/20", "p="):
        assert text in res.reason


def test_same_distribution_passes() -> None:
    rng = random.Random(2)
    base = _lognormal(rng, 30, 0.8, 0.1)
    targ = _lognormal(rng, 30, 0.8, 0.1)
    res = judge("t", base, targ)
    assert res.outcome == "pass"
    assert res.ratio_ci is not None and res.ratio_ci[1] <= 1.2


def test_significant_slowdown_beyond_the_effect_floor_fails_while_the_interval_straddles() -> None:
    rng = random.Random(3)
    for _ in range(50):  # find a sample whose interval straddles the limit
        base = _lognormal(rng, 12, 1.0, 0.3)
        targ = _lognormal(rng, 12, 1.45, 0.3)
        res = judge("t", base, targ)
        lo, hi = res.ratio_ci or (0, 0)
        if 1.0 < lo <= 1.2 < hi and res.ratio and res.ratio > 1.2:
            break
    else:
        pytest.fail("no straddling sample found")
    assert res.outcome == "fail"
    assert "effect-size floor" in res.rule
    # a higher effect floor turns the same data into "a real slowdown of uncertain size"
    held = judge("t", base, targ, JudgeConfig(effect_floor=3.0))
    assert held.outcome == "inconclusive"
    assert "uncertain size" in held.reason


def test_noisy_data_that_looks_slower_is_inconclusive_not_a_false_alarm() -> None:
    base = [1.0, 0.5, 2.0, 1.5, 0.7, 3.0]
    targ = [1.6, 0.55, 2.9, 1.9, 0.9, 4.0]
    res = judge("t", base, targ)
    assert res.ratio is not None and res.ratio > 1.2
    assert res.ratio_ci is not None and res.ratio_ci[0] <= 1.0
    assert res.outcome == "inconclusive"
    assert "too noisy" in res.reason


def test_a_wide_interval_is_not_called_a_pass() -> None:
    base = [1.0, 0.3, 3.0, 1.5, 0.6, 2.5]
    targ = [1.0, 0.35, 2.8, 1.4, 0.65, 2.4]
    res = judge("t", base, targ)
    assert res.ratio is not None and res.ratio <= 1.2
    assert res.ratio_ci is not None and res.ratio_ci[1] > 1.4
    assert res.outcome == "inconclusive"
    assert "too wide" in res.rule
    # the same spread with a tight timing: the slowdown beyond 1.4 is ruled out, a pass
    tight_values = [1.0 + i / 100 for i in range(6)]
    tight = judge("t", tight_values, [x * 1.01 for x in tight_values], JudgeConfig(abs_floor_s=0))
    assert tight.outcome == "pass" and "ruled out" in tight.rule


def test_faster_target_passes() -> None:
    base = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0]
    targ = [x / 2 for x in base]
    assert judge("t", base, targ).outcome == "pass"


def test_per_timing_config_changes_the_limit() -> None:
    base = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98]
    targ = [x * 1.5 for x in base]
    assert judge("t", base, targ, JudgeConfig(allowed_ratio=1.2)).outcome == "fail"
    assert judge("t", base, targ, JudgeConfig(allowed_ratio=2.0)).outcome == "pass"


@pytest.mark.parametrize(
    "kwargs",
    [{"allowed_ratio": 1.0}, {"confidence": 1.5}, {"min_samples": 1}, {"abs_floor_s": -1}],
)
def test_bad_config_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        JudgeConfig(**kwargs)


def test_p95_rule_is_the_plain_alternative() -> None:
    base = [1.0] * 9 + [2.0]  # nearest-rank p95 of 10 values is the largest
    assert J.p95_rule("t", base, [1.0] * 9 + [2.5]) == "fail"
    assert J.p95_rule("t", base, [1.0] * 9 + [2.3]) == "pass"


def test_zero_second_samples_do_not_break_the_logs() -> None:
    res = judge("t", [0.0] * 6, [0.0, 0.0, 0.0, 0.0, 0.0, 0.001])
    assert res.outcome == "pass"
    assert res.to_dict()["ratio_ci"] is not None


# ------------------------------------------------------------------------ sequential looks


def test_obrien_fleming_spending_bounds_match_the_published_ones() -> None:
    # Lan-DeMets O'Brien-Fleming-type, 5 equally spaced looks, one-sided 0.025: the values of
    # Jennison & Turnbull (2000) table 7.6 / R gsDesign / ldbounds
    bounds = S.spending_bounds((0.2, 0.4, 0.6, 0.8, 1.0), 0.025, "obrien-fleming")
    assert bounds == pytest.approx((4.8769, 3.3569, 2.6803, 2.2898, 2.0310), abs=2e-4)
    pocock = S.spending_bounds((0.2, 0.4, 0.6, 0.8, 1.0), 0.025, "pocock")
    assert pocock == pytest.approx((2.4380, 2.4268, 2.4102, 2.3967, 2.3860), abs=2e-4)


@pytest.mark.parametrize("spending", ["obrien-fleming", "pocock"])
def test_spending_bounds_spend_exactly_the_level_by_scipy_multivariate_normal(
    spending: str,
) -> None:
    # under the null Z_k has corr(Z_j, Z_k) = sqrt(t_j / t_k); the chance of never crossing
    # must be 1 - spend(t_k) at every look, which scipy computes independently
    fractions = (0.3, 0.55, 0.8, 1.0)
    level = 0.01
    bounds = S.spending_bounds(fractions, level, spending)
    spend = S.SPENDING[spending]
    for k in range(1, len(fractions) + 1):
        t = fractions[:k]
        cov = [[math.sqrt(min(a, b) / max(a, b)) for b in t] for a in t]
        stay = stats.multivariate_normal(mean=[0.0] * k, cov=cov, abseps=1e-7, releps=1e-7).cdf(
            list(bounds[:k])
        )
        assert 1.0 - stay == pytest.approx(spend(fractions[k - 1], level), rel=0.02)


def test_information_fractions_follow_the_shared_reference() -> None:
    # a look at m of M target samples against n reference samples: (1/n + 1/M)/(1/n + 1/m)
    assert S.information_fractions(20, [10, 20, 40], 40) == pytest.approx(
        ((1 / 20 + 1 / 40) / (1 / 20 + 1 / 10), (1 / 20 + 1 / 40) / (1 / 20 + 1 / 20), 1.0)
    )


def test_sampling_plan_looks_and_refusals() -> None:
    plan = S.SamplingPlan(5, 20, 5)
    assert plan.looks(5) == [5]
    assert plan.looks(12) == [5, 10, 12]
    assert plan.looks(20) == [5, 10, 15, 20]
    with pytest.raises(ValueError):
        S.SamplingPlan(10, 5)


def test_a_sequential_judge_decides_at_the_first_look_that_crosses() -> None:
    rng = random.Random(7)
    base = _lognormal(rng, 30, 1.0, 0.25)
    slow = _lognormal(rng, 30, 2.0, 0.25)
    plan = S.SamplingPlan(5, 30, 5)
    res = judge("t", base, slow, plan=plan)
    assert res.outcome == "fail"
    # it stopped early: the look that decided used fewer samples than were there
    assert res.look < res.looks and res.target_n < 30
    assert f"look {res.look} of {res.looks}" in res.rule
    same = judge("t", base, _lognormal(rng, 30, 1.0, 0.25), plan=plan)
    assert same.outcome == "pass" and same.decided


def test_a_sequential_judge_not_yet_decided_says_so() -> None:
    base = [1.0, 0.3, 3.0, 1.5, 0.6, 2.5, 1.1, 0.9]
    targ = [1.0, 0.35, 2.8, 1.4, 0.65]
    res = judge("t", base, targ, plan=S.SamplingPlan(5, 40, 5))
    assert res.outcome == "inconclusive"
    assert not res.decided  # a sampler would take more
    assert "stopped at 5 of 40 planned samples" in res.rule


def test_the_early_fail_boundary_is_stricter_than_a_fixed_sample() -> None:
    # 5 of 50 planned samples: O'Brien-Fleming spends almost nothing this early, so a
    # difference that fails one fixed sample does not fail the first look
    base = [1.0, 1.1, 0.9, 1.05, 0.95, 1.0, 1.02, 0.98]
    targ = [1.6, 1.7, 1.5, 1.65, 1.55]
    assert judge("t", base, targ).outcome == "fail"
    early = judge("t", base, targ, plan=S.SamplingPlan(5, 50, 5))
    assert early.outcome != "fail"


def _case(name: str, slow: float, rng: random.Random, n: int = 30) -> J.TimingCase:
    return J.TimingCase(
        name,
        _lognormal(rng, n, 1.0, 0.25),
        _lognormal(rng, n, slow, 0.25),
        JudgeConfig(abs_floor_s=0.0),
    )


def test_holm_tests_each_timing_at_alpha_over_the_family_and_steps_down() -> None:
    rng = random.Random(11)
    cases = [_case(f"t{i}", 1.0, rng) for i in range(12)] + [_case("slow", 1.6, rng)]
    results = J.judge_family(cases)
    assert [r.name for r in results] == [c.name for c in cases]
    slow = results[-1]
    assert slow.outcome == "fail" and slow.level == pytest.approx(0.01 / 13)
    assert slow.family_size == 13
    # after the slow one failed, the others were tested again at alpha / 12
    assert all(r.level == pytest.approx(0.01 / 12) for r in results[:-1])
    assert all(r.outcome != "fail" for r in results[:-1])


def test_holm_does_not_fail_a_timing_that_only_a_lone_test_would_fail() -> None:
    # p about 0.004: below alpha 0.01 alone, above 0.01/13 in a family of 13
    base = [1.0, 1.1, 0.9, 1.05, 0.95]
    targ = [1.5, 1.6, 1.4, 1.55, 1.45]
    alone = judge("t", base, targ, JudgeConfig(abs_floor_s=0.0))
    assert alone.outcome == "fail" and alone.p_value is not None and alone.p_value > 0.01 / 13
    rng = random.Random(5)
    family = [J.TimingCase("t", base, targ, JudgeConfig(abs_floor_s=0.0))] + [
        _case(f"u{i}", 1.0, rng) for i in range(12)
    ]
    first = J.judge_family(family)[0]
    assert first.outcome == "inconclusive"
    assert first.p_value == alone.p_value  # its own numbers are kept
