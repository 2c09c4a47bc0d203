"""The data the parts exchange: exchanges, findings and per-test evidence.

Everything here is JSON-serialisable through ``to_dict``/``from_dict`` so evidence can travel
from xdist workers to the controller inside ``report.user_properties``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

import pytest

if TYPE_CHECKING:  # the replay module is loaded by the client, which makes them
    from pytest_deployverify.replay import SentRequest

EVIDENCE_PROPERTY = "deployverify"
#: ``json.dumps(data, default=str, sort_keys=True)`` without making an encoder per test
_WIRE = json.JSONEncoder(default=str, sort_keys=True)
#: a string as ``_WIRE`` writes it (quoted, escaped, ASCII only)
_ascii: Callable[[str], str] = json.encoder.encode_basestring_ascii

#: Outcomes a finding can have. "error" means the check could not be made; it never counts
#: as passed.
OUTCOMES = ("pass", "fail", "inconclusive", "error")


class FinalList(list[Any]):
    """A list of a finished test's evidence that nothing may change any more: every test's
    empty lists are one shared ``FinalList``, its markers one per set of names
    (``TestEvidence.freeze``)."""

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError(
            "deployverify: the evidence of a finished test is final; "
            "change it before its teardown report"
        )

    append = extend = insert = remove = pop = clear = sort = reverse = _refuse
    __setitem__ = __delitem__ = __iadd__ = __imul__ = _refuse

    def __reduce__(self) -> tuple[type[FinalList], tuple[tuple[Any, ...]]]:
        # copies and pickles are made whole, not item by item (which would be refused)
        return FinalList, (tuple(self),)


#: the one empty list every finished test's evidence shares
NO_ITEMS = FinalList()
#: names of markers -> the list every finished test with exactly those markers shares
_MARKER_LISTS: dict[tuple[str, ...], FinalList] = {}


@dataclass
class Exchange:
    """One HTTP request/response as the report shows it (secrets already redacted)."""

    method: str
    path: str
    status: int | None
    latency_ms: float
    correlation_id: str
    request_bytes: int = 0
    response_bytes: int = 0
    started_at: str = ""
    error: str | None = None
    attempt: int = 1


@dataclass
class Finding:
    """One check's result: the value observed beside the rule it was held to."""

    check: str
    outcome: str
    rule: str
    observed: Any = None
    expected: Any = None
    path: str | None = None
    message: str = ""
    correlation_ids: list[str] = field(default_factory=list)
    kind: str = "assertion"
    nodeid: str = ""
    #: a failed check's replay command (see :mod:`pytest_deployverify.replay_evidence`)
    replay: str | None = None
    #: a difference's value on each side ("target", "reference", "baseline") when the run
    #: compares with a reference deployment (``--reference-url``); None otherwise
    sides: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"Finding outcome must be one of {OUTCOMES}, got {self.outcome!r}")


@dataclass
class CleanupResult:
    """What happened to one synthetic document a test created, at its teardown."""

    document_id: str | None
    filename: str
    correlation_id: str
    #: "deleted", "gone" (already deleted), "skipped" (existed before the test) or "failed"
    result: str
    #: why, when it was not simply deleted
    reason: str | None = None
    http_status: int | None = None

    @property
    def ok(self) -> bool:
        """The document is not left behind by this test."""
        return self.result in ("deleted", "gone", "skipped")

    @property
    def status(self) -> str:
        return self.result + (f" (HTTP {self.http_status})" if self.http_status else "")


@dataclass
class TestEvidence:
    """Everything one test produced that the verdict and the reports need."""

    __test__ = False  # not a pytest test class

    nodeid: str
    outcome: str = "unknown"  # passed | failed | error | skipped | unknown
    when_failed: str | None = None  # setup | call | teardown
    markers: list[str] = field(default_factory=list)
    correlation_ids: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    exchanges: list[Exchange] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, list[float]] = field(default_factory=dict)
    timing_groups: dict[str, str] = field(default_factory=dict)
    #: timing name -> the sequential plan ``timings.sample`` took it with (min/max/look_every)
    timing_plans: dict[str, dict[str, int]] = field(default_factory=dict)
    #: the reference deployment's samples of the same timings (``--reference-url``)
    reference_timings: dict[str, list[float]] = field(default_factory=dict)
    cleanup: list[CleanupResult] = field(default_factory=list)
    message: str = ""
    skip_reason: str = ""
    duration: float = 0.0
    #: replays of the failed requests (request, status, reason, command), made at teardown
    replays: list[dict[str, Any]] = field(default_factory=list)
    #: id(exchange) -> what the client sent, for the replays; in memory only (holds the auth
    #: header and bodies), emptied when the replays are made
    sent: dict[int, SentRequest] = field(default_factory=dict, repr=False, compare=False)
    #: how many exchanges the test had made when its call phase ended (None: no call phase)
    exchanges_before_teardown: int | None = field(default=None, repr=False, compare=False)

    def add_correlation_id(self, cid: str) -> None:
        if cid and cid not in self.correlation_ids:
            self.correlation_ids.append(cid)

    def record_timing(self, name: str, seconds: float, group: str = "own") -> None:
        self.timings.setdefault(name, []).append(float(seconds))
        self.timing_groups[name] = group

    def update_outcome(self, report: pytest.TestReport) -> None:
        """Fold one phase's report (setup, call, teardown) into the test's outcome."""
        self.duration += report.duration
        if report.skipped and self.outcome in ("unknown", "passed"):
            self.outcome = "skipped"
            longrepr = report.longrepr
            self.skip_reason = str(longrepr[2]) if isinstance(longrepr, tuple) else str(longrepr)
        elif report.failed:
            if self.outcome not in ("failed", "error"):
                self.outcome = "failed" if report.when == "call" else "error"
                self.when_failed = report.when
                self.message = report.longreprtext[-4000:]
        elif report.when == "call" and report.passed and self.outcome == "unknown":
            self.outcome = "passed"

    def _data(self) -> dict[str, Any]:
        """The fields as plain data in a new dict, sharing this object's lists and dicts: only
        for readers that copy anyway (``json.dumps``, redaction) or share what is final
        (``redacted``)."""
        return {
            "nodeid": self.nodeid,
            "outcome": self.outcome,
            "when_failed": self.when_failed,
            "markers": self.markers,
            "correlation_ids": self.correlation_ids,
            "findings": [vars(f) for f in self.findings],
            "exchanges": [vars(x) for x in self.exchanges],
            "runs": self.runs,
            "timings": self.timings,
            "timing_groups": self.timing_groups,
            "timing_plans": self.timing_plans,
            "reference_timings": self.reference_timings,
            "cleanup": [vars(c) for c in self.cleanup],
            "message": self.message,
            "skip_reason": self.skip_reason,
            "duration": self.duration,
            "replays": self.replays,
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain data (shallow copies: only ever serialised or redacted into a new copy)."""
        return {key: _copy(value) for key, value in self._data().items()}

    def freeze(self) -> None:
        """The test is over and its evidence kept: its empty lists become the shared
        ``NO_ITEMS`` and its markers a list shared with every test of the same markers, so
        a session keeps no lists of its own for a test that had none (the collector walks
        every list a session keeps, again and again as the session grows: issue 20). A
        change afterwards raises ``TypeError``; the values, equality and JSON stay the
        same."""
        if self.markers:
            names = tuple(self.markers)
            shared = _MARKER_LISTS.get(names)
            if shared is None:
                shared = _MARKER_LISTS[names] = FinalList(names)
            self.markers = shared
        else:
            self.markers = NO_ITEMS
        self.correlation_ids = self.correlation_ids or NO_ITEMS
        self.findings = self.findings or NO_ITEMS
        self.exchanges = self.exchanges or NO_ITEMS
        self.runs = self.runs or NO_ITEMS
        self.cleanup = self.cleanup or NO_ITEMS
        self.replays = self.replays or NO_ITEMS
        for finding in self.findings:
            finding.correlation_ids = finding.correlation_ids or NO_ITEMS

    def has_records(self) -> bool:
        """Whether the test left more than strings and a duration: checks, requests, runs,
        timings, cleanup or replays (a test that used none of the plugin's fixtures has
        none, and the per-test paths skip their walks for it)."""
        return bool(
            self.findings
            or self.exchanges
            or self.runs
            or self.timings
            or self.timing_groups
            or self.timing_plans
            or self.reference_timings
            or self.cleanup
            or self.replays
        )

    def to_json(self, shown: dict[str, Any] | None = None) -> str:
        """The evidence as it crosses xdist: fields left at their default are left out
        (``from_json`` restores them), so a test that used none of the plugin's fixtures sends
        a few dozen bytes. ``shown``: this evidence as ``redacted`` made it, sent instead of
        the fields themselves."""
        if shown is None and not self.has_records():
            return self._plain_json()
        data = {key: value for key, value in (shown or self._data()).items() if value}
        # the test's own node id, also when redaction changed it in ``shown``: the xdist
        # controller keeps each test's evidence under it (two tests whose ids differ by a
        # secret would be one), and pytest itself shows it in every report
        data["nodeid"] = self.nodeid
        return _WIRE.encode(data)

    def _plain_json(self) -> str:
        """``to_json`` of a test without records, written out key by key in ``_WIRE``'s
        order and spelling (one per test; tests/plugin/test_evidence_serialisation.py holds
        it to the encoder's)."""
        parts = []
        if self.correlation_ids:
            parts.append(f'"correlation_ids": [{", ".join(map(_ascii, self.correlation_ids))}]')
        if self.duration:
            parts.append(f'"duration": {json_number(self.duration)}')
        if self.markers:
            parts.append(f'"markers": [{", ".join(map(_ascii, self.markers))}]')
        if self.message:
            parts.append(f'"message": {_ascii(self.message)}')
        parts.append(f'"nodeid": {_ascii(self.nodeid)}')
        if self.outcome:
            parts.append(f'"outcome": {_ascii(self.outcome)}')
        if self.skip_reason:
            parts.append(f'"skip_reason": {_ascii(self.skip_reason)}')
        if self.when_failed:
            parts.append(f'"when_failed": {_ascii(self.when_failed)}')
        return "{" + ", ".join(parts) + "}"

    def redacted(self, secrets: list[str]) -> dict[str, Any]:
        """This test's evidence as every output shows it: plain data, secrets redacted (made
        once per test by the session, see ``SessionState.shown``). What needed no redacting
        is shared with the evidence itself (``redact.redacted_view``), so the evidence is
        final from here (``freeze``)."""
        from pytest_deployverify.redact import redact_texts

        if self.has_records():
            return self.redaction(secrets)[0]
        # the common case, a test without requests or checks: only its strings to redact
        # (the same result as the walk above: tests/plugin/test_evidence_serialisation.py)
        nodeid, message, skip_reason, *rest = redact_texts(
            [self.nodeid, self.message, self.skip_reason, *self.markers, *self.correlation_ids],
            secrets,
        )
        return {
            "nodeid": nodeid,
            "outcome": self.outcome,
            "when_failed": self.when_failed,
            "markers": rest[: len(self.markers)] if self.markers else NO_ITEMS,
            "correlation_ids": rest[len(self.markers) :] if self.correlation_ids else NO_ITEMS,
            "findings": NO_ITEMS,
            "exchanges": NO_ITEMS,
            "runs": NO_ITEMS,
            "timings": {},
            "timing_groups": {},
            "timing_plans": {},
            "reference_timings": {},
            "cleanup": NO_ITEMS,
            "message": message,
            "skip_reason": skip_reason,
            "duration": self.duration,
            "replays": NO_ITEMS,
        }

    def redaction(self, secrets: list[str]) -> tuple[dict[str, Any], bool]:
        """For evidence with records: the evidence as every output shows it (``redacted``),
        and whether redaction changed anything in it. When it did not, ``as_shown()`` gives
        the same again later, so the session keeps no copy until its end, only the fact
        (``SessionState.keep_shown``): nearly every test holds nothing to redact, and what a
        session keeps per test is walked by the collector and slows every later test (issue
        20)."""
        from pytest_deployverify.redact import redacted_view

        self.freeze()
        data = self._data()
        shown = redacted_view(data, secrets)
        return _empties_shared(shown), shown is not data

    def as_shown(self) -> dict[str, Any]:
        """The evidence as every output shows it when redaction changes nothing in it: plain
        data sharing the (final: ``freeze``) evidence's own values."""
        self.freeze()
        return _empties_shared(self._data())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TestEvidence:
        data = dict(data)
        data["findings"] = [Finding(**f) for f in data.get("findings", [])]
        data["exchanges"] = [Exchange(**e) for e in data.get("exchanges", [])]
        data["cleanup"] = [CleanupResult(**c) for c in data.get("cleanup", [])]
        return cls(**data)

    @classmethod
    def from_json(cls, text: str) -> TestEvidence:
        return cls.from_dict(json.loads(text))


#: the evidence's list fields (``_data``'s keys)
_LIST_FIELDS = ("markers", "correlation_ids", "findings", "exchanges", "runs", "cleanup", "replays")


def _empties_shared(shown: dict[str, Any]) -> dict[str, Any]:
    """``shown`` (a new dict: ours to change) with its empty lists the shared ``NO_ITEMS``:
    ``_data`` lists findings, exchanges and cleanup anew, empty ones too (the session keeps
    this until its end, and the collector walks every list it keeps: issue 20)."""
    for key in _LIST_FIELDS:
        if not shown[key]:
            shown[key] = NO_ITEMS
    return shown


def json_number(value: float) -> str:
    """``value`` as json's encoders write it (``repr``; NaN and the infinities as their
    words), without an encoder call: for the texts written key by key per test."""
    return repr(value) if math.isfinite(value) else _WIRE.encode(value)


def _copy(value: Any) -> Any:
    """A copy two levels deep (a list of records, a dict of lists), as ``to_dict`` promises."""
    if isinstance(value, list):
        return [dict(v) if isinstance(v, dict) else v for v in value]
    if isinstance(value, dict):
        return {
            k: list(v) if isinstance(v, list) else dict(v) if isinstance(v, dict) else v
            for k, v in value.items()
        }
    return value


#: this test's evidence, on ``item.stash`` from setup to the teardown report
EVIDENCE_KEY = pytest.StashKey[TestEvidence]()
