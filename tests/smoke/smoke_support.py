"""Constants and pure helpers of the smoke suite (importable from its test modules).

Nothing here touches the network or the plugin: the fixtures in ``conftest.py`` do that.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
SCHEMAS = "fixtures/schemas"  # relative to the rootdir, as json_schema.validate takes it

#: The status model the deployment must walk through, in order (docs/architecture.md).
PIPELINE = (
    "uploaded",
    "parse_queued",
    "parsed",
    "parse_validated",
    "chunking",
    "chunks_stored",
    "embedding_queued",
    "embedding_in_progress",
    "embeddings_stored",
    "complete",
)
#: Statuses only a running worker can produce: the proof the worker exists, not its heartbeat.
WORKER_ONLY = PIPELINE[3:]
#: docservice's default upload limit (25 MiB), used when the target does not say otherwise.
DEFAULT_UPLOAD_LIMIT = 26_214_400


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise pytest.UsageError(
            f"environment variable {name}={raw!r} is not a number; unset it to use {default}"
        ) from None


@dataclass(frozen=True)
class Budgets:
    """The absolute limits the smoke checks hold the deployment to.

    Relative performance is judged against the baseline by the ``timings`` fixture; these are
    the sanity rules that need no baseline. Each can be set through the environment variable
    named in ``from_env``.
    """

    #: /health must answer within this many seconds (origin system: 100 ms target; loopback
    #: CI machines under load need headroom, production should set it lower)
    health_s: float = 1.0
    #: the worker must move a canary past ``parsed`` within this many seconds
    worker_s: float = 30.0
    #: server clock vs the test's clock
    clock_skew_s: float = 10.0
    #: a real parse is an HTTP round trip to the parser and back through a webhook or poll
    min_parse_s: float = 0.005
    #: a real pipeline run (parse, chunk, embed, store) cannot be faster than this
    min_pipeline_s: float = 0.02
    #: a canary's counters must reach the target's Prometheus within this many seconds (a scrape
    #: interval or two; production scrapes every 15-30 s)
    prometheus_s: float = 90.0

    @classmethod
    def from_env(cls) -> Budgets:
        return cls(
            health_s=_env_float("SMOKE_HEALTH_BUDGET_S", cls.health_s),
            worker_s=_env_float("SMOKE_WORKER_BUDGET_S", cls.worker_s),
            clock_skew_s=_env_float("SMOKE_CLOCK_SKEW_S", cls.clock_skew_s),
            min_parse_s=_env_float("SMOKE_MIN_PARSE_S", cls.min_parse_s),
            min_pipeline_s=_env_float("SMOKE_MIN_PIPELINE_S", cls.min_pipeline_s),
            prometheus_s=_env_float("SMOKE_PROMETHEUS_BUDGET_S", cls.prometheus_s),
        )


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})?\s+(\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Prometheus text exposition -> ``{(sample name, labels): value}`` (comments skipped)."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        if not m:
            continue
        labels = frozenset(_LABEL.findall(m.group(2) or ""))
        try:
            samples[(m.group(1), labels)] = float(m.group(3))
        except ValueError:
            continue
    return samples


def metric_total(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """Sum of the samples called ``name`` whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def parse_ts(value: object) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or an offset) as an aware datetime; None if it is not one."""
    if not isinstance(value, str) or not value:
        return None
    text = value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


#: the rules the deployment's Prometheus must have loaded (docs/monitoring.md)
RULES_FILE = ROOT / "monitoring" / "prometheus" / "rules.yml"
#: the scrape job the rules select on (``up{job="docservice"}``); SMOKE_PROMETHEUS_JOB overrides
PROMETHEUS_JOB = os.environ.get("SMOKE_PROMETHEUS_JOB", "").strip() or "docservice"
_ALERT = re.compile(r"^\s*- alert:\s*(\S+)\s*$")
_PIPELINE_LABEL = re.compile(r"^\s*pipeline:\s*docservice\s*$")


def pipeline_alerts(rules_file: Path = RULES_FILE) -> list[str]:
    """Names of the alerts labelled ``pipeline: docservice`` in the rules file (read as text:
    one ``- alert: Name`` line per rule, its labels below it)."""
    names: list[str] = []
    current = None
    for line in rules_file.read_text(encoding="utf-8").splitlines():
        m = _ALERT.match(line)
        if m:
            current = m.group(1)
        elif current and _PIPELINE_LABEL.match(line):
            names.append(current)
            current = None
    return names
