"""The browser check: a failing run's HTML report rendered in headless Chromium.

Chromium comes from the system packages (scripts/ensure-system-deps.sh, which `make test`
runs first); without it these tests skip and say why.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from plugin_support import ALT_KEY, REPO

SCRIPT = REPO / "scripts" / "screenshot_report.py"

# A failing run: the worker is down (a critical component check), a critical test fails,
# and timings are recorded (no baseline here, so they are inconclusive).
FAILING = """
import pytest

@pytest.mark.critical
def test_health(api, component_check, timings):
    r = api.get("/healthz")
    timings.record("health.request", r.elapsed.total_seconds())
    component_check("api", "pass", observed={"status": r.status_code}, message="GET /healthz answered")
    component_check("worker", "fail", observed={"status": "down", "heartbeat_age_s": 412},
                    rule="worker heartbeat younger than 30 s", message="no heartbeat for 412 s")
    component_check("database", "pass", observed={"latency_ms": 2}, message="database answered")

def test_upload_speed(api, timings):
    for _ in range(5):
        timings.record("upload.accept", api.get("/healthz").elapsed.total_seconds())
        timings.record("parser.call", 0.3, group="external")

@pytest.mark.critical
def test_critical(api):
    api.get("/healthz")
    assert False, "critical failure: the pipeline stalled at embedding_queued"
"""


def _load_script():
    spec = importlib.util.spec_from_file_location("screenshot_report", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is created
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def shots():
    """The screenshot script as a module, and the Chromium it found (skip when absent)."""
    module = _load_script()
    chromium = module.find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed: run `bash scripts/ensure-system-deps.sh` (as root)")
    return module, chromium


@pytest.fixture
def failing_report(project, alt) -> Path:
    """The HTML report of a failing inner run (critical failure, worker down)."""
    project.alt(alt)
    project.tests(FAILING)
    result = project.run("--html=reports/report.html", "--self-contained-html")
    # a failed component check is a failed check (the verdict fails), not a failed test
    result.assert_outcomes(passed=2, failed=1)
    report = project.pytester.path / "reports" / "report.html"
    assert ALT_KEY not in report.read_text(encoding="utf-8")
    return report


def test_failing_report_loads_without_script_errors_and_shows_the_banner(shots, failing_report):
    module, chromium = shots
    page = module.check_page(chromium, failing_report)
    assert page.script_errors == []
    assert page.ok, page.problems
    # after the scripts ran: the banner sits right under the title, before pytest-html's parts
    assert 'id="dv-banner"' in page.dom and 'data-verdict="fail"' in page.dom
    assert page.dom.find('id="dv-banner"') < page.dom.find('id="environment-header"')
    assert "NOT WORKING" in page.dom  # the worker row
    saved = module.shoot_report(chromium, failing_report, failing_report.parent)
    for path in saved.values():
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    assert sorted(p.name for p in failing_report.parent.glob("*.png")) == [
        "report-performance.png",
        "report-top.png",
    ]


def test_script_error_detection_fires(shots, tmp_path):
    module, chromium = shots
    broken = tmp_path / "broken.html"
    broken.write_text(
        "<html><body><h1 id='title'>x</h1><div id='dv-banner'>FAIL</div>"
        "<script>thisFunctionDoesNotExist()</script></body></html>"
    )
    page = module.check_page(chromium, broken)
    assert page.script_errors and "thisFunctionDoesNotExist" in page.script_errors[0]
    assert not page.ok


def test_missing_banner_detection_fires(shots, tmp_path):
    module, chromium = shots
    plain = tmp_path / "plain.html"
    plain.write_text("<html><body><h1 id='title'>x</h1></body></html>")
    page = module.check_page(chromium, plain)
    assert page.script_errors == []
    assert any("banner" in p for p in page.problems)
    assert module.main([str(plain), "--out-dir", str(tmp_path / "shots")]) == 1
    assert (tmp_path / "shots" / "report-top.png").is_file()
    assert module.main([str(tmp_path / "nope.html")]) == 1
