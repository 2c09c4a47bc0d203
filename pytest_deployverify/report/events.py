"""``reports/events.jsonl``: one JSON object per line, written as things happen.

Events (each line has ``seq``, ``at`` (UTC ISO) and ``event``):

* ``session_start``: target, run id, pid
* ``test``: nodeid, outcome, critical, duration, correlation_ids, message (first line)
* ``verdict_change``: the provisional verdict moved (``from`` -> ``to``) and why
* ``setup_error``: the run stopped before any test (unreachable target, ...): ``message``
* ``session_end``: final verdict, recommendation, reason, counts, report paths

Every line also carries ``run``, the id of the run that wrote it. Each line is one
``os.write`` of the complete line to a file opened with ``O_APPEND`` (fsynced at close), so
``tail -f``, a dashboard, or another run appending to the same file never sees half a line or
two lines mixed. A run truncates the file when it starts only when no other run has it open
(each run holds a shared ``flock`` while it writes); otherwise it appends, and readers tell
the runs apart by ``run``. The controller alone writes (under xdist it receives every
worker's reports). Every value passes through :func:`pytest_deployverify.redact.redact_value`
first.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pytest_deployverify.clock import utc_timestamp
from pytest_deployverify.evidence import TestEvidence, json_number
from pytest_deployverify.redact import redact_texts, redact_value
from pytest_deployverify.report.model import failure_line

#: ``json.dumps(record, default=str, ensure_ascii=False)`` without an encoder per line
_LINE = json.JSONEncoder(default=str, ensure_ascii=False)
#: a string as ``_LINE`` writes it (quoted, escaped, not ASCII-only)
_json_text: Callable[[str], str] = json.encoder.encode_basestring


class EventStream:
    """An append-only JSON-lines file, truncated when a session starts and no other run is
    writing it."""

    def __init__(
        self,
        path: Path,
        secrets: Callable[[], Iterable[str]] = tuple,
        run_id: str | None = None,
    ) -> None:
        self.path = Path(path)
        # a callable, because the target's secrets are only known after the stream opened
        self._secrets = secrets
        self._fd: int | None = None
        self._seq = 0
        self.provisional: str | None = None
        #: opened at least once this session (so a reopen appends, never truncates)
        self.started = False
        #: written into every line, so runs sharing a report directory can be told apart
        self.run_id = run_id or new_run_id()

    def open(self) -> None:
        """Open for appending; truncate the first time (a new run) unless another run has the
        file open."""
        if self._fd is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        if not self.started and _sole_writer(fd):
            os.ftruncate(fd, 0)
        self._fd = fd
        self.started = True

    @property
    def closed(self) -> bool:
        return self._fd is None

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event line now; returns the (redacted) record written."""
        return self.emit_redacted(event, redact_value(fields, list(self._secrets())))

    def emit_redacted(self, event: str, fields: Mapping[str, Any]) -> dict[str, Any]:
        """``emit`` for fields already redacted with this stream's secrets (a test's evidence
        is redacted once for every output: see ``SessionState.shown``)."""
        self._seq += 1
        # seq, time, run id and event name are ours: nothing in them to redact
        record = {"seq": self._seq, "at": utc_timestamp(), "run": self.run_id, "event": event}
        record.update(fields)
        self._write(_LINE.encode(record))
        return record

    def emit_test(self, ev: TestEvidence, secrets: Sequence[str]) -> None:
        """The ``test`` event of ``ev``: the line ``emit_redacted("test", event_for_test(ev,
        secrets))`` writes, spelled out field by field (every test writes one, and building
        the record and encoding it cost twice as much: benchmarks/README.md, issue 20; the
        two are compared in tests/plugin/test_events_test_line.py)."""
        self._seq += 1
        findings = ev.findings
        message = ev.message or ev.skip_reason
        nodeid, message, *cids = redact_texts(
            [ev.nodeid, failure_line(message) if message else "", *ev.correlation_ids], secrets
        )
        failed = sum(1 for f in findings if f.outcome in ("fail", "error")) if findings else 0
        when = "null" if ev.when_failed is None else _json_text(ev.when_failed)
        self._write(
            f'{{"seq": {self._seq}, "at": "{utc_timestamp()}", '
            f'"run": {_json_text(self.run_id)}, "event": "test", '
            f'"nodeid": {_json_text(nodeid)}, "outcome": {_json_text(ev.outcome)}, '
            f'"when_failed": {when}, '
            f'"critical": {"true" if "critical" in ev.markers else "false"}, '
            f'"duration": {json_number(round(ev.duration, 4))}, '
            f'"correlation_ids": [{", ".join(map(_json_text, cids))}], '
            f'"checks": {len(findings)}, "checks_failed": {failed}, '
            f'"message": {_json_text(message)}}}'
        )

    def _write(self, line: str) -> None:
        """One whole line in one ``os.write``."""
        if self._fd is None:
            self.open()
        assert self._fd is not None
        data = (line + "\n").encode("utf-8")
        written = os.write(self._fd, data)
        while written < len(data):  # a short write (full disk, signal): finish the line
            written += os.write(self._fd, data[written:])
        # every line is written whole at once (a watcher and a killed run see every event);
        # the disk sync waits for close: an fsync per test would cost more than the test

    def update_verdict(self, new: str | None, reason: str = "", **fields: Any) -> None:
        """Emit ``verdict_change`` when the provisional verdict differs from the last one."""
        if new is None or new == self.provisional:
            return
        self.emit(
            "verdict_change", **{"from": self.provisional, "to": new, "reason": reason}, **fields
        )
        self.provisional = new

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):  # a pipe or a filesystem without fsync
                os.fsync(self._fd)
            os.close(self._fd)  # releases this run's lock too
            self._fd = None


def new_run_id() -> str:
    """A run id: UTC time, pid and a random suffix (unique across hosts sharing a directory)."""
    from datetime import datetime, timezone

    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    # os.urandom is what secrets.token_hex reads, without importing secrets and hmac
    return f"{stamp}-{os.getpid()}-{os.urandom(3).hex()}"


def _sole_writer(fd: int) -> bool:
    """Whether no other run holds the file; either way this run keeps a shared lock on it."""
    try:
        import fcntl
    except ImportError:  # no flock (Windows): a run always starts a fresh file
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        fcntl.flock(fd, fcntl.LOCK_SH)
        return False
    fcntl.flock(fd, fcntl.LOCK_SH)  # downgrade: later runs see that this one is writing
    return True


def event_for_test(ev: TestEvidence, secrets: Sequence[str]) -> dict[str, Any]:
    """The fields of a ``test`` event from a test's evidence: only the strings the event
    carries are redacted (the evidence itself is redacted once, at the session end)."""
    findings = ev.findings
    message = ev.message or ev.skip_reason
    nodeid, message, *cids = redact_texts(
        [ev.nodeid, failure_line(message) if message else "", *ev.correlation_ids], secrets
    )
    return {
        "nodeid": nodeid,
        "outcome": ev.outcome,
        "when_failed": ev.when_failed,
        "critical": "critical" in ev.markers,
        "duration": round(ev.duration, 4),
        "correlation_ids": cids,
        "checks": len(findings),
        "checks_failed": sum(1 for f in findings if f.outcome in ("fail", "error")),
        "message": message,
    }


def read_events(path: Path) -> list[dict[str, Any]]:
    """Parse an events file (every line must be a complete JSON object)."""
    return [
        json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line
    ]
