"""``reports/events.jsonl``: one JSON object per line, written as things happen.

Events (each line has ``seq``, ``at`` (UTC ISO) and ``event``):

* ``session_start``: target, run id, pid
* ``test``: nodeid, outcome, critical, duration, correlation_ids, message (first line)
* ``verdict_change``: the provisional verdict moved (``from`` -> ``to``) and why
* ``setup_error``: the run stopped before any test (unreachable target, ...): ``message``
* ``session_end``: final verdict, recommendation, reason, counts, report paths

Each line is written with a single ``write`` of a complete line, then flushed and fsynced,
so ``tail -f`` or a dashboard never sees half a line. The controller alone writes (under
xdist it receives every worker's reports). Every value passes through
:func:`pytest_deployverify.redact.redact_value` first.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import IO, Any

from pytest_deployverify.report.context import utc_now


class EventStream:
    """An append-only JSON-lines file, truncated when the session starts."""

    def __init__(self, path: Path, secrets: Callable[[], Iterable[str]] = tuple) -> None:
        self.path = Path(path)
        # a callable, because the target's secrets are only known after the stream opened
        self._secrets = secrets
        self._fh: IO[str] | None = None
        self._seq = 0
        self.provisional: str | None = None
        #: opened at least once this session (so a reopen appends, never truncates)
        self.started = False

    def open(self) -> None:
        """Open for writing: truncate the first time (a new run), append after that."""
        if self._fh is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        mode = "a" if self.started else "w"
        # line-buffered text file; we flush and fsync each line anyway
        self._fh = self.path.open(mode, encoding="utf-8", buffering=1)
        self.started = True

    @property
    def closed(self) -> bool:
        return self._fh is None

    def emit(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event line now; returns the (redacted) record written."""
        from pytest_deployverify.redact import redact_value

        if self._fh is None:
            self.open()
        self._seq += 1
        record = {"seq": self._seq, "at": utc_now(), "event": event, **fields}
        record = redact_value(record, list(self._secrets()))
        line = json.dumps(record, default=str, sort_keys=False, ensure_ascii=False)
        assert self._fh is not None
        self._fh.write(line + "\n")
        self._fh.flush()
        # a pipe or a filesystem without fsync: the flush is enough
        with contextlib.suppress(OSError):
            os.fsync(self._fh.fileno())
        return record

    def update_verdict(self, new: str | None, reason: str = "", **fields: Any) -> None:
        """Emit ``verdict_change`` when the provisional verdict differs from the last one."""
        if new is None or new == self.provisional:
            return
        self.emit(
            "verdict_change", **{"from": self.provisional, "to": new, "reason": reason}, **fields
        )
        self.provisional = new

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def event_fields(evidence: Any, critical_marker: str = "critical") -> dict[str, Any]:
    """The fields of a ``test`` event from a :class:`~pytest_deployverify.evidence.TestEvidence`."""
    from pytest_deployverify.report.model import failure_line

    data = evidence.to_dict() if hasattr(evidence, "to_dict") else dict(evidence)
    findings = data.get("findings") or []
    return {
        "nodeid": data.get("nodeid"),
        "outcome": data.get("outcome"),
        "when_failed": data.get("when_failed"),
        "critical": critical_marker in (data.get("markers") or []),
        "duration": round(float(data.get("duration") or 0.0), 4),
        "correlation_ids": list(data.get("correlation_ids") or []),
        "checks": len(findings),
        "checks_failed": sum(1 for f in findings if _get(f, "outcome") in ("fail", "error")),
        "message": failure_line(data.get("message") or data.get("skip_reason")),
    }


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Parse an events file (every line must be a complete JSON object)."""
    return [
        json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line
    ]
