"""Cost per test: many tests and many small checks, plugin off / plugin on / syrupy.

One command, from the repository root::

    .venv/bin/python benchmarks/scale.py [--sizes 1000 4000 16000] [--repeat 3] [--modes serial xdist]
    .venv/bin/python benchmarks/scale.py --clock instructions --modes serial   # deterministic
    .venv/bin/python benchmarks/scale.py --paired 6 --sizes 1000 4000   # side by side, CPU ratio
    .venv/bin/python benchmarks/scale.py --clock rss --modes serial --repeat 1   # peak memory
    .venv/bin/python benchmarks/scale.py --paired 8 --root /dev/shm   # without the disk's file system
    .venv/bin/python benchmarks/scale.py --paired 8 --with-json   # also syrupy, one file per test

A plain project is generated per size in a temporary directory, with a trivial HTTP target on
loopback (``/health`` and ``/version``) defined as ``[tool.deployverify.envs.bench]``. Each
figure is one ``python -m pytest`` run, start-up included, measured by ``--clock``:

* ``cpu`` (default): user + system seconds of pytest and its xdist workers;
* ``wall``: elapsed seconds;
* ``instructions``: instructions executed, counted by valgrind (``cachegrind``, no cache
  simulation), pytest and its workers, with ``PYTHONHASHSEED=0``; the same run gives the
  same count, so it shows the cost per test on a machine whose speed wanders (a shared VM),
  where CPU seconds of the same run spread by +-15 %. It does not count what the code waits
  for: cache misses, the kernel. A small change to the code can still move the count at one
  size by +-0.1 billion, because it moves when the garbage collector's full collections
  happen (benchmarks/README.md, "Figures after the fifth issue-20 session"): compare
  slopes between sizes, not one size;
* ``rss``: the peak resident memory of the largest process of the run (pytest, or an xdist
  worker), MiB, from the run's own ``wait4`` figures; its growth per added test is what a
  session keeps per test (and the memory kept per test makes every later test dearer:
  benchmarks/README.md, "Figures after the fourteenth issue-20 session").

The variants, the same values on each side:

* plain tests (``def test_i(): pass``), plugin off (``-p no:deployverify``) vs plugin on
  (``--target-env bench``: the target is resolved and probed, every test gets evidence, the
  event stream, the provisional verdict, the verdict file and reports are written), and
  plugin installed but unused ("plain installed": no option, so the session never uses
  deployverify and writes nothing; what every unrelated pytest run of the environment pays,
  docs/decisions.md 23);
* one small check per test: ``baseline.check("value", {...})`` (compare mode, after a
  recording) vs syrupy's ``assert {...} == snapshot`` (after ``--snapshot-update``); and
  recording: ``--record-baseline --record-runs 1`` (one run per test, like syrupy) and the
  default ``--record-runs 2`` vs ``--snapshot-update``, each twice: a first recording
  ("first record": the baseline directory and ``__snapshots__`` set aside before the run, so
  every file is written; ``--delete-first`` deletes them instead, see ``_clear``) and a re-recording ("record": every file already there and
  unchanged, so neither side writes one);
* with ``--with-json``, syrupy a second time with its ``JSONSnapshotExtension`` ("syrupy
  json", through the project's ``conftest.py``): one snapshot file per test, the layout of
  ours (docs/decisions.md 3), where syrupy's default (amber) writes one file per test module;
  it tells the cost of the layout from the cost of our code;
* serially and with ``-n 2`` (pytest-xdist).

Each side has only its own snapshot plugin: our runs add ``-p no:syrupy`` (syrupy is installed
in the dev venv, and its hooks would run in every test of ours), syrupy's ``-p no:deployverify``;
"plain off" has neither.

``--paired ROUNDS`` measures ratios instead: ours and syrupy's run of the same size start
together, each pinned to one core, swapping cores every round, so both see the same machine
speed; each round gives the ratio of their CPU seconds, and their geometric mean is printed
(checks, re-recordings and first recordings, and with ``--with-json`` the same three
against syrupy json; serial; give an even number of rounds).

Every variant of a size runs once per round, in turn, ``--repeat`` rounds (the median is
shown), after one warm-up round that also writes the bytecode caches (a project's second run
is what a user's pipeline sees). The growth per added test between consecutive sizes is
printed with the table: constant cost per test means the same slope between every pair of
sizes.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PYTHON = sys.executable


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"version": "bench-1"}' if self.path == "/version" else b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def start_target() -> str:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}"


PYPROJECT = """
[tool.pytest.ini_options]
asyncio_default_fixture_loop_scope = "function"

[tool.deployverify.envs.bench]
base_url = "{url}"
"""

#: one small value per test, the same for ours and syrupy's
VALUE = '{{"id": {i}, "name": "doc-{i}.pdf", "status": "complete", "pages": 3, "ok": True}}'


#: syrupy with its JSON extension: one file per test, the layout of ours (docs/decisions.md 3)
#: where syrupy's default (amber) keeps one file per test module
JSON_CONFTEST = """
import pytest
from syrupy.extensions.json import JSONSnapshotExtension


@pytest.fixture
def snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)
"""


def make_project(root: Path, n: int, kind: str, url: str) -> Path:
    """``kind``: "plain", "ours", "syrupy" or "syrupy-json"."""
    project = root / f"{kind}-{n}"
    tests = project / "tests"
    tests.mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT.format(url=url))
    if kind == "syrupy-json":
        (tests / "conftest.py").write_text(JSON_CONFTEST)
    per_module = 500
    for m in range(0, n, per_module):
        lines = []
        for i in range(m, min(n, m + per_module)):
            value = VALUE.format(i=i)
            if kind == "plain":
                lines.append(f"def test_{i}():\n    pass\n")
            elif kind == "ours":
                lines.append(f"def test_{i}(baseline):\n    baseline.check('value', {value})\n")
            else:  # syrupy, either extension
                lines.append(f"def test_{i}(snapshot):\n    assert {value} == snapshot\n")
        (tests / f"test_m{m // per_module:03d}.py").write_text("\n".join(lines))
    return project


#: what a row's figures are: "cpu" (user + system seconds of pytest and its xdist workers),
#: "wall" (elapsed seconds) or "instructions" (counted by valgrind); chosen with --clock
CLOCK = "cpu"
#: where the projects are made (None: the system's temporary directory); ``--root``
ROOT: str | None = None
#: whether a first recording's previous files are deleted just before it (``--delete-first``)
#: rather than set aside until the benchmark ends
DELETE_FIRST = False


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The runs' environment; ``extra``: variables a run adds (scale_bounds.py's helpers)."""
    env = {**os.environ, **(extra or {})}
    # a user's project keeps its bytecode: without it every run compiles every module again
    # (the plugin's and the tests'), a start-up cost that is not the plugin's per-test cost
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if CLOCK == "instructions":
        # str hashes are salted per process: dict and set layouts, and so the count, moved
        # by up to 0.1 billion between runs of the same code; a fixed seed makes the count
        # the same every run (to 0.0004 billion at 4000 tests)
        env["PYTHONHASHSEED"] = "0"
    return env


def _pytest_command(args: list[str]) -> list[str]:
    cmd = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    # the dev venv's unrelated plugins (schemathesis imports hypothesis): seconds of start-up
    # in every run, the same on every side, which only blurs the figures
    return [*cmd, "-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio", *args]


def run(
    project: Path, args: list[str], expect_ok: bool = True, extra_env: dict[str, str] | None = None
) -> float:
    """One pytest run's cost, by ``CLOCK``.

    CPU time is the default because it is what the plugin adds and moves less with other
    processes' load than wall time; instructions do not move at all.
    """
    cmd = _pytest_command(args)
    if CLOCK == "instructions":
        cmd = [
            "valgrind",
            "--tool=cachegrind",
            "--cache-sim=no",
            "--cachegrind-out-file=/dev/null",
            "--trace-children=yes",
            *cmd,
        ]
    if CLOCK == "rss":
        return _peak_rss(project, cmd, expect_ok)
    cpu_before, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(
        cmd,
        cwd=project,
        capture_output=True,
        text=True,
        timeout=7200,
        env=_environment(extra_env),
    )
    elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
    if expect_ok and done.returncode != 0:
        raise SystemExit(f"{cmd} in {project} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    if CLOCK == "instructions":
        counts = re.findall(r"I\s+refs:\s+([\d,]+)", done.stderr)
        if not counts:
            raise SystemExit(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
        return sum(int(c.replace(",", "")) for c in counts) / 1e9  # every process, billions
    return cpu if CLOCK == "cpu" else elapsed


def _peak_rss(project: Path, cmd: list[str], expect_ok: bool) -> float:
    """The run's peak resident memory in MiB: ``wait4``'s ``ru_maxrss`` of pytest, which is
    the largest of pytest and the children it waited for (its xdist workers). Output goes to
    a file, not a pipe, so nothing has to read it while waiting."""
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(cmd, cwd=project, stdout=out, stderr=out, env=_environment())
        usage = _wait(proc)
        if expect_ok and proc.returncode != 0:
            out.seek(0)
            tail = out.read().decode(errors="replace")[-3000:]
            raise SystemExit(f"{cmd} in {project} failed ({proc.returncode}):\n{tail}")
    return usage.ru_maxrss / 1024  # KiB on Linux


#: each side runs with its own snapshot plugin only, as a project that uses it would: syrupy is
#: installed in this venv, and loaded it adds its hooks to every test of ours (0.34 billion
#: instructions in a run of 1000 checks, benchmarks/README.md "Figures after the tenth
#: issue-20 session")
NO_SYRUPY = ["-p", "no:syrupy"]
OURS_ON = ["--target-env", "bench", *NO_SYRUPY]
OFF = ["-p", "no:deployverify"]


#: a measured run: (project, arguments, a directory cleared before each run: a first recording)
Variant = tuple[Path, list[str], Path | None]


def _snapshot_variants(
    ours: Path, syr: Path, two_runs: bool, syr_json: Path | None = None
) -> dict[str, Variant]:
    """The same values checked and recorded by each side, in the order a warm-up round needs
    (the recordings before the checks that compare with them); ``two_runs``: also our default
    two-run re-recording; ``syr_json``: also syrupy's JSON extension ("syrupy json")."""
    record_one = [*OURS_ON, "--record-baseline", "--record-runs", "1"]
    update = [*OFF, "--snapshot-update"]
    # syrupy's side, once per layout measured: the same three variants each
    syrupies = {"syrupy": syr} if syr_json is None else {"syrupy": syr, "syrupy json": syr_json}
    variants: dict[str, Variant] = {
        "first record ours (1 run)": (ours, record_one, ours / "baselines")
    }
    for side, project in syrupies.items():
        variants[f"first record {side}"] = (project, update, project / "tests" / "__snapshots__")
    # re-recording: every file is there and unchanged, none is written
    variants["record ours (1 run)"] = (ours, record_one, None)
    if two_runs:
        variants["record ours (2 runs)"] = (ours, [*OURS_ON, "--record-baseline"], None)
    for side, project in syrupies.items():
        variants[f"record {side}"] = (project, update, None)
    variants["check ours"] = (ours, OURS_ON, None)
    for side, project in syrupies.items():
        variants[f"check {side}"] = (project, OFF, None)
    return variants


def measure(
    sizes: list[int], repeat: int, modes: list[str], with_json: bool = False
) -> list[dict[str, object]]:
    url = start_target()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="dv-scale-", dir=ROOT) as tmp:
        root = Path(tmp)
        for mode in modes:
            par = ["-n", "2"] if mode == "xdist" else []
            for n in sizes:
                plain = make_project(root / mode, n, "plain", url)
                ours = make_project(root / mode, n, "ours", url)
                syr = make_project(root / mode, n, "syrupy", url)
                syr_json = make_project(root / mode, n, "syrupy-json", url) if with_json else None
                variants: dict[str, Variant] = {
                    "plain off": (plain, [*OFF, *NO_SYRUPY], None),
                    "plain installed": (plain, NO_SYRUPY, None),
                    "plain on": (plain, OURS_ON, None),
                    **_snapshot_variants(ours, syr, two_runs=True, syr_json=syr_json),
                }
                # warm-up: bytecode caches, and the baselines and snapshots the checks compare
                # with (recorded before their checks in the order above)
                with _clock("cpu"):
                    for project, args, fresh in variants.values():
                        _clear(fresh, root)
                        run(project, [*args, *par])
                figures: dict[str, list[float]] = {name: [] for name in variants}
                for _ in range(repeat):  # interleaved: a slower minute hits every variant
                    for name, (project, args, fresh) in variants.items():
                        _clear(fresh, root)  # outside the measured run
                        figures[name].append(run(project, [*args, *par]))
                row: dict[str, object] = {"mode": mode, "n": n}
                row.update({name: statistics.median(v) for name, v in figures.items()})
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


#: the issue's comparisons: (what is compared, ours, syrupy's); the table's summary lines and
#: --paired (both run at the same time, one per core) each go through them
COMPARED = [
    ("check", "check ours", "check syrupy"),
    ("re-record (1 run)", "record ours (1 run)", "record syrupy"),
    ("first record (1 run)", "first record ours (1 run)", "first record syrupy"),
]
PAIRS = [(mine, theirs) for _, mine, theirs in COMPARED]
#: --paired --with-json: also against syrupy's JSON extension
JSON_PAIRS = [(mine, f"{theirs} json") for mine, theirs in PAIRS]


def paired(sizes: list[int], rounds: int, with_json: bool = False) -> list[dict[str, object]]:
    """Ours and syrupy's run of the same size at the same time, each pinned to its own core
    (``taskset``), swapping cores every round: both see the same machine speed, which on a
    shared VM wanders between consecutive runs by more than the difference measured. Serial
    runs only (``-n 2`` would need both cores for each side). One row per pair and size: each
    round's ratio of CPU seconds (user + system, the process and what it waited for) and
    their geometric mean."""
    if shutil.which("taskset") is None or (os.cpu_count() or 1) < 2:
        raise SystemExit("--paired needs taskset and two cores")
    url = start_target()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="dv-scale-", dir=ROOT) as tmp:
        root = Path(tmp)
        for n in sizes:
            ours = make_project(root, n, "ours", url)
            syr = make_project(root, n, "syrupy", url)
            syr_json = make_project(root, n, "syrupy-json", url) if with_json else None
            variants = _snapshot_variants(ours, syr, two_runs=False, syr_json=syr_json)
            with _clock("cpu"):  # warm-up: bytecode caches, baselines and snapshots
                for project, args, _ in variants.values():
                    run(project, args)
            for mine, theirs in [*PAIRS, *(JSON_PAIRS if with_json else [])]:
                (p_a, a_args, a_fresh), (p_b, b_args, b_fresh) = variants[mine], variants[theirs]
                ratios = []
                for r in range(rounds):
                    _clear(a_fresh, root)
                    _clear(b_fresh, root)
                    a, b = _start(p_a, a_args, core=r % 2), _start(p_b, b_args, 1 - r % 2)
                    ratios.append(_cpu_of(a) / _cpu_of(b))
                row = {"n": n, "pair": f"{mine} / {theirs}", "ratios": ratios}
                # the geometric mean: with an even number of rounds each side spent as many
                # rounds on each core (one core can be the slower, by 20 % on this VM)
                row["mean"] = statistics.geometric_mean(ratios)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


def _start(
    project: Path, args: list[str], core: int, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    cmd = ["taskset", "-c", str(core), *_pytest_command(args)]
    env = _environment(extra_env)
    return subprocess.Popen(
        cmd, cwd=project, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )


def _cpu_of(proc: subprocess.Popen[bytes]) -> float:
    """The CPU seconds of ``proc`` once it ends (its own wait4 figures: the other process
    running beside it is not counted)."""
    usage = _wait(proc)
    if proc.returncode != 0:
        raise SystemExit(f"{proc.args!r} failed ({proc.returncode})")
    return usage.ru_utime + usage.ru_stime


def _wait(proc: subprocess.Popen[bytes]) -> resource.struct_rusage:
    """Wait for ``proc`` (killed after 7200 s, bounded like ``run``), set its return code,
    and give its own resource use from ``wait4``: with the children it waited for (its xdist
    workers), without any other process of ours."""
    timer = threading.Timer(7200, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage


def _clear(directory: Path | None, root: Path) -> None:
    """Make way for a first recording into ``directory``: move it into ``root``'s set-aside
    directory, deleted with the rest when the benchmark ends (``--delete-first``: delete it
    now). A file system without a journal (this VM's ext4) makes each new file walk past the
    inodes freed in the last minutes, so deleting thousands of files just before a recording
    makes that recording pay for the deletion (benchmarks/README.md, "Figures after the
    fifteenth issue-20 session"); a first recording of a project is not preceded by that."""
    if directory is None or not directory.exists():
        return
    if DELETE_FIRST:
        shutil.rmtree(directory)
        return
    aside = root / "set-aside"
    aside.mkdir(exist_ok=True)
    directory.rename(aside / str(next(_SET_ASIDE)))


_SET_ASIDE = itertools.count()


@contextlib.contextmanager
def _clock(clock: str) -> Iterator[None]:
    global CLOCK
    saved, CLOCK = CLOCK, clock
    try:
        yield
    finally:
        CLOCK = saved


COLUMNS = [
    "plain off",
    "plain installed",
    "plain on",
    "check syrupy",
    "check ours",
    "first record syrupy",
    "first record ours (1 run)",
    "record syrupy",
    "record ours (1 run)",
    "record ours (2 runs)",
    # with --with-json
    "check syrupy json",
    "first record syrupy json",
    "record syrupy json",
]


#: how each clock's figures are shown: a run, and the growth per added test
UNIT = {"cpu": "s", "wall": "s", "instructions": "G", "rss": "MiB"}
PER_TEST = {"cpu": "ms", "wall": "ms", "instructions": "million instructions", "rss": "KiB"}
SCALE = {"cpu": 1000.0, "wall": 1000.0, "instructions": 1000.0, "rss": 1024.0}


def table(rows: list[dict[str, object]]) -> str:
    columns = [c for c in COLUMNS if c in rows[0]]
    out = ["| mode | tests | " + " | ".join(columns) + " |", "|---|---|" + "---|" * len(columns)]
    for r in rows:
        cells = [f"{float(r[c]):.2f} {UNIT[CLOCK]}" for c in columns]  # type: ignore[arg-type]
        out.append(f"| {r['mode']} | {r['n']} | " + " | ".join(cells) + " |")
    out.append("")
    out.append(f"Growth per test ({PER_TEST[CLOCK]} per added test, between consecutive sizes):")
    out.append("")
    out.append("| mode | sizes | " + " | ".join(columns) + " |")
    out.append("|---|---|" + "---|" * len(columns))
    for mode in dict.fromkeys(r["mode"] for r in rows):
        mine = [r for r in rows if r["mode"] == mode]
        for a, b in itertools.pairwise(mine):
            dn = int(b["n"]) - int(a["n"])  # type: ignore[call-overload]
            cells = [
                f"{(float(b[c]) - float(a[c])) / dn * SCALE[CLOCK]:.3f}"  # type: ignore[arg-type]
                for c in columns
            ]
            out.append(f"| {mode} | {a['n']} -> {b['n']} | " + " | ".join(cells) + " |")
    out.append("")
    # (label, ours, theirs, theirs' name): syrupy's default, and its JSON extension if measured
    comparisons = [
        (label, mine, theirs + suffix, "syrupy" + suffix)
        for suffix in ("", " json")
        if f"check syrupy{suffix}" in columns
        for label, mine, theirs in COMPARED
    ]
    out.append("The issue's comparisons, per added test and for whole runs at each size:")
    out.append("")
    for mode in dict.fromkeys(r["mode"] for r in rows):
        mine = [r for r in rows if r["mode"] == mode]
        for a, b in itertools.pairwise(mine):
            dn = int(b["n"]) - int(a["n"])  # type: ignore[call-overload]

            def slope(
                c: str, a: dict[str, object] = a, b: dict[str, object] = b, dn: int = dn
            ) -> float:
                return (float(b[c]) - float(a[c])) / dn * SCALE[CLOCK]  # type: ignore[arg-type]

            against = ", ".join(
                f"{label} ours/{side} {slope(mine) / slope(theirs):.2f}x"
                for label, mine, theirs, side in comparisons
            )
            out.append(
                f"* {mode}, {a['n']} -> {b['n']}: plugin on adds "
                f"{slope('plain on') - slope('plain off'):.3f} {PER_TEST[CLOCK]} per plain test "
                f"(installed but unused: {slope('plain installed') - slope('plain off'):.3f}); "
                f"{against}"
            )
        for r in mine:

            def ratio(x: str, y: str, r: dict[str, object] = r) -> float:
                return float(r[x]) / float(r[y])  # type: ignore[arg-type]

            against = ", ".join(
                f"{label} ours/{side} {ratio(mine, theirs):.2f}x"
                for label, mine, theirs, side in comparisons
            )
            out.append(
                f"* {mode}, whole runs of {r['n']}: {against}, plugin on/off "
                f"{ratio('plain on', 'plain off'):.2f}x, installed but unused/off "
                f"{ratio('plain installed', 'plain off'):.2f}x"
            )
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["serial", "xdist"])
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall", "instructions", "rss"],
        default="cpu",
        help="cpu: user+system seconds of the pytest processes (default); wall: elapsed; "
        "instructions: counted by valgrind (deterministic, about 20x slower); rss: peak "
        "resident memory of the run's largest process (MiB)",
    )
    parser.add_argument(
        "--paired",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="instead of the table: ours and syrupy at the same time, one per core, ROUNDS "
        "rounds per pair and size (serial; even: each side as often on each core); prints each "
        "round's CPU ratio and their geometric mean",
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="make the projects in DIR (default: the system's temporary directory), e.g. a "
        "tmpfs such as /dev/shm to leave the disk's file system out of the figures",
    )
    parser.add_argument(
        "--with-json",
        action="store_true",
        help="also syrupy with its JSON extension (one snapshot file per test, the layout of "
        "ours) beside its default amber files (one per test module)",
    )
    parser.add_argument(
        "--delete-first",
        action="store_true",
        help="delete the previous files just before each first recording (default: set them "
        "aside until the benchmark ends; see _clear)",
    )
    args = parser.parse_args()
    global CLOCK, ROOT, DELETE_FIRST
    ROOT, DELETE_FIRST = args.root, args.delete_first
    if args.paired:
        for row in paired(args.sizes, args.paired, args.with_json):
            ratios = ", ".join(f"{r:.3f}" for r in row["ratios"])  # type: ignore[attr-defined]
            print(f"{row['n']} tests, {row['pair']}: {row['mean']:.3f} ({ratios})")
        return
    CLOCK = args.clock
    print(f"figures: {CLOCK} ({UNIT[CLOCK]} per run)", flush=True)
    rows = measure(args.sizes, args.repeat, args.modes, args.with_json)
    print()
    print(textwrap.dedent(table(rows)))


if __name__ == "__main__":
    main()
