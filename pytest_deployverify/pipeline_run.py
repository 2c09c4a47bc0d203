"""What happened to one uploaded document: :class:`PipelineRun`, its statuses and outcome.

Outcomes: **complete**, **failed** (a terminal failure status or an upload without a job),
**stalled** (no status change for the stall timeout), **deadline** (still moving at the
deadline), **rejected** (the upload was refused). :mod:`pipeline` makes runs; tests, the
baseline, timings, replays and reports read them.

The run's status sequence comes from the service's event trail when it has one (server
timestamps for every status, even ones a poll missed), else from polling (each status seen,
with the job's server timestamp when it has one). ``PipelineRun.status_source`` says which:
a sampled ("polling") sequence may miss a short intermediate status in one run and see it in
the next, so the baseline compares it as a walk of the profile's status model (see
:class:`StatusSequence`), never as an exact list.

Every status also carries ``seen_s``, the seconds after the upload started at which the client
first saw it: the timings a service without server timestamps can still be judged by.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

from pytest_deployverify.evidence import Exchange

OUTCOMES = ("complete", "failed", "stalled", "deadline", "rejected")
#: where a run's statuses came from: the service's event trail, or polling the job resource
STATUS_SOURCES = ("events", "polling")


@dataclass
class StatusEvent:
    """One status the job went through, with the server's timestamp for it."""

    status: str
    at: str | None = None
    source: str = "poll"  # "events" | "poll"
    correlation_id: str | None = None
    #: seconds after the upload started at which the client first saw this status
    seen_s: float | None = None


class StatusSequence(list[str]):
    """A run's statuses in order (a plain ``list`` of names to ``==`` and ``in``) that knows
    whether they came from an event trail or were sampled by polling.

    The baseline stores and compares what :meth:`to_observation` returns: for an event trail
    the exact list; for a sampled sequence the facts every run of an unchanged service shares,
    whichever intermediate statuses polling happened to see (:func:`status_walk`).
    """

    def __init__(
        self,
        statuses: list[str],
        *,
        source: str = "events",
        model: tuple[str, ...] = (),
        terminal: tuple[str, ...] = (),
    ) -> None:
        super().__init__(statuses)
        self.source = source
        self.model = model
        self.terminal = terminal

    @property
    def sampled(self) -> bool:
        return self.source == "polling"

    def to_observation(self) -> Any:
        if not self.sampled:
            return list(self)
        return status_walk(list(self), self.model, self.terminal)


def status_walk(
    statuses: list[str], model: tuple[str, ...], terminal: tuple[str, ...]
) -> dict[str, Any]:
    """What a sampled status sequence is compared by: an in-order walk of ``model``.

    Polling sees each status only if it lasts until a poll, so which intermediate statuses a
    run shows is chance. Compared: the status the walk ended in (``terminal``), the statuses
    seen that the model does not name (``outside_model``), and every step that went backwards
    in the model's order (``out_of_order``). Not compared: which intermediate statuses were
    seen, how many, or how often. With an empty model only the terminal status is compared.
    """
    position = {name: i for i, name in enumerate(model)}
    end = len(model)
    outside: list[str] = []
    backwards: list[str] = []
    last = -1
    previous = None
    for name in statuses:
        if name in terminal and name not in position:
            index = end
        elif name in position:
            index = position[name]
        else:
            if model and name not in outside:
                outside.append(name)
            previous = name
            continue
        if index < last and model:
            backwards.append(f"{previous} -> {name}")
        last = max(last, index)
        previous = name
    return {
        "sampled": "by polling: intermediate statuses may be missed",
        "terminal": statuses[-1] if statuses else None,
        "outside_model": outside,
        "out_of_order": backwards,
    }


@dataclass
class PipelineRun:
    """What happened to one uploaded document.

    ``outcome`` is one of ``complete`` (terminal success), ``failed`` (terminal failure
    status, or the job vanished), ``stalled`` (no status change for the stall timeout),
    ``deadline`` (still moving when the deadline passed), ``rejected`` (the upload was
    refused). ``upload_document`` never raises for an outcome: assert on it, or call
    :meth:`raise_for_outcome`.
    """

    filename: str
    correlation_id: str
    document_id: str | None = None
    job_id: str | None = None
    upload_status_code: int | None = None
    duplicate: bool = False
    outcome: str = "deadline"
    final_status: str | None = None
    statuses: list[StatusEvent] = field(default_factory=list)
    stage_durations: dict[str, float] = field(default_factory=dict)
    total_seconds: float | None = None
    client_seconds: float = 0.0
    job: dict[str, Any] | None = None
    document: dict[str, Any] | None = None
    #: the job or the document answered 404 while this run followed it (deleted under it)
    vanished: bool = False
    upload_response: Any = None
    exchanges: list[Exchange] = field(default_factory=list)
    last_error: Any = None
    #: the rule the outcome was judged by, e.g. "terminal status within 60 s (stall 20 s)"
    rule: str = ""
    #: wall-clock time (UTC ISO) the client saw the terminal status
    noticed_at: str | None = None
    polls: int = 0
    #: the status field of the job resource as last polled (None when it had no value); may
    #: disagree with the event trail, e.g. a job served with ``status: null``
    job_status: Any = None
    #: the profile's status model (in order) and terminal statuses, for sampled comparisons
    status_model: tuple[str, ...] = ()
    terminal_statuses: tuple[str, ...] = ()
    #: the reference deployment's runs of the same upload (``--reference-url``: two askings)
    reference_runs: list[PipelineRun] = field(default_factory=list, repr=False, compare=False)

    @property
    def status_source(self) -> str:
        """``"events"`` when the statuses are the service's event trail, ``"polling"`` when
        they were sampled by polling the job (a short status may be missed)."""
        if self.statuses and all(e.source == "events" for e in self.statuses):
            return "events"
        return "polling"

    @property
    def status_sequence(self) -> StatusSequence:
        """The status names in order; compared by the baseline as :class:`StatusSequence`."""
        return StatusSequence(
            [e.status for e in self.statuses],
            source=self.status_source,
            model=self.status_model,
            terminal=self.terminal_statuses,
        )

    @property
    def client_seen(self) -> dict[str, float]:
        """Seconds after the upload started at which the client first saw each status."""
        seen: dict[str, float] = {}
        for e in self.statuses:
            if e.seen_s is not None and e.status not in seen:
                seen[e.status] = e.seen_s
        return seen

    @property
    def timing_source(self) -> str:
        """``"server"`` when stage durations come from server timestamps, else ``"client"``."""
        return "server" if self.total_seconds is not None else "client"

    @property
    def ok(self) -> bool:
        return self.outcome == "complete"

    def to_observation(self) -> dict[str, Any]:
        """JSON-able facts for the baseline: what the service did, not how fast."""
        job = self.job or {}
        observation: dict[str, Any] = {
            "upload_status_code": self.upload_status_code,
            "duplicate": self.duplicate,
            "outcome": self.outcome,
            "final_status": self.final_status,
            "statuses": self.status_sequence.to_observation(),
            "job": job,
            "document": self.document,
            "last_error": self.last_error,
        }
        if self.status_source == "events":
            # how many statuses polling saw is chance; an event trail's count is not
            observation["status_count"] = len(self.statuses)
        return observation

    def summary(self) -> dict[str, Any]:
        """A compact record for ``evidence.runs`` and the report."""
        return {
            "filename": self.filename,
            "document_id": self.document_id,
            "job_id": self.job_id,
            "correlation_id": self.correlation_id,
            "upload_status_code": self.upload_status_code,
            "duplicate": self.duplicate,
            "outcome": self.outcome,
            "final_status": self.final_status,
            "statuses": [asdict(e) for e in self.statuses],
            "status_source": self.status_source,
            "timing_source": self.timing_source,
            "client_seen": self.client_seen,
            "stage_durations": self.stage_durations,
            "total_seconds": self.total_seconds,
            "client_seconds": round(self.client_seconds, 4),
            "polls": self.polls,
            "rule": self.rule,
            "last_error": self.last_error,
            "noticed_at": self.noticed_at,
        }

    def describe(self) -> str:
        """One paragraph: outcome, rule, observed sequence, IDs, last error."""
        seq = " -> ".join(self.status_sequence) or "(no status seen)"
        text = (
            f"document {self.filename!r} ended {self.outcome!r} "
            f"(final status {self.final_status!r})"
        )
        conflict = self.status_conflict()
        if conflict:
            # without this, a trail that reached 'complete' next to "stalled, final status
            # 'uploaded'" reads like a bug in the follower rather than in the service
            text += f"; {conflict}"
        text += (
            f"; rule: {self.rule}; observed: {seq}; correlation ID {self.correlation_id}, "
            f"job {self.job_id}, document {self.document_id}"
        )
        if self.last_error:
            text += f"; last error: {self.last_error}"
        return text

    def status_conflict(self) -> str | None:
        """Both values when the polled job status and the event trail's last status disagree.

        None when they agree, when no job resource was polled or there is no event trail.
        """
        trail = [e.status for e in self.statuses if e.source == "events"]
        if self.job is None or not trail:
            return None
        if self.job_status is not None and str(self.job_status) == trail[-1]:
            return None
        text = (
            f"the job resource reports status {self.job_status!r} while its event trail "
            f"reached {trail[-1]!r}"
        )
        if self.outcome != "complete":
            text += f" (outcome stays {self.outcome!r}: not a verified completion)"
        return text

    def raise_for_outcome(self) -> PipelineRun:
        """Raise AssertionError with the evidence unless the run completed; returns self."""
        __tracebackhide__ = True  # the failure points at the test's line, not at this one
        if self.outcome != "complete":
            raise AssertionError(self.describe())
        return self


# ---------------------------------------------------------------- helpers


def has_field(data: Any, dotted: str) -> bool:
    """Whether ``data`` has the (dotted) field at all, even as null."""
    *parents, last = dotted.split(".")
    holder = get_field(data, ".".join(parents)) if parents else data
    return isinstance(holder, dict) and last in holder


def fields_of(data: Any, dotted: str, limit: int = 20) -> str:
    """What a response has where ``dotted`` was looked for: the field names of the deepest
    object on that path, for an error naming what the service does send."""
    where, holder = "the response", data
    parts = dotted.split(".")
    for depth in range(1, len(parts)):
        inner = get_field(data, ".".join(parts[:depth]))
        if not isinstance(inner, dict):
            break
        where, holder = repr(".".join(parts[:depth])), inner
    if not isinstance(holder, dict):
        return f"the response is not a JSON object but {type(holder).__name__}"
    names = sorted(map(str, holder))
    more = f", ... ({len(names)} in all)" if len(names) > limit else ""
    return f"{where} has the fields {', '.join(names[:limit]) or '(none)'}{more}"


def get_field(data: Any, dotted: str) -> Any:
    """``data["a"]["b"]`` for ``"a.b"``; None when any step is missing or the field is absent
    from the profile (``dotted`` empty)."""
    if not dotted:
        return None
    cur = data
    for part in dotted.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def parse_ts(value: Any) -> datetime | None:
    """An ISO 8601 timestamp (``Z`` or offset), or epoch seconds, as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), tz=timezone.utc)
    text = str(value).strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def stage_durations(events: list[StatusEvent]) -> tuple[dict[str, float], float | None]:
    """Seconds spent in each status (until the next one) and first->last, from server time."""
    durations: dict[str, float] = {}
    stamps = [parse_ts(e.at) for e in events]
    for i in range(len(events) - 1):
        a, b = stamps[i], stamps[i + 1]
        if a is not None and b is not None:
            # a status seen twice (e.g. a retry) accumulates
            durations[events[i].status] = round(
                durations.get(events[i].status, 0.0) + (b - a).total_seconds(), 6
            )
    known = [s for s in stamps if s is not None]
    total = round((known[-1] - known[0]).total_seconds(), 6) if len(known) >= 2 else None
    return durations, total
