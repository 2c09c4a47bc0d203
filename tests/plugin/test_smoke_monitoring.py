"""The smoke suite's Prometheus checks (tests/smoke/test_monitoring.py) pass against a healthy
deployment with its Prometheus, and fail, naming the evidence, when the monitoring is broken:
counters that never reach Prometheus (metrics_frozen), a pipeline alert rule not loaded, and a
pipeline alert firing. The unchanged smoke suite runs in a pytester project against
``docservice up --with-prometheus``. Without a prometheus_url the checks skip saying what was
not checked: test_smoke_real_services.py shows that in a run it already makes."""

from __future__ import annotations

import re
import shutil

import pytest
from plugin_support import REPO, run_smoke, smoke_project, verdict_failures

PYPROJECT = """
[tool.pytest.ini_options]
asyncio_mode = "strict"
asyncio_default_fixture_loop_scope = "function"

[tool.deployverify]
default_env = "local"

[tool.deployverify.envs.local]
launch = "{{python}} -m docservice up --ready-file {{ready_file}} {args}"
launch_secrets = {{ DOCSERVICE_API_TOKENS = "api_token", DOCSERVICE_WEBHOOK_SECRET = "webhook_secret" }}
auth = "bearer:api_token"
"""

BROKEN_EXTRA = """
      - alert: DocserviceAlwaysFiring
        expr: vector(1)
        labels:
          severity: warning
          pipeline: docservice
        annotations:
          summary: "fires from the first evaluation on"
"""

pytestmark = pytest.mark.slow


def _project(pytester: pytest.Pytester, args: str) -> None:
    smoke_project(pytester, PYPROJECT.format(args=args))
    shutil.copytree(REPO / "monitoring", pytester.path / "monitoring")


def _monitoring_checks(verdict: dict) -> dict[str, dict]:
    return {c["name"]: c for c in verdict["checks"] if c["name"].startswith("component:monitoring")}


@pytest.fixture
def needs_prometheus() -> None:
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed (Debian package 'prometheus')")


def test_a_monitored_healthy_deployment_passes_every_monitoring_check(
    pytester: pytest.Pytester, needs_prometheus: None
) -> None:
    _project(pytester, "--with-prometheus")
    result, verdict = run_smoke(pytester, "tests/smoke/test_monitoring.py")
    assert verdict_failures(verdict) == [], result.stdout.str()[-3000:]
    checks = _monitoring_checks(verdict)
    assert {name: c["outcome"] for name, c in checks.items()} == {
        "component:monitoring": "pass",
        "component:monitoring:prometheus-target": "pass",
        "component:monitoring:prometheus-rules": "pass",
        "component:monitoring:prometheus-counters": "pass",
        "component:monitoring:prometheus-alerts": "pass",
    }
    assert "Prometheus not checked" not in checks["component:monitoring"]["message"]
    assert re.search(
        r"-> \d+\.0 [\d.]+ s after canary",
        checks["component:monitoring:prometheus-counters"]["message"],
    )


def test_broken_monitoring_fails_each_check_with_its_evidence(
    pytester: pytest.Pytester, needs_prometheus: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """metrics_frozen, a rules file without DocserviceJobStuck and with an always-firing
    pipeline alert: the counters, rules and alerts checks fail naming what they saw; the scrape
    target is still up."""
    text = (REPO / "monitoring" / "prometheus" / "rules.yml").read_text(encoding="utf-8")
    start = text.index("      - alert: DocserviceJobStuck")
    end = text.index("      - alert: DocserviceJobFailureRateHigh")
    broken = text[:start] + text[end:]
    broken = broken.replace(
        "  - name: deployverify-alerts",
        BROKEN_EXTRA.lstrip("\n") + "\n  - name: deployverify-alerts",
    )
    rules = pytester.path / "broken-rules.yml"
    rules.write_text(broken, encoding="utf-8")
    _project(pytester, f"--with-prometheus --fault metrics_frozen --prometheus-rules {rules}")
    # this Prometheus scrapes every second: 10 s is ten chances for the frozen counters
    monkeypatch.setenv("SMOKE_PROMETHEUS_BUDGET_S", "10")
    result, verdict = run_smoke(pytester, "tests/smoke/test_monitoring.py")
    assert verdict["verdict"] == "fail", result.stdout.str()[-3000:]
    checks = _monitoring_checks(verdict)
    assert checks["component:monitoring:prometheus-target"]["outcome"] == "pass"
    rules_check = checks["component:monitoring:prometheus-rules"]
    assert rules_check["outcome"] == "fail"
    assert "alert rules not loaded: ['DocserviceJobStuck']" in rules_check["message"]
    counters = checks["component:monitoring:prometheus-counters"]
    assert counters["outcome"] == "fail"
    assert re.search(
        r"sum\(docservice_jobs_completed_total\{job=\"docservice\"\}\) still 0\.0 \(was 0\.0\) "
        r"[\d.]+ s after canary \S+ completed: Prometheus does not see the deployment's counters",
        counters["message"],
    ), counters["message"]
    alerts = checks["component:monitoring:prometheus-alerts"]
    assert alerts["outcome"] == "fail"
    assert "pipeline alerts firing: [{" in alerts["message"]
    assert "'alertname': 'DocserviceAlwaysFiring'" in alerts["message"]
    failed = {nodeid.split("::")[-1] for nodeid, _ in verdict_failures(verdict)}
    assert {
        "test_the_pipeline_alert_rules_are_loaded",
        "test_the_canary_reaches_prometheus_and_no_alert_fires",
        "test_a_canary_moves_the_counters",
    } <= failed, failed
