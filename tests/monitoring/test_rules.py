"""monitoring/prometheus/rules.yml is valid, its unit tests pass, and every alert has a test
where it fires, one where it stays silent, a runbook entry and a line in docs/monitoring.md."""

from __future__ import annotations

import re
import subprocess

import pytest
from monitoring_support import REPO, RULE_TESTS, RULES, alert_names, load_yaml, promtool, rules


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, cwd=REPO)


def test_promtool_accepts_the_rules() -> None:
    result = _run(promtool(), "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules())} rules found" in result.stdout, result.stdout


def test_the_example_prometheus_config_is_valid() -> None:
    example = RULES.parent / "prometheus.example.yml"
    result = _run(promtool(), "check", "config", str(example))
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_unit_tests_pass() -> None:
    assert RULE_TESTS, "no promtool unit tests under monitoring/prometheus/tests/"
    result = _run(promtool(), "test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("SUCCESS") == len(RULE_TESTS), result.stdout


def test_promtool_unit_tests_can_fail(tmp_path) -> None:
    """A rule that never fires makes its firing test fail: the unit tests do test the rules."""
    text = RULES.read_text(encoding="utf-8")
    broken = text.replace("expr: max(docservice_workers_alive) < 1", "expr: vector(0) > 1")
    assert broken != text
    (tmp_path / "prometheus").mkdir()
    (tmp_path / "prometheus" / "rules.yml").write_text(broken, encoding="utf-8")
    tests = tmp_path / "prometheus" / "tests"
    tests.mkdir()
    for path in RULE_TESTS:
        (tests / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    result = _run(promtool(), "test", "rules", *map(str, sorted(tests.glob("*.yml"))))
    assert result.returncode != 0
    assert "alertname: DocserviceNoWorker" in result.stdout + result.stderr


def _unit_test_cases() -> dict[str, dict[str, int]]:
    """alert -> {"firing": n, "silent": n} over every alert_rule_test in the unit tests."""
    seen: dict[str, dict[str, int]] = {}
    for path in RULE_TESTS:
        for case in load_yaml(path)["tests"]:
            for check in case.get("alert_rule_test") or []:
                kind = "firing" if check.get("exp_alerts") else "silent"
                counts = seen.setdefault(check["alertname"], {"firing": 0, "silent": 0})
                counts[kind] += 1
    return seen


@pytest.mark.parametrize("alert", alert_names())
def test_every_alert_has_a_firing_and_a_silent_unit_test(alert: str) -> None:
    counts = _unit_test_cases().get(alert, {"firing": 0, "silent": 0})
    assert counts["firing"] >= 1 and counts["silent"] >= 1, (
        f"{alert}: {counts['firing']} unit test(s) where it fires, {counts['silent']} where it "
        "stays silent; add both to monitoring/prometheus/tests/"
    )


@pytest.mark.parametrize("alert", alert_names())
def test_every_alert_has_its_runbook_entry_and_docs(alert: str) -> None:
    rule = next(r for r in rules() if r.get("alert") == alert)
    annotations = rule.get("annotations") or {}
    assert {"summary", "description", "runbook_url"} <= set(annotations), annotations
    assert rule.get("labels", {}).get("severity") in ("critical", "warning"), rule
    url = annotations["runbook_url"]
    assert url == f"docs/runbook.md#{alert.lower()}", url
    runbook = (REPO / "docs" / "runbook.md").read_text(encoding="utf-8")
    assert re.search(rf"^#+ {alert}\s*$", runbook, re.M), f"docs/runbook.md has no '## {alert}'"
    monitoring = (REPO / "docs" / "monitoring.md").read_text(encoding="utf-8")
    assert f"runbook.md#{alert.lower()}" in monitoring, f"docs/monitoring.md does not link {alert}"
