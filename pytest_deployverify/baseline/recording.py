"""Record mode's test protocol: run a test ``--record-runs`` times, then learn and write.

A test that uses ``baseline``, ``timings`` or ``json_schema`` is run once per record run (only
the last run's reports are shown, or the first failing run's); its observations are learned
across the runs and its baseline file written on the process that ran it.
"""

from __future__ import annotations

from typing import cast

import pytest

from pytest_deployverify.baseline.session import (
    RECORDING_KEY,
    REPEAT_FIXTURES,
    BaselineSession,
    ItemRecording,
)
from pytest_deployverify.evidence import EVIDENCE_KEY


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
    bs.finish_recording(rec)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
