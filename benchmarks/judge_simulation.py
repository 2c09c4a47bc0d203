"""Simulation: the timing judge per timing and per run, through the plugin's own code path.

One command, fixed seed, no arguments needed:

    .venv/bin/python benchmarks/judge_simulation.py [--runs N] [--run-level-runs N] [--seed S]

Timings are log-normal (positive, right-skewed, multiplicative noise: what request and
pipeline-stage latencies look like), median 0.8 s, no absolute floor (production timings are
seconds). Each simulated run records its samples with the plugin's ``Timings.sample`` (the
same sequential looks a test gets: first look at ``min_samples``, then every ``look_every``,
at most ``max_samples``; defaults 5/5/50) against a reference of 30 samples (a history of a
few runs, or a recorded baseline), and is then judged by ``perf_session.judge_timings``, the function
the session end calls (Holm over the run's timings). Reported: fail / inconclusive / pass
rates and the mean number of target samples taken.

Per run: 13 timings (as the smoke suite), sampled together as one ``timings.sample`` whose
function returns all 13 (as ``record_run`` does for a pipeline), unchanged or with one own
timing 1.5x slower. Against them, in the same runs, the anchors: the judge without this change's run-level parts (one
fixed sample of 20 per timing, each timing alone at 1 %, no Holm, no looks), Argo-style failure limits (the run
fails when more than ``failureLimit`` = 0 timings fail, each timing judged alone) and
Kayenta-style scoring (score = % of timings that pass; below 50 fails, below 75 holds).

Exit status 0 only when every target is met (one MET/MISSED line each).
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.judge import JudgeConfig, judge
from pytest_deployverify.perf import PerfConfig, Timings
from pytest_deployverify.perf_session import collect_plans, judge_timings

MEDIAN_S = 0.8
REFERENCE_N = 30
OLD_FIXED_N = 20
TIMINGS_PER_RUN = 13
CONFIG = JudgeConfig(abs_floor_s=0.0)  # defaults otherwise: ratio 1.2, confidence 0.98
PERF = PerfConfig(default=CONFIG, external_stages={})


@dataclass(frozen=True)
class Scenario:
    name: str
    slowdown: float  # true target/reference ratio of every quantile (of the slowed timing)
    sigma: float  # log-normal shape: spread of log-seconds
    timings: int = 1  # 1: one timing; 13: a run, the first timing slowed


PER_TIMING = (
    Scenario("identical, sigma 0.25", 1.0, 0.25),
    Scenario("identical, sigma 0.40", 1.0, 0.40),
    Scenario("1.1x (within the limit), sigma 0.25", 1.1, 0.25),
    Scenario("1.5x slower, sigma 0.25", 1.5, 0.25),
    Scenario("1.5x slower, sigma 0.40", 1.5, 0.40),
)
RUN_LEVEL = (
    Scenario("run-level: 13 unchanged timings, sigma 0.25", 1.0, 0.25, TIMINGS_PER_RUN),
    Scenario("run-level: one own timing 1.5x of 13, sigma 0.25", 1.5, 0.25, TIMINGS_PER_RUN),
)


def _draw(rng: random.Random, n: int, ratio: float, sigma: float) -> list[float]:
    mu = math.log(MEDIAN_S * ratio)
    return [rng.lognormvariate(mu, sigma) for _ in range(n)]


def one_run(sc: Scenario, rng: random.Random) -> tuple[str, int, dict[str, str]]:
    """One simulated run through Timings.sample + judge_timings: (run outcome, mean target
    samples per timing, the anchors' run outcomes on fixed samples)."""
    names = [f"run.stage{i:02d}" for i in range(sc.timings)]
    ratios = {name: (sc.slowdown if i == 0 else 1.0) for i, name in enumerate(names)}
    reference = {name: _draw(rng, REFERENCE_N, 1.0, sc.sigma) for name in names}
    evidence = TestEvidence(nodeid="sim::run")
    timings = Timings(evidence, PERF, reference.get, family_size=len(names))
    if sc.timings == 1:
        timings.sample(names[0], lambda: _draw(rng, 1, ratios[names[0]], sc.sigma)[0])
    else:  # one call records all 13, as record_run does for a pipeline's stages
        timings.sample("run", lambda: {n[4:]: _draw(rng, 1, ratios[n], sc.sigma)[0] for n in names})
    recorded = evidence.timings
    results = judge_timings(
        recorded, {}, reference, PERF, collect_plans({evidence.nodeid: evidence})
    )
    used = sum(len(v) for v in recorded.values()) // len(recorded)
    outcome = _run_outcome([r.outcome for r in results])
    anchors: dict[str, str] = {}
    if sc.timings > 1:
        fixed = [
            judge(
                n, reference[n][:OLD_FIXED_N], _draw(rng, OLD_FIXED_N, ratios[n], sc.sigma), CONFIG
            ).outcome
            for n in names
        ]
        anchors["fixed 20 samples, each timing alone"] = _run_outcome(fixed)
        anchors["Argo-style (failureLimit 0)"] = "fail" if "fail" in fixed else "pass"
        score = 100.0 * sum(1 for o in fixed if o == "pass") / len(fixed)
        anchors["Kayenta-style (score <50 fail, <75 hold)"] = (
            "fail" if score < 50 else "inconclusive" if score < 75 else "pass"
        )
    return outcome, used, anchors


def _run_outcome(outcomes: list[str]) -> str:
    if "fail" in outcomes:
        return "fail"
    return "inconclusive" if "inconclusive" in outcomes else "pass"


def simulate(sc: Scenario, runs: int, rng: random.Random) -> dict[str, dict[str, float]]:
    rows: dict[str, dict[str, float]] = {}
    used_total = 0

    def add(rule: str, outcome: str) -> None:
        row = rows.setdefault(rule, {"pass": 0.0, "fail": 0.0, "inconclusive": 0.0})
        row[outcome] += 1.0 / runs

    for _ in range(runs):
        outcome, used, anchors = one_run(sc, rng)
        add("judge", outcome)
        used_total += used
        for rule, anchor in anchors.items():
            add(rule, anchor)
    rows["judge"]["samples"] = used_total / runs
    return rows


@dataclass(frozen=True)
class Target:
    text: str
    check: Callable[[dict[str, float]], bool]


def targets(sc: Scenario) -> list[Target]:
    out: list[Target] = []
    if sc.timings == 1 and sc.slowdown == 1.0:
        out.append(Target(f"false alarms <= 2% ({sc.name})", lambda r: r["fail"] <= 0.02))
        if sc.sigma == 0.40:
            out.append(
                Target(f"inconclusive <= 10% ({sc.name})", lambda r: r["inconclusive"] <= 0.10)
            )
    if sc.timings == 1 and sc.slowdown == 1.5:
        out.append(Target(f"power >= 90% ({sc.name})", lambda r: r["fail"] >= 0.90))
    if sc.timings > 1 and sc.slowdown == 1.0:
        out.append(Target(f"false fail <= 2% ({sc.name})", lambda r: r["fail"] <= 0.02))
        out.append(Target(f"inconclusive <= 10% ({sc.name})", lambda r: r["inconclusive"] <= 0.10))
    if sc.timings > 1 and sc.slowdown == 1.5:
        out.append(Target(f"power >= 90% to fail the run ({sc.name})", lambda r: r["fail"] >= 0.90))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000, help="simulated runs per timing scenario")
    parser.add_argument(
        "--run-level-runs", type=int, default=1000, help="simulated runs per run scenario"
    )
    parser.add_argument("--seed", type=int, default=20261201)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    print(
        f"judge simulation: {args.runs} runs per timing scenario, {args.run_level_runs} per run "
        f"scenario, seed {args.seed}; reference {REFERENCE_N} samples; sequential plan "
        f"{CONFIG.min_samples}..{CONFIG.max_samples} every {CONFIG.look_every}; allowed ratio "
        f"{CONFIG.allowed_ratio}, confidence {CONFIG.confidence}, pass limit {CONFIG.pass_limit:g}, "
        f"pass error {CONFIG.pass_error}; no absolute floor; Python {platform.python_version()}"
    )
    header = f"{'scenario / rule':62} {'fail':>7} {'inconc.':>8} {'pass':>7} {'samples':>8}"
    print(header)
    print("-" * len(header))
    verdicts: list[tuple[str, bool]] = []
    for sc in PER_TIMING + RUN_LEVEL:
        rows = simulate(sc, args.runs if sc.timings == 1 else args.run_level_runs, rng)
        for rule, r in rows.items():
            label = sc.name if rule == "judge" else f"  {rule}"
            samples = f"{r['samples']:>8.1f}" if "samples" in r else f"{'':>8}"
            print(
                f"{label:62} {r['fail']:>7.1%} {r['inconclusive']:>8.1%} {r['pass']:>7.1%} "
                f"{samples}"
            )
        for target in targets(sc):
            verdicts.append((target.text, target.check(rows["judge"])))
    print(f"\n{time.perf_counter() - started:.0f} s")
    for text, ok in verdicts:
        print(f"{'MET   ' if ok else 'MISSED'} {text}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
