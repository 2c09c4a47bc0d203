"""Record mode's test protocol: run a test ``--record-runs`` times, then learn and write.

A test that uses ``baseline``, ``timings`` or ``json_schema`` is run once per record run (only
the last run's reports are shown, or the first failing run's); its observations are learned
across the runs and its baseline file written on the process that ran it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any, cast

import pytest

from pytest_deployverify import __version__
from pytest_deployverify.baseline import storage
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
    from pytest_deployverify.baseline import learn, shapes

    path = bs.file_for(rec.nodeid)
    shown = bs.display(path)
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
    deployment_version = bs.deployment_version()
    new = BaselineFile(
        nodeid=rec.nodeid,
        observations=observations,
        timings=rec.timings,
        plugin_version=__version__,
        recorded_from=bs.target.name if bs.target is not None else None,
        deployment_version=deployment_version,
        recorded_at=bs.recorded_at,
        record_runs=rec.runs_done,
    )
    text = storage.dumps(new.to_dict())
    try:
        old_status, old_raw = read_file(path)
        old_text: str | None = old_raw.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        old_text = None
    if old_text is not None and _same_but_recorded_at(old_text, text):
        bs.note("unchanged", shown)
        # the file stays as it is: remembered with its own recording time, so the session
        # end's checksum and provenance need not read and parse it again
        stamp = _recorded_at(old_text)
        if stamp is not None:
            bs.remember(path, old_raw, replace(new, recorded_at=stamp), old_status)
        return
    raw = text.encode("utf-8")
    # in place at the session end, all made durable at once (``BaselineSession.publish``)
    status = bs.writes.stage(path, raw)
    bs.remember(path, raw, new, status)
    bs.note("updated" if old_text is not None else "written", shown)


def _recorded_at(text: str) -> str | None:
    """The ``recorded_at`` of a file's text as written by ``storage.dumps`` (None: not
    found, or not a time; the session end then reads the file)."""
    span = _recorded_at_line(text)
    if span is None:
        return None
    start, end = span
    try:
        stamp = json.loads(text[start + len(_RECORDED_AT) : end].rstrip(","))
    except ValueError:
        return None
    return stamp if isinstance(stamp, str) else None


#: the top-level ``recorded_at`` line's start, as ``storage.dumps`` writes it
_RECORDED_AT = '\n  "recorded_at":'


def _recorded_at_line(text: str) -> tuple[int, int] | None:
    """Where the top-level ``recorded_at`` line is: from its leading newline to its end."""
    start = text.find(_RECORDED_AT)
    if start < 0:
        return None
    end = text.find("\n", start + 1)
    return start, end if end >= 0 else len(text)


def _same_but_recorded_at(old: str, new: str) -> bool:
    """Whether two file texts differ at most in their ``recorded_at`` line."""
    # first the line cut out by position (text as written by storage.dumps: one top-level
    # recorded_at line); only texts that differ then are compared line by line
    return _cut_recorded_at(old) == _cut_recorded_at(new) or (
        _without_recorded_at(old) == _without_recorded_at(new)
    )


def _cut_recorded_at(text: str) -> str:
    span = _recorded_at_line(text)
    if span is None:
        return text
    return text[: span[0]] + text[span[1] :]


def _without_recorded_at(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith('  "recorded_at":'))
