"""The reports through pytest, as a user runs them: HTML (pytest-html), summary.md,
events.jsonl and the metrics textfile, serially and under xdist, with no secret in any of them.

Inner projects point at the in-thread alt service (tests/plugin/servers/altservice.py), whose
API key is a secret the reports must never show.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from plugin_support import ALT_KEY

from pytest_deployverify.report.events import read_events

# Three inner tests: one passes, one fails after making requests (the key travels in a header
# and the test prints it), one is critical and fails.
INNER = """
import pytest

def test_ok(api):
    assert api.get("/healthz").status_code == 200

def test_broken(api):
    r = api.get("/healthz")
    print("leaky debug output: key", __import__("os").environ["DV_TEST_ALT_KEY"])
    assert r.status_code == 500, "expected the health check to fail"

@pytest.mark.critical
def test_critical(api):
    api.get("/healthz")
    assert False, "critical failure"
"""

LINKS = """
[tool.deployverify.report]
correlation_urls = { logs = "https://logs.example.com/search?q={correlation_id}", traces = "https://trace.example.com/t/{correlation_id}" }
"""


def _all_outputs(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8", errors="replace")
        for p in (root / "reports").rglob("*")
        if p.is_file()
    }


def test_reports_written_without_html_and_without_secrets(project, alt, mode):
    project.alt(alt)
    project.tests(INNER)
    result = project.run(*mode)
    result.assert_outcomes(passed=1, failed=2)
    root = project.pytester.path
    assert (root / "reports" / "summary.md").is_file()
    events = read_events(root / "reports" / "events.jsonl")
    kinds = [e["event"] for e in events]
    assert kinds[0] == "session_start" and kinds[-1] == "session_end"
    tests = {e["nodeid"].split("::")[-1]: e for e in events if e["event"] == "test"}
    assert tests["test_ok"]["outcome"] == "passed" and tests["test_broken"]["outcome"] == "failed"
    assert tests["test_critical"]["critical"] is True
    assert all(len(t["correlation_ids"]) == 1 for t in tests.values())
    changes = [e for e in events if e["event"] == "verdict_change"]
    assert changes and changes[-1]["to"] != "pass"
    assert tests["test_critical"]["message"] == "AssertionError: critical failure"
    md = (root / "reports" / "summary.md").read_text(encoding="utf-8")
    assert "**Verdict: FAIL**" in md and "Roll back this deployment" in md
    assert "(critical) test `test_inner.py::test_critical`: AssertionError: critical failure" in md
    assert tests["test_critical"]["correlation_ids"][0] in md
    assert not (root / "reports" / "report.html").exists()
    for name, text in _all_outputs(root).items():
        assert ALT_KEY not in text, name


def test_html_report_sections_and_correlation_links(project, alt, mode):
    project.alt(alt, extra=LINKS)
    project.tests(INNER)
    result = project.run(
        "--html=reports/report.html",
        "--self-contained-html",
        "--metrics-file=reports/dv.prom",
        *mode,
    )
    result.assert_outcomes(passed=1, failed=2)
    root = project.pytester.path
    page = (root / "reports" / "report.html").read_text(encoding="utf-8")
    assert 'id="dv-banner"' in page
    for section in (
        "dv-completeness",
        "dv-behaviour",
        'id="performance"',
        "dv-tests",
        "dv-signoff",
    ):
        assert section in page
    assert "Correlation IDs</th>" in page  # results-table column
    events = read_events(root / "reports" / "events.jsonl")
    cid = next(e for e in events if e["event"] == "test")["correlation_ids"][0]
    assert f"https://logs.example.com/search?q={cid}" in page
    assert f"https://trace.example.com/t/{cid}" in page
    assert "/healthz" in page  # request log
    assert "Deployment verification report: alt" in page
    for name, text in _all_outputs(root).items():
        assert ALT_KEY not in text, name


def test_metadata_table_is_redacted(project, alt):
    project.alt(alt)
    project.tests("def test_ok(api):\n    api.get('/healthz')\n")
    result = project.run(
        "--html=reports/report.html",
        "--self-contained-html",
        "--metadata",
        "Deploy token",
        f"Bearer {ALT_KEY}",
        "--metadata",
        "api_key",
        "plain-but-named-like-a-key",
    )
    result.assert_outcomes(passed=1)
    page = (project.pytester.path / "reports" / "report.html").read_text(encoding="utf-8")
    assert ALT_KEY not in page and "plain-but-named-like-a-key" not in page
    assert "Deploy token" in page  # the row stays, its value is redacted


def test_bad_correlation_template_is_one_clear_error(project, alt):
    project.alt(alt)
    project.tests("def test_ok():\n    pass\n")
    result = project.run("--correlation-url=https://logs.example.com/search?q={cid}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--correlation-url*must be a string containing {correlation_id}*"]
    )
    assert "Traceback" not in result.stderr.str()


def test_report_dir_option(project, alt):
    project.alt(alt)
    project.tests("def test_ok():\n    pass\n")
    project.run("--report-dir=out/dv").assert_outcomes(passed=1)
    root = project.pytester.path
    assert (root / "out" / "dv" / "summary.md").is_file()
    assert (root / "out" / "dv" / "events.jsonl").is_file()
    assert not (root / "reports" / "summary.md").exists()


BLOCKING = """
import os, time
from pathlib import Path

def test_a_fails(api):
    api.get("/healthz")
    assert False, "first failure"

def test_b_waits(api):
    api.get("/healthz")
    Path("waiting").write_text("1")
    deadline = time.monotonic() + 60
    while not Path("go").exists():
        assert time.monotonic() < deadline, "the outer test never released us"
        time.sleep(0.02)
"""


def test_event_stream_is_valid_json_lines_while_the_run_is_going(project, alt):
    """A real separate pytest process blocks mid-run; we read its stream like ``tail -f``."""
    project.alt(alt)
    project.tests(BLOCKING)
    root = project.pytester.path
    env = dict(os.environ)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while not (root / "waiting").exists():
            assert proc.poll() is None, proc.stdout.read().decode() if proc.stdout else ""
            assert time.monotonic() < deadline, "inner run never reached the blocking test"
            time.sleep(0.02)
        # mid-run: every line complete JSON, first failure already visible, no session_end
        lines = (root / "reports" / "events.jsonl").read_text(encoding="utf-8").splitlines()
        mid = [json.loads(line) for line in lines]
        kinds = [e["event"] for e in mid]
        assert kinds[0] == "session_start"
        assert "session_end" not in kinds
        first = next(e for e in mid if e["event"] == "test")
        assert first["nodeid"].endswith("test_a_fails") and first["outcome"] == "failed"
        change = [e for e in mid if e["event"] == "verdict_change"]
        assert change[-1]["to"] == "fail" and change[-1]["provisional"] is True
        (root / "go").write_text("1")
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    events = read_events(root / "reports" / "events.jsonl")
    assert events[: len(mid)] == mid  # appended, never rewritten
    assert events[-1]["event"] == "session_end"
    assert re.search(rb"1 failed, 1 passed", out), out.decode()


# Record a baseline from a good deployment, then verify a good one (pass) and a bad one
# (baseline mismatch, worker down, 10x slower, a critical failure). DV_REPORT_MODE switches.
SCENARIO = """
import os, time, pytest

MODE = os.environ.get("DV_REPORT_MODE", "good")
GOOD = MODE == "good"

@pytest.mark.perf
def test_speed(api, timings):
    api.get("/healthz")
    for _ in range(12):
        t0 = time.perf_counter()
        time.sleep(0.003 if GOOD else 0.03)
        timings.record("upload.accept", time.perf_counter() - t0)

def test_document(api, baseline, component_check):
    r = api.get("/healthz")
    component_check("api", "pass", observed={"status": r.status_code}, message="GET /healthz answered")
    component_check("worker", "pass" if GOOD else "fail",
                    observed={"heartbeat_age_s": 1 if GOOD else 412},
                    rule="heartbeat younger than 30 s",
                    message="heartbeat fresh" if GOOD else "no heartbeat for 412 s")
    doc = {"chunk_count": 4 if GOOD else 0,
           "embedding": {"model": "text-embedding-3-small" if GOOD else "mock-embed"}}
    baseline.check("document", doc)

@pytest.mark.critical
def test_critical(api):
    api.get("/healthz")
    assert GOOD, "critical failure: the pipeline stalled at embedding_queued"
"""


def _section(page: str, section_id: str) -> str:
    start = page.index(f'id="{section_id}"')
    end = page.find("</section>", start)
    return page[start:end]


@pytest.fixture
def recorded(project, alt, monkeypatch):
    """An inner project with a baseline recorded from the good deployment."""
    # a 3 ms -> 30 ms regression must count: lower the absolute floor (default 50 ms)
    project.alt(
        alt,
        # the parts this deployment should show in the completeness table
        extra_env='components = { api = "API", worker = "Background worker", '
        'monitoring = "Monitoring" }',
        extra=LINKS + "\n[tool.deployverify.perf]\nabs_floor_s = 0.005\n",
    )
    project.tests(SCENARIO)
    monkeypatch.setenv("DV_REPORT_MODE", "good")
    project.run("--record-baseline").assert_outcomes(passed=3)
    assert list((project.pytester.path / "baselines").rglob("*.json"))
    return project


HTML_ARGS = (
    "--html=reports/report.html",
    "--self-contained-html",
    "--metrics-file=reports/dv.prom",
)


def test_passing_run_sections(recorded, monkeypatch):
    monkeypatch.setenv("DV_REPORT_MODE", "good")
    recorded.run(*HTML_ARGS).assert_outcomes(passed=3)
    root = recorded.pytester.path
    page = (root / "reports" / "report.html").read_text(encoding="utf-8")
    verdict = json.loads((root / "reports" / "verdict.json").read_text(encoding="utf-8"))
    assert f'data-verdict="{verdict["verdict"]}"' in page
    assert verdict["verdict"] in ("pass", "inconclusive")  # timings may lack confidence
    comp = _section(page, "dv-completeness")
    assert re.search(r'data-component="worker">.*?working', comp, re.S)
    assert re.search(r'data-component="monitoring">.*?not checked', comp, re.S)
    behaviour = _section(page, "dv-behaviour")
    assert 'data-check="baseline:document"' in behaviour and 'data-outcome="pass"' in behaviour
    assert "Expected (baseline)" not in behaviour
    perf = _section(page, "performance")
    assert 'data-timing="upload.accept"' in perf and "<svg" in perf
    assert "FAILED" not in perf
    md = (root / "reports" / "summary.md").read_text(encoding="utf-8")
    assert "## Failures\n\nNone." in md
    assert ALT_KEY not in page + md


@pytest.mark.parametrize("xdist", [False, True], ids=["serial", "xdist"])
def test_failing_run_sections(recorded, monkeypatch, xdist):
    monkeypatch.setenv("DV_REPORT_MODE", "bad")
    args = (*HTML_ARGS, "-n", "2") if xdist else HTML_ARGS
    result = recorded.run(*args)
    result.assert_outcomes(passed=1, failed=2)
    root = recorded.pytester.path
    page = (root / "reports" / "report.html").read_text(encoding="utf-8")
    banner = page[page.index('id="dv-banner"') : page.index('class="dv-when"')]
    assert 'data-verdict="fail"' in banner and "Roll back this deployment" in banner
    # completeness: the worker is down, with its evidence
    comp = _section(page, "dv-completeness")
    worker = re.search(r'data-component="worker">(.*?)</tr>', comp, re.S).group(1)
    assert "NOT WORKING" in worker and "no heartbeat for 412 s" in worker and "412" in worker
    # behaviour: expected and observed side by side per path, with the rule
    behaviour = _section(page, "dv-behaviour")
    assert "Expected (baseline)" in behaviour and "Observed (this deployment)" in behaviour
    row = re.search(r"<tr><td>.*?chunk_count.*?</tr>", behaviour, re.S).group(0)
    assert "<pre>4</pre>" in row and "<pre>0</pre>" in row
    assert "mock-embed" in behaviour and "text-embedding-3-small" in behaviour
    # performance: the regression with its ratio and a chart
    perf = _section(page, "performance")
    timing = re.search(r'data-timing="upload.accept">(.*?)</tr>', perf, re.S).group(1)
    assert "FAILED" in timing and re.search(r"\d+\.\d\dx", timing)
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in perf
    # per test: the critical failure with its correlation ID linked
    tests = _section(page, "dv-tests")
    assert "critical failure: the pipeline stalled" in tests
    events = read_events(root / "reports" / "events.jsonl")
    crit = next(e for e in events if e["event"] == "test" and e["nodeid"].endswith("test_critical"))
    assert f"https://logs.example.com/search?q={crit['correlation_ids'][0]}" in tests
    # sign-off: the checksum of the verdict file on disk
    verdict_bytes = (root / "reports" / "verdict.json").read_bytes()
    import hashlib

    assert hashlib.sha256(verdict_bytes).hexdigest() in _section(page, "dv-signoff")
    # the stream: pass -> fail at the first failure, then the final verdict
    changes = [
        (e["from"], e["to"], e["provisional"]) for e in events if e["event"] == "verdict_change"
    ]
    # provisional pass at the first test, fail at the first failure; the final verdict agrees
    if not xdist:  # test_speed passes first; under xdist the order is the workers'
        assert changes[0] == (None, "pass", True) and ("pass", "fail", True) in changes
    assert changes[-1][1] == "fail"
    assert events[-1]["event"] == "session_end" and events[-1]["verdict"] == "fail"
    # summary.md and metrics say the same
    md = (root / "reports" / "summary.md").read_text(encoding="utf-8")
    assert "**Verdict: FAIL**" in md and "| Background worker | NOT WORKING |" in md
    assert "chunk_count" in md and "| upload.accept | own |" in md
    assert crit["correlation_ids"][0] in md
    prom = (root / "reports" / "dv.prom").read_text(encoding="utf-8")
    assert 'deployverify_verdict{verdict="fail",target="alt"} 1' in prom
    assert re.search(
        r'deployverify_timing_ratio\{timing="upload.accept",group="own",target="alt"\} \d', prom
    )
    for name, text in _all_outputs(root).items():
        assert ALT_KEY not in text, name
