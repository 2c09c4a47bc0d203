"""Record mode's test protocol: run a test ``--record-runs`` times, then learn and write.

A test that uses ``baseline``, ``timings`` or ``json_schema`` is run once per record run (only
the last run's reports are shown, or the first failing run's); its observations are learned
across the runs and its baseline file written on the process that ran it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, cast

import pytest

from pytest_deployverify import __version__
from pytest_deployverify.baseline import learn, shapes, storage
from pytest_deployverify.baseline.model import BaselineFile, Observation, Rule
from pytest_deployverify.baseline.session import BaselineSession, read_file
from pytest_deployverify.evidence import EVIDENCE_KEY

#: Fixtures whose tests are repeated in record mode (their observations or timings are learned).
REPEAT_FIXTURES = ("baseline", "timings", "json_schema")


@dataclass
class ItemRecording:
    """What one test observed across its record runs."""

    nodeid: str
    run: int = 0
    #: name -> one value per run that checked it
    values: dict[str, list[Any]] = field(default_factory=dict)
    #: name -> the user rules of the check call (the last call wins)
    rules: dict[str, list[Rule]] = field(default_factory=dict)
    #: names checked in the current run (a name twice in one run is an error)
    seen: set[str] = field(default_factory=set)
    timings: dict[str, list[float]] = field(default_factory=dict)
    failed: bool = False
    runs_done: int = 0

    def begin_run(self, index: int) -> None:
        self.run = index
        self.seen = set()


RECORDING_KEY = pytest.StashKey[ItemRecording]()


def run_recorded(item: pytest.Item, nextitem: pytest.Item | None, bs: BaselineSession) -> None:
    """``pytest_runtest_protocol`` for one test in record mode."""
    from _pytest.runner import runtestprotocol

    rec = ItemRecording(nodeid=item.nodeid)
    item.stash[RECORDING_KEY] = rec
    fixturenames = getattr(item, "fixturenames", ())
    runs = bs.record_runs if any(f in fixturenames for f in REPEAT_FIXTURES) else 1
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    first_failed: list[pytest.TestReport] | None = None
    for index in range(runs):
        last = index == runs - 1
        rec.begin_run(index)
        # Earlier runs tear down only the test's own fixtures (nextitem = its parent), so
        # module and session fixtures (a launched deployment) live across the runs. pytest's
        # teardown only calls ``listchain()`` on nextitem, which every node has.
        parent = cast(pytest.Item, item.parent)
        reports = runtestprotocol(item, log=False, nextitem=nextitem if last else parent)
        rec.runs_done += 1
        evidence = item.stash.get(EVIDENCE_KEY, None)
        if evidence is not None:
            for name, samples in evidence.timings.items():
                rec.timings.setdefault(name, []).extend(samples)
        if any(r.failed for r in reports):
            rec.failed = True
            if first_failed is None:
                first_failed = reports
        if last:
            # One set of reports per test: the first failing run's, else the last run's
            # (each run's teardown report carries that run's evidence).
            for report in first_failed if first_failed is not None else reports:
                item.ihook.pytest_runtest_logreport(report=report)
    finish_recording(bs, rec)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)


def finish_recording(bs: BaselineSession, rec: ItemRecording) -> None:
    """Learn from a test's record runs and write its file (on the process that ran it)."""
    rel = bs.rel_for(rec.nodeid)
    shown = bs.shown(rel)
    if rec.failed:
        bs.note("record_failed", rec.nodeid)
        return
    if not rec.values and not rec.timings:
        return
    observations = {}
    for name, runs in rec.values.items():
        user_rules = rec.rules.get(name, [])
        value, rules = learn.learn(runs, [*user_rules, *bs.config_rules])
        schema = shapes.merge_schemas([shapes.infer_schema(v) for v in runs])
        observations[name] = Observation(name=name, value=value, rules=rules, schema=schema)
    try:
        old_status, old_raw = read_file(bs.os_path(rel))
    except OSError:
        old_raw = None
    old = _parsed(old_raw) if old_raw is not None else None
    # an unchanged file keeps its recording time: the new data gets it from the start, so
    # it equals the file's data as it is (no copies without the stamp to compare)
    stamp = old.get("recorded_at") if old is not None else None
    kept = stamp if isinstance(stamp, str) else None
    new = BaselineFile(
        nodeid=rec.nodeid,
        observations=observations,
        timings=rec.timings,
        plugin_version=__version__,
        recorded_from=bs.target.name if bs.target is not None else None,
        deployment_version=bs.deployment_version(),
        recorded_at=kept if kept is not None else bs.recorded_at,
        record_runs=rec.runs_done,
    )
    data = new.to_dict()
    if old is not None and _same_data(old, data):
        bs.note("unchanged", shown)
        # the file stays as it is: remembered with its own recording time, so the session
        # end's checksum and provenance need not read and parse it again
        if kept is not None and old_raw is not None:
            bs.remember(rel, old_raw, new, old_status)
        return
    if kept is not None:  # changed: recorded now
        new.recorded_at = data["recorded_at"] = bs.recorded_at
    text = storage.dumps(data)
    raw = text.encode("utf-8")
    # in place at the session end, all made durable at once (``BaselineSession.publish``)
    status = bs.writes.stage(bs.path_of(rel), raw)
    bs.remember(rel, raw, new, status)
    bs.note("updated" if old_raw is not None else "written", shown)


#: the canonical compact text of plain data (json's C encoder): equal texts mean equal data
#: with equal types (``True``, ``1`` and ``1.0`` differ, as do ``0.0`` and ``-0.0``), which
#: plain ``==`` does not tell apart
_COMPACT = json.JSONEncoder(
    sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":")
).encode


def _parsed(raw: bytes) -> dict[str, Any] | None:
    """A baseline file's data (None: not UTF-8 JSON of an object)."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _same_data(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether a file's data and a new recording's are the same apart from ``recorded_at``:
    whether their canonical texts are equal (``_COMPACT``: types count, so ``True``, ``1`` and
    ``1.0`` differ, as do ``0.0`` and ``-0.0``).

    The file's indented text is the same function of the data, so this tells what comparing
    the texts told, without the pure-Python indented encoding. A file whose formatting alone
    was changed by hand is left as it is. Data equal type for type (``_identical``: the
    unchanged re-recording, whose new data carries the file's own ``recorded_at``) has equal
    texts without encoding either; only data that is not (another stamp, a tuple for a list,
    an int key for a string) is encoded to be sure.
    """
    if _identical(old, new):
        return True
    try:
        return _COMPACT(_without_stamp(old)) == _COMPACT(_without_stamp(new))
    except (TypeError, ValueError):  # not plain data: storage.dumps says what is wrong
        return False


def _identical(a: Any, b: Any) -> bool:
    """``a == b`` with every type equal too, and no ``-0.0`` for ``0.0``: then their canonical
    texts are equal. Encoding both was most of an unchanged re-recording's cost
    (benchmarks/README.md, issue 20); this walk is about 40 % of it. Strings, integers,
    booleans and None are compared in the loop, without a call each."""
    kind = type(a)
    if kind is not type(b):
        return False
    if kind is dict:
        if len(a) != len(b):
            return False
        for key, value in a.items():
            other = b.get(key, _ABSENT)
            inner = type(value)
            if inner is not type(other) or type(key) is not str:
                return False
            if inner in _PLAIN:
                if value != other:
                    return False
            elif not _identical(value, other):
                return False
        return True
    if kind is list:
        return len(a) == len(b) and all(map(_identical, a, b))
    if kind is float:
        # equal finite floats have equal texts except 0.0 and -0.0; NaN and the infinities
        # have none (the encoder refuses them)
        if a != b or not math.isfinite(a):
            return False
        return a != 0.0 or math.copysign(1.0, a) == math.copysign(1.0, b)
    return kind in _PLAIN and a == b


_ABSENT = object()
#: the other types JSON has; anything else is left to the encoder to judge
_PLAIN = frozenset({str, int, bool, type(None)})


def _without_stamp(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k != "recorded_at"}
