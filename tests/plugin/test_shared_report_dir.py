"""Two runs sharing a report directory: events.jsonl has no torn or mixed lines, and every
line names the run that wrote it (issue 12)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Each run's test announces itself, then waits (bounded) until the other run's test is
# running too: both runs are writing the events file at the same time, deterministically.
RENDEZVOUS = """
import os, pathlib, time, pytest

@pytest.mark.parametrize("n", range(20))
def test_many(api, n):
    assert api.get("/healthz").status_code == 200

def test_meet():
    me = os.environ["DV_RUN_NAME"]
    other = "b" if me == "a" else "a"
    here = pathlib.Path(os.environ["DV_MEET_DIR"])
    (here / f"ready-{me}").write_text("x")
    deadline = time.monotonic() + 120
    while not (here / f"ready-{other}").exists():
        assert time.monotonic() < deadline, "the other run never started"
        time.sleep(0.05)
"""


def test_parallel_runs_share_events_file_without_torn_lines(project, alt, tmp_path):
    project.alt(alt)
    project.tests(RENDEZVOUS)
    report_dir = tmp_path / "shared-reports"
    procs = []
    for name in ("a", "b"):
        env = dict(os.environ, DV_RUN_NAME=name, DV_MEET_DIR=str(tmp_path))
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-p",
                    "no:cacheprovider",
                    "-q",
                    "--report-dir",
                    str(report_dir),
                ],
                cwd=project.pytester.path,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
        )
    outputs = [p.communicate(timeout=300)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    lines = (report_dir / "events.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]  # every line parses: none torn or mixed
    runs = {r["run"] for r in records}
    assert len(runs) == 2 and all(r["run"] for r in records)
    for run in runs:
        mine = [r for r in records if r["run"] == run]
        events = [r["event"] for r in mine]
        assert events[0] == "session_start" and events[-1] == "session_end"
        assert events.count("test") == 21
        assert [r["seq"] for r in mine] == list(range(1, len(mine) + 1))


def test_a_new_run_alone_starts_a_fresh_events_file(project, alt):
    project.alt(alt)
    project.tests("def test_ok(api):\n    assert api.get('/healthz').status_code == 200\n")
    report_dir = project.pytester.path / "again"
    project.run("--report-dir=again").assert_outcomes(passed=1)
    first = {json.loads(x)["run"] for x in (report_dir / "events.jsonl").read_text().splitlines()}
    project.run("--report-dir=again").assert_outcomes(passed=1)
    second = {json.loads(x)["run"] for x in (report_dir / "events.jsonl").read_text().splitlines()}
    assert len(first) == 1 and len(second) == 1 and first != second
