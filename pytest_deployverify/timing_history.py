"""Timing history per environment: the reference production timings are judged against.

Layout: ``<history dir>/<environment>/<recorded_at>-<run id>.json``, one file per run, each::

    {"schema_version": 1, "environment": "prod", "run_id": "...", "recorded_at": "...Z",
     "deployment_version": {...} | null, "verdict": "pass" | "fail" | "inconclusive",
     "accepted": false, "timings": {"name": [seconds, ...]}}

A run appends its file only from the controller, once, at session end (so xdist workers never
write); the file is written to a temporary name in the same directory and renamed, and its
name is unique per run, so two pipelines appending at once never collide. The directory keeps
the newest ``keep`` runs (older files are removed after a write) and each timing at most
``MAX_SAMPLES_PER_TIMING`` samples per run: the history stays bounded.

Reading takes the newest ``last_runs`` files; with fewer than ``min_runs`` the history is not
used yet (the stored baseline judges). A file that cannot be read or does not have this shape
raises :class:`HistoryError` naming the file and the fix; the caller falls back to the baseline
and marks the timings so.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

SCHEMA_VERSION = 1
MAX_SAMPLES_PER_TIMING = 1000
_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class HistoryError(Exception):
    """The timing history cannot be used (unreadable or malformed file)."""


@dataclass(frozen=True)
class HistorySettings:
    """``--timing-history`` and friends, as ``settings`` reads them."""

    directory: Path
    min_runs: int = 1
    last_runs: int = 5
    accept: bool = False
    keep: int = 50

    def __post_init__(self) -> None:
        if self.min_runs < 1:
            raise ValueError(f"min_runs must be at least 1, got {self.min_runs!r}")
        if self.last_runs < 1:
            raise ValueError(f"last_runs must be at least 1, got {self.last_runs!r}")
        if self.keep < self.last_runs:
            raise ValueError(f"keep ({self.keep!r}) must be at least last_runs")


@dataclass(frozen=True)
class HistoryRun:
    """One run's file."""

    path: Path
    run_id: str
    recorded_at: str
    verdict: str
    accepted: bool
    deployment_version: Any
    timings: Mapping[str, Sequence[float]]


@dataclass(frozen=True)
class HistoryReference:
    """The samples the history gives a run, and where they came from."""

    samples: dict[str, list[float]]
    runs: tuple[HistoryRun, ...]
    directory: Path
    total_runs: int = 0
    detail: str = field(default="")


def env_dir(directory: Path, environment: str) -> Path:
    """``<dir>/<environment>`` with the name made safe for a path."""
    return directory / (_SAFE.sub("_", environment) or "_")


def _run_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.json") if not p.name.startswith("."))


def _load(path: Path) -> HistoryRun:
    fix = "delete or restore the file (the history is rebuilt by later passing runs)"
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HistoryError(f"timing history file {path} cannot be read ({exc}); {fix}.") from None
    timings = data.get("timings") if isinstance(data, dict) else None
    ok = (
        isinstance(data, dict)
        and data.get("schema_version") == SCHEMA_VERSION
        and isinstance(timings, dict)
        and all(
            isinstance(v, list)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)
            for v in timings.values()
        )
    )
    if not ok:
        raise HistoryError(
            f"timing history file {path} is not a timing history run (schema_version "
            f"{SCHEMA_VERSION} with a 'timings' table of sample lists); {fix}."
        )
    assert isinstance(data, dict) and isinstance(timings, dict)
    return HistoryRun(
        path=path,
        run_id=str(data.get("run_id", "")),
        recorded_at=str(data.get("recorded_at", "")),
        verdict=str(data.get("verdict", "")),
        accepted=bool(data.get("accepted", False)),
        deployment_version=data.get("deployment_version"),
        timings={str(k): [float(x) for x in v] for k, v in timings.items()},
    )


def load_reference(settings: HistorySettings, environment: str) -> HistoryReference | None:
    """The newest ``last_runs`` runs of ``environment``, pooled per timing name; None while
    the history holds fewer than ``min_runs``. Raises :class:`HistoryError` for a bad file."""
    folder = env_dir(settings.directory, environment)
    files = _run_files(folder)
    if len(files) < settings.min_runs:
        return None
    runs = tuple(_load(p) for p in files[-settings.last_runs :])
    samples: dict[str, list[float]] = {}
    for run in runs:
        for name, values in run.timings.items():
            samples.setdefault(name, []).extend(values)
    accepted = sum(1 for r in runs if r.accepted)
    detail = (
        f"last {len(runs)} of {len(files)} runs in {folder}"
        f" ({runs[0].recorded_at} .. {runs[-1].recorded_at})"
        + (f", {accepted} accepted by hand" if accepted else "")
    )
    return HistoryReference(samples, runs, folder, len(files), detail)


def append_run(
    settings: HistorySettings,
    environment: str,
    timings: Mapping[str, Sequence[float]],
    verdict: str,
    deployment_version: Any = None,
    accepted: bool = False,
    now: datetime | None = None,
) -> Path:
    """Write this run's samples as a new file (atomically) and trim the oldest beyond
    ``keep``. Returns the new file's path. Raises ``OSError`` if it cannot be written."""
    folder = env_dir(settings.directory, environment)
    folder.mkdir(parents=True, exist_ok=True)
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    stamp = when.strftime("%Y%m%dT%H%M%S%fZ")
    run_id = f"{stamp}-{os.urandom(4).hex()}"  # as secrets.token_hex, without importing it
    data = {
        "schema_version": SCHEMA_VERSION,
        "environment": environment,
        "run_id": run_id,
        "recorded_at": when.isoformat().replace("+00:00", "Z"),
        "deployment_version": deployment_version,
        "verdict": verdict,
        "accepted": accepted,
        "timings": {
            name: [float(x) for x in list(values)[:MAX_SAMPLES_PER_TIMING]]
            for name, values in sorted(timings.items())
        },
    }
    path = folder / f"{run_id}.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    for old in _run_files(folder)[: -settings.keep]:
        old.unlink(missing_ok=True)
    return path
