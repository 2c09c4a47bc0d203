"""Cost per test: many tests and many small checks, plugin off / plugin on / syrupy.

One command, from the repository root::

    .venv/bin/python benchmarks/scale.py [--sizes 1000 4000 16000] [--repeat 3] [--modes serial xdist]

A plain project is generated per size in a temporary directory, with a trivial HTTP target on
loopback (``/health`` and ``/version``) defined as ``[tool.deployverify.envs.bench]``. Each
row is the CPU time (user + system, pytest and its xdist workers; ``--clock wall`` for elapsed
time) of one ``python -m pytest`` run (median of ``--repeat``), start-up included:

* plain tests (``def test_i(): pass``), plugin off (``-p no:deployverify``) vs plugin on
  (``--target-env bench``: the target is resolved and probed, every test gets evidence, the
  event stream, the provisional verdict, the verdict file and reports are written);
* one small check per test: ``baseline.check("value", {...})`` (compare mode, after a
  recording) vs syrupy's ``assert {...} == snapshot`` (after ``--snapshot-update``), both with
  the same values; and recording: ``--record-baseline --record-runs 1`` (one run per test,
  like syrupy) and the default ``--record-runs 2`` vs ``--snapshot-update``;
* serially and with ``-n 2`` (pytest-xdist).

The growth per test is the slope between the smallest and the largest size, in ms per test:
constant cost per test means the same slope between every pair of sizes.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
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


def make_project(root: Path, n: int, kind: str, url: str) -> Path:
    project = root / f"{kind}-{n}"
    tests = project / "tests"
    tests.mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT.format(url=url))
    per_module = 500
    for m in range(0, n, per_module):
        lines = []
        for i in range(m, min(n, m + per_module)):
            value = VALUE.format(i=i)
            if kind == "plain":
                lines.append(f"def test_{i}():\n    pass\n")
            elif kind == "ours":
                lines.append(f"def test_{i}(baseline):\n    baseline.check('value', {value})\n")
            else:  # syrupy
                lines.append(f"def test_{i}(snapshot):\n    assert {value} == snapshot\n")
        (tests / f"test_m{m // per_module:03d}.py").write_text("\n".join(lines))
    return project


#: what a row's figures are: "cpu" (user + system seconds of pytest and its xdist workers)
#: or "wall" (elapsed seconds); chosen with --clock
CLOCK = "cpu"


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def run(project: Path, args: list[str], expect_ok: bool = True) -> float:
    """Seconds one pytest run took, by ``CLOCK``.

    CPU time is the default because it is what the plugin adds and barely moves with other
    processes' load on a shared machine; wall time also counts waiting for a core.
    """
    cmd = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    # the dev venv's unrelated plugins (schemathesis imports hypothesis): seconds of start-up
    # in every run, the same on every side, which only blurs the figures
    cmd += ["-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio", *args]
    cpu_before, started = _children_cpu(), time.perf_counter()
    done = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=3600)
    elapsed, cpu = time.perf_counter() - started, _children_cpu() - cpu_before
    if expect_ok and done.returncode != 0:
        raise SystemExit(f"{cmd} in {project} failed ({done.returncode}):\n{done.stdout[-3000:]}")
    return cpu if CLOCK == "cpu" else elapsed


OURS_ON = ["--target-env", "bench"]
OFF = ["-p", "no:deployverify"]


def measure(sizes: list[int], repeat: int, modes: list[str]) -> list[dict[str, object]]:
    url = start_target()
    rows: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="dv-scale-") as tmp:
        root = Path(tmp)
        for mode in modes:
            par = ["-n", "2"] if mode == "xdist" else []
            for n in sizes:
                plain = make_project(root, n, "plain", url)
                ours = make_project(root, n, "ours", url)
                syr = make_project(root, n, "syrupy", url)
                row: dict[str, object] = {"mode": mode, "n": n}

                def timed(project: Path, args: list[str], par: list[str] = par) -> float:
                    return statistics.median(run(project, [*args, *par]) for _ in range(repeat))

                row["plain off"] = timed(plain, OFF)
                row["plain on"] = timed(plain, OURS_ON)
                # recording: both sides write every file from scratch each time
                row["record ours (1 run)"] = timed(
                    ours, [*OURS_ON, "--record-baseline", "--record-runs", "1"]
                )
                row["record ours (2 runs)"] = timed(ours, [*OURS_ON, "--record-baseline"])
                row["record syrupy"] = timed(syr, [*OFF, "--snapshot-update"])
                row["check ours"] = timed(ours, OURS_ON)
                row["check syrupy"] = timed(syr, OFF)
                rows.append(row)
                print(json.dumps(row), flush=True)
    return rows


COLUMNS = [
    "plain off",
    "plain on",
    "check syrupy",
    "check ours",
    "record syrupy",
    "record ours (1 run)",
    "record ours (2 runs)",
]


def table(rows: list[dict[str, object]]) -> str:
    out = ["| mode | tests | " + " | ".join(COLUMNS) + " |", "|---|---|" + "---|" * len(COLUMNS)]
    for r in rows:
        cells = [f"{float(r[c]):.2f} s" for c in COLUMNS]  # type: ignore[arg-type]
        out.append(f"| {r['mode']} | {r['n']} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("Growth per test (ms per added test, between consecutive sizes):")
    out.append("")
    out.append("| mode | sizes | " + " | ".join(COLUMNS) + " |")
    out.append("|---|---|" + "---|" * len(COLUMNS))
    for mode in dict.fromkeys(r["mode"] for r in rows):
        mine = [r for r in rows if r["mode"] == mode]
        for a, b in itertools.pairwise(mine):
            dn = int(b["n"]) - int(a["n"])  # type: ignore[call-overload]
            cells = [
                f"{(float(b[c]) - float(a[c])) / dn * 1000:.3f}"  # type: ignore[arg-type]
                for c in COLUMNS
            ]
            out.append(f"| {mode} | {a['n']} -> {b['n']} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 4000, 16000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", nargs="+", default=["serial", "xdist"])
    parser.add_argument(
        "--clock",
        choices=["cpu", "wall"],
        default="cpu",
        help="cpu: user+system seconds of the pytest processes (default); wall: elapsed",
    )
    args = parser.parse_args()
    global CLOCK
    CLOCK = args.clock
    print(f"figures in {CLOCK} seconds", flush=True)
    rows = measure(args.sizes, args.repeat, args.modes)
    print()
    print(textwrap.dedent(table(rows)))


if __name__ == "__main__":
    main()
