"""Timestamp sanity: every server timestamp a pipeline run showed lies within the run's window
(session start .. now) widened by the allowed clock skew, and the status events are in order.

Knows no field names: the event times come from the pipeline profile's timestamp fields, and
in the job, document and upload answers every string that reads as an ISO 8601 date-time
(``YYYY-MM-DDTHH:MM...``) is a server timestamp, wherever it sits. A duplicate upload's
job and document are older than the run by design and are not judged.
A violation is a failing finding (``check = "timestamps"``) naming field, value and skew.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from pytest_deployverify.evidence import Finding

_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
_START = pytest.StashKey[float]()


def register(config: pytest.Config) -> None:
    """Remember when the run started (workers start within seconds of their controller)."""
    config.stash[_START] = time.time()


def window_start(config: pytest.Config) -> float:
    return config.stash.get(_START, time.time())


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _strings(item, f"{path}[{i}]")
    elif isinstance(value, str) and _ISO.match(value):
        yield path, value


def check_run(
    run: Any, *, started: float, skew: float, parse: Any, nodeid: str = ""
) -> list[Finding]:
    """Failing findings for ``run`` (a PipelineRun); ``parse`` turns a value into an aware
    datetime or None (pipeline_run.parse_ts)."""
    low = datetime.fromtimestamp(started, tz=timezone.utc) - timedelta(seconds=skew)
    high = datetime.now(timezone.utc) + timedelta(seconds=skew)
    fields: list[tuple[str, str]] = [
        (f"events[{i}].at ({e.status})", e.at) for i, e in enumerate(run.statuses) if e.at
    ]
    if not run.duplicate:
        for name, value in (
            ("upload", run.upload_response),
            ("job", run.job),
            ("document", run.document),
        ):
            fields.extend(_strings(value, f"{name}$"))
    rule = (
        f"within the run's window {low.isoformat(timespec='seconds')} .. "
        f"{high.isoformat(timespec='seconds')} (allowed clock skew {skew:g} s)"
    )
    findings: list[Finding] = []
    for field, value in fields:
        stamp = parse(value)
        if stamp is None or low <= stamp <= high:
            continue
        findings.append(
            _finding(
                field,
                value,
                rule,
                f"server timestamp {field} = {value} is outside the run's window "
                f"(allowed clock skew {skew:g} s)",
                run,
                nodeid,
            )
        )
    stamps = [(e.status, e.at, parse(e.at)) for e in run.statuses if e.at]
    for (s1, a1, t1), (s2, a2, t2) in itertools.pairwise(stamps):
        if t1 is not None and t2 is not None and t2 < t1:
            findings.append(
                _finding(
                    f"events ({s1} -> {s2})",
                    [a1, a2],
                    "status events in time order",
                    f"event {s2!r} at {a2} is earlier than the event before it, {s1!r} at {a1}",
                    run,
                    nodeid,
                )
            )
    return findings


def _finding(field: str, value: Any, rule: str, message: str, run: Any, nodeid: str) -> Finding:
    return Finding(
        check="timestamps",
        outcome="fail",
        rule=rule,
        observed=value,
        path=field,
        message=f"{message}; correlation ID {run.correlation_id}, job {run.job_id}",
        correlation_ids=[run.correlation_id],
        kind="timestamps",
        nodeid=nodeid,
    )
