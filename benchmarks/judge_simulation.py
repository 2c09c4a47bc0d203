"""Simulation: the timing judge against a plain "p95 ratio above 1.2 fails" rule.

One command, fixed seed, no arguments needed:

    .venv/bin/python benchmarks/judge_simulation.py [--runs N] [--seed S]

Timings are log-normal (what request and pipeline-stage latencies look like: positive,
right-skewed, multiplicative noise). For each scenario both rules see the same simulated
baseline/target sample pairs. Reported per rule: fail rate (false alarms where nothing
changed, power where the target is slower than allowed), inconclusive rate (the judge only;
the p95 rule has no such outcome) and pass rate.

Targets (issue 5): false alarms on identical distributions at most 2%, power to detect a 1.5x
slowdown with 20 samples a side at least 90%.
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pytest_deployverify.judge import JudgeConfig, judge, p95_rule


@dataclass(frozen=True)
class Scenario:
    name: str
    slowdown: float  # true target/baseline ratio of every quantile
    n: int  # samples a side
    sigma: float  # log-normal shape: spread of log-seconds
    median_s: float = 0.8  # baseline median, seconds (a pipeline stage)


SCENARIOS = (
    Scenario("identical, 20 a side, sigma 0.25", 1.0, 20, 0.25),
    Scenario("identical, 20 a side, sigma 0.40", 1.0, 20, 0.40),
    Scenario("identical, 8 a side, sigma 0.25", 1.0, 8, 0.25),
    Scenario("1.1x (within limit), 20 a side, sigma 0.25", 1.1, 20, 0.25),
    Scenario("1.5x slower, 20 a side, sigma 0.25", 1.5, 20, 0.25),
    Scenario("1.5x slower, 20 a side, sigma 0.40", 1.5, 20, 0.40),
    Scenario("1.5x slower, 8 a side, sigma 0.25", 1.5, 8, 0.25),
    Scenario("2x slower, 5 a side, sigma 0.25", 2.0, 5, 0.25),
)


def simulate(sc: Scenario, runs: int, rng: random.Random) -> dict[str, dict[str, float]]:
    cfg = JudgeConfig(allowed_ratio=1.2, abs_floor_s=0.0)  # defaults otherwise
    mu = math.log(sc.median_s)
    counts = {"judge": {"pass": 0, "fail": 0, "inconclusive": 0}, "p95": {"pass": 0, "fail": 0}}
    for _ in range(runs):
        base = [rng.lognormvariate(mu, sc.sigma) for _ in range(sc.n)]
        targ = [rng.lognormvariate(mu + math.log(sc.slowdown), sc.sigma) for _ in range(sc.n)]
        counts["judge"][judge("t", base, targ, cfg).outcome] += 1
        counts["p95"][p95_rule("t", base, targ, 1.2)] += 1
    return {rule: {k: v / runs for k, v in c.items()} for rule, c in counts.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=4000, help="simulated runs per scenario")
    parser.add_argument("--seed", type=int, default=20261128)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    print(
        f"judge simulation: {args.runs} runs per scenario, seed {args.seed}, "
        f"allowed ratio 1.2, confidence {JudgeConfig().confidence} (absolute floor off: the medians here are far "
        f"above it); Python {platform.python_version()}"
    )
    header = (
        f"{'scenario':46} {'judge fail':>10} {'judge inc':>10} {'judge pass':>10} {'p95 fail':>9}"
    )
    print(header)
    print("-" * len(header))
    verdicts = []
    for sc in SCENARIOS:
        r = simulate(sc, args.runs, rng)
        j, p = r["judge"], r["p95"]
        print(
            f"{sc.name:46} {j['fail']:>10.1%} {j['inconclusive']:>10.1%} "
            f"{j['pass']:>10.1%} {p['fail']:>9.1%}"
        )
        if sc.slowdown == 1.0 and sc.n == 20:
            verdicts.append((f"false alarms <= 2% ({sc.name})", j["fail"] <= 0.02))
        if sc.slowdown == 1.5 and sc.n == 20 and sc.sigma == 0.25:
            verdicts.append((f"power >= 90% ({sc.name})", j["fail"] >= 0.90))
    print(f"\n{time.perf_counter() - started:.1f} s")
    for text, ok in verdicts:
        print(f"{'MET   ' if ok else 'MISSED'} {text}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    raise SystemExit(main())
