"""Slack-compatible webhook alerts: the first failure at once, the verdict at session end.

Payload (JSON POST): ``{"text": ..., "blocks": [...], "deployverify": {...}}``. ``text`` and
``blocks`` are what a Slack (or Mattermost, Teams-via-Slack-format) incoming webhook shows;
``deployverify`` carries the structured fields (kind, verdict, recommendation, reason, target,
failing checks, correlation IDs, report locations) for any other receiver.

Delivery is bounded: each attempt has a timeout (default 3 s), failed attempts are retried
(default 2 retries, short backoff) only for connection errors, 429 and 5xx, and every alert
has an overall deadline. A dead endpoint is recorded (``results``) and reported as a terminal
warning; it never fails or hangs the run. The first-failure alert goes out on a background
thread so the tests keep running while it is delivered.

Nothing secret leaves: the payload goes through ``redact.redact_value`` with the target's
secrets, and the webhook URL itself (Slack's carries a token) is never written anywhere;
results name only its host.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pytest_deployverify.evidence import Finding

T = TypeVar("T")
TEXT_LIMIT = 2900  # Slack's section text limit is 3000 characters
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
WORDS = {"pass": "PASS", "fail": "FAIL", "inconclusive": "INCONCLUSIVE"}
ACTIONS = {"promote": "promote", "hold": "hold", "roll_back": "roll back"}


@dataclass
class AlertResult:
    """How one alert's delivery went (no URL: it may carry a token)."""

    kind: str
    ok: bool
    status: int | None = None
    error: str | None = None
    attempts: int = 0
    duration_s: float = 0.0
    endpoint: str = ""  # host:port only

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def endpoint_of(url: str) -> str:
    """host[:port] of the webhook: enough to say which endpoint, never its secret path."""
    try:
        return urlsplit(url).netloc.rsplit("@", 1)[-1] or "?"
    except ValueError:
        return "?"


def _truncate(text: str, limit: int = TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Alerter:
    """Sends alerts to one webhook; keeps each delivery's result for the verdict file."""

    def __init__(
        self,
        url: str,
        *,
        secrets: Sequence[str] = (),
        timeout: float = 3.0,
        retries: int = 2,
        backoff: float = 0.25,
        deadline: float = 10.0,
        run_id: str | None = None,
    ) -> None:
        self._url = url
        #: in every payload and its text, to match an alert to the pipeline log and reports
        self.run_id = run_id
        self._secrets = list(secrets)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.deadline = deadline
        self.endpoint = endpoint_of(url)
        self.results: list[AlertResult] = []
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self.first_failure_sent = False

    # ---------------------------------------------------------------- payloads

    def _redact(self, obj: T) -> T:
        from pytest_deployverify.redact import redact_value

        return redact_value(obj, self._secrets)

    def payload(self, kind: str, text: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """The JSON body: Slack ``text``/``blocks`` plus structured ``deployverify`` fields."""
        if self.run_id:
            text = f"{text}\nrun ID: {self.run_id}"
            fields = {"run_id": self.run_id, **fields}
        body = {
            "text": _truncate(text),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": _truncate(text)}}],
            "deployverify": {"kind": kind, **fields},
        }
        return self._redact(body)

    # ---------------------------------------------------------------- delivery

    def send(self, kind: str, body: Mapping[str, Any]) -> AlertResult:
        """POST ``body``, bounded by timeout, retries and the overall deadline."""
        data = json.dumps(body, default=str).encode("utf-8")
        result = AlertResult(kind=kind, ok=False, endpoint=self.endpoint)
        started = time.monotonic()
        for attempt in range(1, self.retries + 2):
            result.attempts = attempt
            remaining = self.deadline - (time.monotonic() - started)
            if remaining <= 0:
                result.error = result.error or "deadline exceeded"
                break
            request = urllib.request.Request(
                self._url,
                data=data,
                method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "pytest-deployverify"},
            )
            retry = False
            try:
                with urllib.request.urlopen(request, timeout=min(self.timeout, remaining)) as resp:
                    result.status = resp.status
                    result.ok = 200 <= resp.status < 300
                    result.error = None if result.ok else f"HTTP {resp.status}"
            except urllib.error.HTTPError as exc:
                result.status, result.error = exc.code, f"HTTP {exc.code} {exc.reason}"
                retry = exc.code in RETRY_STATUSES
            except (urllib.error.URLError, OSError, ValueError) as exc:
                reason = getattr(exc, "reason", exc)
                result.status, result.error = None, f"{type(exc).__name__}: {reason}"
                retry = True
            if result.ok or not retry:
                break
            if attempt <= self.retries:
                time.sleep(
                    min(
                        self.backoff * attempt,
                        max(0.0, self.deadline - (time.monotonic() - started)),
                    )
                )
        result.duration_s = round(time.monotonic() - started, 3)
        if result.error:
            # the error text never carries the URL, but be sure: only the host may show
            result.error = result.error.replace(self._url, self.endpoint)
            from pytest_deployverify.redact import redact_text

            result.error = redact_text(result.error, self._secrets)
        with self._lock:
            self.results.append(result)
        return result

    def send_in_background(self, kind: str, body: Mapping[str, Any]) -> None:
        thread = threading.Thread(
            target=self.send, args=(kind, body), name=f"deployverify-alert-{kind}", daemon=True
        )
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait (bounded) for background deliveries; a stuck one is recorded as such."""
        limit = time.monotonic() + (self.deadline + 1.0 if timeout is None else timeout)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, limit - time.monotonic()))
            if thread.is_alive():
                kind = thread.name.removeprefix("deployverify-alert-")
                with self._lock:
                    self.results.append(
                        AlertResult(
                            kind,
                            False,
                            error="still sending at session end",
                            endpoint=self.endpoint,
                        )
                    )

    # ---------------------------------------------------------------- the two alerts

    def first_failure(
        self,
        *,
        nodeid: str,
        outcome: str,
        critical: bool,
        message: str,
        correlation_ids: Sequence[str],
        failing_checks: Sequence[Mapping[str, Any]],
        target: Mapping[str, Any],
        reports: Mapping[str, Any],
    ) -> None:
        """Alert at once (background thread) about the run's first failing test."""
        with self._lock:
            if self.first_failure_sent:
                return
            self.first_failure_sent = True
        what = "errored" if outcome == "error" else "failed"
        label = "critical test" if critical else "test"
        where = target.get("name") or target.get("base_url") or "the target"
        text = (
            f":rotating_light: deployverify: first failure on {where}: {label} `{nodeid}` {what}"
            + (f"\n>{message}" if message else "")
            + (f"\ncorrelation IDs: {', '.join(correlation_ids[:5])}" if correlation_ids else "")
            + (f"\nreport: {reports.get('html') or reports.get('summary')}" if reports else "")
        )
        fields = {
            "verdict": "fail" if critical else None,
            "nodeid": nodeid,
            "outcome": outcome,
            "critical": critical,
            "message": message,
            "failing_checks": list(failing_checks),
            "correlation_ids": list(correlation_ids),
            "target": dict(target),
            "report": dict(reports),
        }
        self.send_in_background("first_failure", self.payload("first_failure", text, fields))

    def summary(self, verdict: Mapping[str, Any]) -> AlertResult:
        """Alert with the verdict at session end (waits for the first-failure alert first)."""
        self.wait()
        fields = summary_fields(verdict)
        word = WORDS.get(str(verdict.get("verdict")), str(verdict.get("verdict")).upper())
        action = ACTIONS.get(str(verdict.get("recommendation")), verdict.get("recommendation"))
        target = verdict.get("target") or {}
        where = target.get("name") or target.get("base_url") or "the target"
        lines = [f"deployverify verdict on {where}: *{word}* -> {action}: {verdict.get('reason')}"]
        c = verdict.get("counts") or {}
        lines.append(
            f"tests: {c.get('passed', 0)} passed, {c.get('failed', 0)} failed, "
            f"{c.get('errors', 0)} errors, {c.get('skipped', 0)} skipped"
        )
        for check in fields["failing_checks"][:5]:
            lines.append(f"- {check.get('nodeid')}: {check.get('name') or check.get('outcome')}")
        if fields["correlation_ids"]:
            lines.append(f"correlation IDs: {', '.join(fields['correlation_ids'][:10])}")
        reports = fields["report"]
        if reports.get("html") or reports.get("summary"):
            lines.append(f"report: {reports.get('html') or reports.get('summary')}")
        return self.send("summary", self.payload("summary", "\n".join(lines), fields))

    def rollback(self, verdict: Mapping[str, Any], rollback: Mapping[str, Any]) -> AlertResult:
        """Alert with the rollback gate's outcome (after the summary)."""
        restored = bool(rollback.get("restored"))
        target = verdict.get("target") or {}
        where = target.get("name") or target.get("base_url") or "the target"
        recheck = rollback.get("recheck") or {}
        text = (
            f"deployverify rollback on {where}: command exited {rollback.get('exit_code')}; "
            f"critical re-check {recheck.get('verdict')}: "
            + ("baseline behaviour restored" if restored else "NOT restored - act now")
        )
        fields = {**summary_fields(verdict), "rollback": dict(rollback)}
        return self.send("rollback", self.payload("rollback", text, fields))


def failing_checks(findings: Sequence[Finding]) -> list[dict[str, Any]]:
    """The failing checks of one test, as the first-failure alert lists them."""
    return [
        {
            "name": f.check,
            "outcome": f.outcome,
            "rule": f.rule,
            "correlation_ids": list(f.correlation_ids),
        }
        for f in findings
        if f.outcome in ("fail", "error")
    ]


def summary_fields(verdict: Mapping[str, Any]) -> dict[str, Any]:
    """The structured fields of a summary alert, from the verdict document."""
    failing = [
        {
            "nodeid": c.get("nodeid"),
            "name": c.get("name"),
            "outcome": c.get("outcome"),
            "critical": c.get("critical"),
            "rule": c.get("rule"),
            "correlation_ids": c.get("correlation_ids") or [],
        }
        for c in verdict.get("checks") or []
        if c.get("outcome") in ("fail", "error")
    ]
    failing += [
        {
            "nodeid": t.get("nodeid"),
            "name": None,
            "outcome": t.get("outcome"),
            "critical": t.get("critical"),
            "rule": "test must pass",
            "correlation_ids": t.get("correlation_ids") or [],
        }
        for t in verdict.get("tests") or []
        if t.get("outcome") in ("failed", "error", "unknown")
        and not any(f["nodeid"] == t.get("nodeid") for f in failing)
    ]
    failing += [
        {
            "nodeid": None,
            "name": t.get("name"),
            "outcome": t.get("outcome"),
            "critical": False,
            "rule": t.get("rule"),
            "correlation_ids": [],
        }
        for t in verdict.get("timings") or []
        if t.get("outcome") == "fail"
    ]
    cids: list[str] = []
    for f in failing:
        for cid in f["correlation_ids"]:
            if cid not in cids:
                cids.append(cid)
    target = verdict.get("target") or {}
    return {
        "verdict": verdict.get("verdict"),
        "recommendation": verdict.get("recommendation"),
        "reason": verdict.get("reason"),
        "target": {"name": target.get("name"), "base_url": target.get("base_url")},
        "counts": verdict.get("counts") or {},
        "failing_checks": failing,
        "correlation_ids": cids,
        "report": dict(verdict.get("reports") or {}),
    }
