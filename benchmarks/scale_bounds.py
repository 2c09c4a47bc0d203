"""Issue 20's remaining gap to syrupy, in its two parts: the file per test and the fixed cost.

One command, from the repository root::

    .venv/bin/python benchmarks/scale_bounds.py [--sizes 1000 4000] [--rounds 8] [--phase-runs 12]

Three questions, the first two answered with pairs of runs side by side (``scale.py
--paired``'s method: both runs start together, each pinned to one core, swapping cores every
round; the CPU ratio of each round and their geometric mean):

1. **How much would a baseline file per module save** (reversing docs/decisions.md 3)? The
   bound: ours with every baseline file's bytes and status served from memory ("ours, reads
   in memory"), so a check makes none of the file's system calls (``open``, ``fstat``,
   ``read``, ``close``, and the session end's ``stat``, ADR 42) but still parses, validates
   and compares as now. A per-module file would still read and parse one file per module, so
   it could save at most this. A helper plugin (written into the temporary directory, loaded
   with ``-p``) loads all files from one pickle at start-up, which is counted, and reports how
   many reads it served; the benchmark stops if that is not one per test.
2. **What a run costs besides its tests** (one test per project): the plugin installed but
   unused, the plugin on, and syrupy, each against a run with neither plugin; and one check
   of ours against one syrupy snapshot. These short runs spread more from round to round, so
   they get four times the rounds.
3. **Where that fixed cost lands**: a second helper plugin notes the process's CPU time at
   the hooks' boundaries (loaded first with ``-p``, so its first note precedes the entry-point
   plugins' imports); ``--phase-runs`` runs of each one-test variant, one after another on
   one core, and the median of each phase.

The projects, the target and the variants are ``scale.py``'s (checks compare with a warm-up
recording).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import pickle
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

import scale

#: the helper plugin of question 1; ``DV_READS_PACK``: the pickle of the baseline files,
#: ``DV_READS_SERVED``: where it writes how many reads it served
READS_IN_MEMORY = '''
"""Benchmark helper: serve the baseline files' bytes and status from memory."""
import os
import pickle
import types

from pytest_deployverify.baseline import session as _session

with open(os.environ["DV_READS_PACK"], "rb") as _f:
    _FILES = pickle.load(_f)  # path -> (os.stat_result, bytes)
_SERVED = [0]
_read_file = _session.read_file


def _served_read(path):
    hit = _FILES.get(os.fspath(path))
    if hit is None:
        return _read_file(path)
    _SERVED[0] += 1
    return hit


class _OsWithStats(types.ModuleType):
    """``os`` for the baseline session module, with the stored files' ``stat`` from memory."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def stat(path, *args, **kwargs):
        hit = _FILES.get(os.fspath(path))
        return hit[0] if hit is not None else os.stat(path, *args, **kwargs)


if not callable(getattr(_session, "read_file", None)) or _session.os is not os:
    raise RuntimeError("pytest_deployverify.baseline.session changed: update scale_bounds.py")
_session.read_file = _served_read
_session.os = _OsWithStats("os")


def pytest_unconfigure(config):
    with open(os.environ["DV_READS_SERVED"], "w") as out:
        out.write(str(_SERVED[0]))
'''

HELPER = "dv_reads_in_memory"
PHASES_HELPER = "dv_phases"

#: the helper plugin of question 3; ``DV_PHASES_OUT``: the file it appends one line to
PHASES = '''
"""Benchmark helper: the process's CPU time (ms) at the hooks' boundaries, one line per run."""
import json
import os
import time

import pytest

_MARKS = [("start", time.process_time())]


def _mark(name):
    _MARKS.append((name, time.process_time()))


class _ConfigureFirst:  # pytest_configure is historic: no wrapper, a first and a last call
    @pytest.hookimpl(tryfirst=True)
    def pytest_configure(self, config):
        _mark("plugins, options, ini")


class _ConfigureLast:
    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config):
        _mark("configure hooks")


class _Marks:
    """Outermost wrappers: a mark before the first and after the last of each hook's
    implementations (ours included)."""

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtestloop(self, session):
        _mark("session start, collection")
        result = yield
        _mark("tests")
        return result

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter):
        # called from inside pytest_sessionfinish, after ours (tryfirst) and before pytest's
        _mark("session end")
        yield
        _mark("terminal summary")

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session):
        yield
        _mark("session finish, the rest")

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_unconfigure(self, config):
        yield
        _mark("unconfigure")
        with open(os.environ["DV_PHASES_OUT"], "a") as out:
            out.write(json.dumps([[name, 1000 * t] for name, t in _MARKS]) + "\\n")


def pytest_addhooks(pluginmanager):
    pluginmanager.register(_ConfigureFirst(), "dv-phases-configure-first")
    pluginmanager.register(_ConfigureLast(), "dv-phases-configure-last")
    pluginmanager.register(_Marks(), "dv-phases")
'''


def _pack(project: Path, out: Path) -> int:
    """Every baseline file of ``project``: its path as the plugin spells it, status, bytes."""
    files = {}
    for directory, _, names in os.walk(project / "baselines"):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                files[path] = (os.fstat(f.fileno()), f.read())
    out.write_bytes(pickle.dumps(files))
    return len(files)


#: a variant: (project, pytest arguments, extra environment)
Variant = tuple[Path, list[str], dict[str, str]]


def _start(variant: Variant, core: int) -> subprocess.Popen[bytes]:
    project, args, extra = variant
    return scale._start(project, args, core, extra)


def _pair(a: Variant, b: Variant, rounds: int) -> dict[str, object]:
    ratios, cpu_a, cpu_b = [], [], []
    for r in range(rounds):
        pa, pb = _start(a, r % 2), _start(b, 1 - r % 2)
        x, y = scale._cpu_of(pa), scale._cpu_of(pb)
        ratios.append(x / y)
        cpu_a.append(x)
        cpu_b.append(y)
    return {
        "ratios": ratios,
        "mean": statistics.geometric_mean(ratios),
        "cpu": [statistics.median(cpu_a), statistics.median(cpu_b)],
    }


def measure(sizes: list[int], rounds: int, phase_runs: int) -> tuple[list[dict[str, object]], str]:
    """Questions 1 and 2 (rows of pairs, also printed as JSON lines as they come), question 3
    (its table)."""
    url = scale.start_target()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="dv-bounds-") as tmp:
        root = Path(tmp)
        (root / f"{HELPER}.py").write_text(READS_IN_MEMORY)
        (root / f"{PHASES_HELPER}.py").write_text(PHASES)
        for n in sizes:
            rows += _reads_in_memory(root, n, url, rounds)
        plain = scale.make_project(root, 1, "plain", url)
        ours = scale.make_project(root, 1, "ours", url)
        syr = scale.make_project(root, 1, "syrupy", url)
        one: dict[str, Variant] = {
            "neither plugin": (plain, [*scale.OFF, *scale.NO_SYRUPY], {}),
            "syrupy installed": (plain, scale.OFF, {}),
            "ours installed, unused": (plain, scale.NO_SYRUPY, {}),
            "ours on": (plain, scale.OURS_ON, {}),
            "one check, syrupy": (syr, scale.OFF, {}),
            "one check, ours": (ours, scale.OURS_ON, {}),
        }
        with scale._clock("cpu"):  # warm-up: bytecode caches, the baseline, the snapshot
            _record_both(ours, syr)
            for project, args, _ in one.values():
                scale.run(project, args)
        for mine, theirs in [
            ("syrupy installed", "neither plugin"),
            ("ours installed, unused", "neither plugin"),
            ("ours on", "neither plugin"),
            ("one check, ours", "one check, syrupy"),
        ]:
            row: dict[str, object] = {"n": 1, "pair": f"{mine} / {theirs}"}
            row.update(_pair(one[mine], one[theirs], 4 * rounds))
            rows.append(row)
            print(json.dumps(row), flush=True)
        phases = _phases(root, one, phase_runs)
    return rows, phases


def _reads_in_memory(root: Path, n: int, url: str, rounds: int) -> list[dict[str, object]]:
    """Question 1 at ``n`` tests: the three pairs."""
    ours = scale.make_project(root, n, "ours", url)
    syr = scale.make_project(root, n, "syrupy", url)
    with scale._clock("cpu"):  # warm-up: bytecode caches, the baselines, the snapshots
        _record_both(ours, syr)
    pack = root / f"pack-{n}.pickle"
    if _pack(ours, pack) != n:
        raise SystemExit(f"expected {n} baseline files in {ours}")
    served = root / "served"
    in_memory: Variant = (
        ours,
        ["-p", HELPER, *scale.OURS_ON],
        {"PYTHONPATH": str(root), "DV_READS_PACK": str(pack), "DV_READS_SERVED": str(served)},
    )
    variants: dict[str, Variant] = {
        "check ours": (ours, scale.OURS_ON, {}),
        "check syrupy": (syr, scale.OFF, {}),
        "check ours, reads in memory": in_memory,
    }
    with scale._clock("cpu"):  # a second warm-up, checked: the helper served every read
        for project, args, _ in list(variants.values())[:2]:
            scale.run(project, args)
        _check_served(in_memory, n, served)
    rows: list[dict[str, object]] = []
    for mine, theirs in [
        ("check ours", "check syrupy"),
        ("check ours, reads in memory", "check syrupy"),
        ("check ours, reads in memory", "check ours"),
    ]:
        row: dict[str, object] = {"n": n, "pair": f"{mine} / {theirs}"}
        row.update(_pair(variants[mine], variants[theirs], rounds))
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _phases(root: Path, one: dict[str, Variant], runs: int) -> str:
    """Question 3: each one-test variant ``runs`` times in turn on core 0 with the phases
    helper; a table of the median CPU milliseconds per phase."""
    out = root / "phases.jsonl"
    per: dict[str, list[list[tuple[str, float]]]] = {name: [] for name in one}
    for _ in range(runs):
        for name, (project, args, extra) in one.items():
            out.unlink(missing_ok=True)
            env = {"PYTHONPATH": str(root), "DV_PHASES_OUT": str(out), **extra}
            proc = _start((project, ["-p", PHASES_HELPER, *args], env), core=0)
            usage = scale._wait(proc)
            if proc.returncode != 0:
                raise SystemExit(f"{args} in {project} failed ({proc.returncode})")
            marks = json.loads(out.read_text())
            total = 1000 * (usage.ru_utime + usage.ru_stime)
            phases = [("before the first plugin", marks[0][1])]
            phases += [(b[0], b[1] - a[1]) for a, b in itertools.pairwise(marks)]
            phases.append(("after unconfigure, exit", total - marks[-1][1]))
            phases.append(("whole run", total))
            per[name].append(phases)
    names = [phase for phase, _ in next(iter(per.values()))[0]]
    lines = ["| phase (ms of CPU, median) | " + " | ".join(one) + " |"]
    lines.append("|---" * (len(one) + 1) + "|")
    for i, phase in enumerate(names):
        cells = [f"{statistics.median(run[i][1] for run in per[name]):.1f}" for name in one]
        lines.append(f"| {phase} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _record_both(ours: Path, syr: Path) -> None:
    """Our baselines and syrupy's snapshots of the same values, for the checks to compare with."""
    scale.run(ours, [*scale.OURS_ON, "--record-baseline", "--record-runs", "1"])
    scale.run(syr, [*scale.OFF, "--snapshot-update"])


def _check_served(variant: Variant, n: int, served: Path) -> None:
    """One run of ``variant`` (the helper loaded): it must have served every test's read."""
    project, args, extra = variant
    scale.run(project, args, extra_env=extra)  # stops, with pytest's output, if it fails
    count = int(served.read_text())
    if count < n:
        raise SystemExit(f"the helper served {count} reads of {n} tests: it measures nothing")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000])
    parser.add_argument("--rounds", type=int, default=8, help="rounds per pair (even)")
    parser.add_argument(
        "--phase-runs", type=int, default=12, help="runs of each one-test variant (question 3)"
    )
    args = parser.parse_args()
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        raise SystemExit("scale_bounds.py needs taskset and two cores")
    rows, phases = measure(args.sizes, args.rounds, args.phase_runs)
    print()
    for row in rows:
        cpu = row["cpu"]
        assert isinstance(cpu, list)
        ratios = ", ".join(f"{r:.3f}" for r in row["ratios"])  # type: ignore[attr-defined]
        print(
            f"{row['n']} tests, {row['pair']}: {row['mean']:.3f} "
            f"(median CPU {cpu[0]:.3f} / {cpu[1]:.3f} s; rounds {ratios})"
        )
        if row["n"] == 1:
            print(f"    difference of the medians: {1000 * (cpu[0] - cpu[1]):+.0f} ms")
    print()
    print(phases)


if __name__ == "__main__":
    main()
