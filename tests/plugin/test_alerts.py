"""Alerts: a local Slack-like webhook receiver gets the first failure at once and the summary
at the end; a dead or silent endpoint is recorded and never fails or hangs the run."""

from __future__ import annotations

import socket
import textwrap

import pytest
from verdict_support import dead_url, load_verdict, webhook_receiver

from pytest_deployverify.alerts import Alerter

FAILING = """
import pytest
@pytest.mark.critical
def test_upload(request):
    from pytest_deployverify.evidence import EVIDENCE_KEY
    request.node.stash[EVIDENCE_KEY].add_correlation_id("cid-upload-1")
    assert False, "upload refused, Authorization: Bearer s3cr3t-t0ken-value"
def test_later(): pass
"""
PASSING = "def test_a(): pass\n"


def run(pytester: pytest.Pytester, source: str, *args: str) -> pytest.RunResult:
    pytester.makepyfile(test_inner=textwrap.dedent(source))
    return pytester.runpytest("-p", "no:cacheprovider", "--verdict-file", "v.json", *args)


def test_first_failure_and_summary_reach_the_webhook(pytester: pytest.Pytester) -> None:
    with webhook_receiver() as hook:
        result = run(pytester, FAILING, "--alert-webhook", hook.url)
        assert hook.kinds() == ["first_failure", "summary"]
        first, summary = hook.received
    assert result.ret == 1
    # Slack-compatible: text plus a section block
    assert "first failure" in first["text"] and "test_inner.py::test_upload" in first["text"]
    assert first["blocks"][0]["type"] == "section"
    f = first["deployverify"]
    assert (f["nodeid"], f["critical"], f["outcome"]) == (
        "test_inner.py::test_upload",
        True,
        "failed",
    )
    assert f["correlation_ids"] == ["cid-upload-1"]
    assert f["report"]["verdict"].endswith("v.json")
    s = summary["deployverify"]
    assert (s["verdict"], s["recommendation"]) == ("fail", "roll_back")
    assert "FAIL" in summary["text"] and "roll back" in summary["text"]
    assert s["failing_checks"][0]["nodeid"] == "test_inner.py::test_upload"
    assert s["correlation_ids"] == ["cid-upload-1"]
    assert s["report"]["summary"].endswith("summary.md")
    # no secret in any payload, and the webhook's secret path is never written down
    for payload in (first, summary):
        assert "s3cr3t-t0ken-value" not in str(payload)
    text = (pytester.path / "v.json").read_text()
    assert "XXXXsecretpath" not in text and "XXXXsecretpath" not in result.stdout.str()
    data = load_verdict(pytester.path / "v.json")
    assert [(a["kind"], a["ok"], a["status"]) for a in data["alerts"]] == [
        ("first_failure", True, 200),
        ("summary", True, 200),
    ]


def test_passing_run_sends_only_the_summary_from_the_environment(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    with webhook_receiver() as hook:
        monkeypatch.setenv("DEPLOYVERIFY_ALERT_WEBHOOK", hook.url)
        result = run(pytester, PASSING)
        assert hook.kinds() == ["summary"]
        assert hook.received[0]["deployverify"]["verdict"] == "pass"
    assert result.ret == 0


def test_no_webhook_no_alerts(pytester: pytest.Pytester) -> None:
    with webhook_receiver() as hook:
        run(pytester, FAILING)
        assert hook.received == []
    assert load_verdict(pytester.path / "v.json")["alerts"] == []


def test_dead_endpoint_is_reported_and_does_not_change_the_result(
    pytester: pytest.Pytester,
) -> None:
    result = run(pytester, PASSING, "--alert-webhook", dead_url())
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*WARNING: summary alert to 127.0.0.1:* not delivered (*); the run's result is unaffected"]
    )
    (alert,) = load_verdict(pytester.path / "v.json")["alerts"]
    assert alert["ok"] is False and alert["status"] is None
    assert "refused" in alert["error"].lower()
    assert alert["attempts"] == 3  # one try and two retries


def test_dead_endpoint_on_a_failing_run_keeps_the_failure(pytester: pytest.Pytester) -> None:
    result = run(pytester, FAILING, "--alert-webhook", dead_url())
    assert result.ret == 1
    alerts = load_verdict(pytester.path / "v.json")["alerts"]
    assert [(a["kind"], a["ok"]) for a in alerts] == [("first_failure", False), ("summary", False)]


def test_server_error_is_retried(pytester: pytest.Pytester) -> None:
    with webhook_receiver() as hook:
        hook.statuses = [503]
        run(pytester, PASSING, "--alert-webhook", hook.url)
        assert hook.kinds() == ["summary", "summary"]
    (alert,) = load_verdict(pytester.path / "v.json")["alerts"]
    assert (alert["ok"], alert["status"], alert["attempts"]) == (True, 200, 2)


def test_client_error_is_not_retried(pytester: pytest.Pytester) -> None:
    with webhook_receiver() as hook:
        hook.statuses = [404]
        run(pytester, PASSING, "--alert-webhook", hook.url)
        assert hook.kinds() == ["summary"]
    (alert,) = load_verdict(pytester.path / "v.json")["alerts"]
    assert (alert["ok"], alert["status"], alert["attempts"]) == (False, 404, 1)


def test_bad_webhook_url_is_a_usage_error(pytester: pytest.Pytester) -> None:
    result = run(pytester, PASSING, "--alert-webhook", "hooks.example.com/x")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--alert-webhook: the alert webhook must be an http(s) URL*"])


def test_silent_endpoint_is_bounded_by_timeout_retries_and_deadline() -> None:
    # accepts connections, never answers: every attempt times out
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
        alerter = Alerter(url, timeout=0.2, retries=2, backoff=0.01, deadline=0.5)
        result = alerter.send("summary", {"text": "x"})
    assert result.ok is False
    assert "timed out" in (result.error or "").lower()
    assert 1 <= result.attempts <= 3
    assert result.duration_s < 2.0  # the deadline (0.5 s) plus one attempt's timeout, at most
