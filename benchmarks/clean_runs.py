"""False alarms on unchanged deployments: the smoke suite run N times in a row per environment.

    .venv/bin/python benchmarks/clean_runs.py [--runs 10] [--envs local local-pg]

Each run is the whole ``pytest tests/smoke --target-env=<env>`` process, as a release
pipeline runs it, against a freshly launched, unfaulted deployment (``local``: SQLite,
``local-pg``: PostgreSQL from the machine's binaries), compared with the committed baselines
and judged by the default timing rules. A run whose verdict is not ``pass`` is a false alarm:
nothing changed. Prints one line per run (verdict, seconds, timings judged, any timing that
did not pass with its ratio and rule) and a tally; exit status 1 when any run was not a pass.

The named alternative in the same run is the judge's own strictness: every timing outcome is
listed, so a hold or a failure shows which timing and by how much it moved.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one_run(env: str, out: Path) -> dict[str, object]:
    verdict_file = out / "verdict.json"
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "tests/smoke",
        f"--target-env={env}",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--report-dir={out}",
        f"--verdict-file={verdict_file}",
    ]  # run from ROOT: pyproject's addopts already keep the dev tools' plugins out
    started = time.perf_counter()
    done = subprocess.run(
        cmd, cwd=ROOT, capture_output=True, text=True, timeout=1200, env=dict(os.environ)
    )
    seconds = time.perf_counter() - started
    if not verdict_file.exists():
        tail = (done.stdout + done.stderr)[-2000:]
        return {"verdict": "no verdict", "seconds": seconds, "timings": 0, "odd": [tail]}
    verdict = json.loads(verdict_file.read_text())
    timings = verdict.get("timings") or []
    odd = [
        f"{t['name']}: {t['outcome']} ratio {t['ratio']} ({t['rule']})"
        for t in timings
        if t["outcome"] != "pass"
    ]
    if verdict["verdict"] != "pass":
        odd.append(f"reason: {verdict['reason']}")
    return {"verdict": verdict["verdict"], "seconds": seconds, "timings": len(timings), "odd": odd}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--envs", nargs="+", default=["local", "local-pg"])
    args = parser.parse_args()
    tally: dict[tuple[str, str], int] = {}
    with tempfile.TemporaryDirectory(prefix="dv-clean-") as tmp:
        for env in args.envs:
            for i in range(args.runs):
                out = Path(tmp) / f"{env}-{i}"
                out.mkdir()
                row = one_run(env, out)
                key = (env, str(row["verdict"]))
                tally[key] = tally.get(key, 0) + 1
                print(
                    f"{env} run {i + 1}: {row['verdict']} in {float(row['seconds']):.0f} s, "  # type: ignore[arg-type]
                    f"{row['timings']} timings judged",
                    flush=True,
                )
                for line in row["odd"]:  # type: ignore[attr-defined]
                    print(f"    {line}", flush=True)
    print()
    for (env, verdict), n in sorted(tally.items()):
        print(f"{env}: {n} x {verdict}")
    return 0 if all(verdict == "pass" for _, verdict in tally) else 1


if __name__ == "__main__":
    raise SystemExit(main())
