"""Timestamp sanity: a deployment whose clock is an hour off (docservice's clock_skew fault)
fails naming field, value and skew; a clean deployment and a service of another shape
(altservice, other timestamp fields) do not; --clock-skew widens the window."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from plugin_support import launched_docservice

from pytest_deployverify.pipeline_run import StatusEvent, parse_ts
from pytest_deployverify.timestamps import check_run

INNER = """
def test_upload(upload_document):
    upload_document({pdf!r}).raise_for_outcome()
"""


@pytest.fixture(scope="module")
def skewed_ds() -> Iterator[object]:
    with launched_docservice("--fault", "clock_skew=3600", name="skewed-clock") as ds:
        yield ds


def _timestamp_findings(evidence_by_test: dict[str, object]) -> list[object]:
    return [
        f
        for ev in evidence_by_test.values()
        for f in ev.findings  # type: ignore[attr-defined]
        if f.check == "timestamps"
    ]


def test_skewed_clock_fails_naming_field_value_and_skew(
    project, skewed_ds, monkeypatch, small_pdf, evidence
):
    project.docservice(skewed_ds, monkeypatch)
    project.tests(INNER.format(pdf=small_pdf))
    result = project.run()
    found = _timestamp_findings(evidence(result))
    assert found and all(f.outcome == "fail" for f in found)
    assert "allowed clock skew 120 s" in found[0].message
    assert "server timestamp events[0].at" in found[0].message
    assert found[0].observed in found[0].message  # the value itself
    assert "Check timestamps failed in test_inner.py::test_upload: server timestamp" in (
        result.stdout.str()
    )
    # an hour is inside a 2-hour allowance: nothing to report
    wide = project.run("--clock-skew=7200")
    assert _timestamp_findings(evidence(wide)) == []


def test_clean_deployment_has_sane_timestamps(
    project, docservice, monkeypatch, small_pdf, evidence
):
    project.docservice(docservice, monkeypatch)
    project.tests(INNER.format(pdf=small_pdf))
    result = project.run()
    result.assert_outcomes(passed=1)
    assert _timestamp_findings(evidence(result)) == []


def test_service_of_another_shape_is_judged_by_its_own_fields(project, alt, small_pdf, evidence):
    project.alt(alt)
    project.tests(INNER.format(pdf=small_pdf))
    result = project.run()
    result.assert_outcomes(passed=1)
    assert _timestamp_findings(evidence(result)) == []


def _run(*events: tuple[str, str], job: object = None, duplicate: bool = False) -> object:
    return SimpleNamespace(
        statuses=[StatusEvent(status=s, at=at) for s, at in events],
        upload_response=None,
        job=job,
        document=None,
        duplicate=duplicate,
        correlation_id="cid",
        job_id="j1",
    )


def test_events_out_of_order_and_nested_fields_are_named():
    now = parse_ts("2030-01-01T00:00:10Z").timestamp()  # type: ignore[union-attr]
    run = _run(
        ("uploaded", "2030-01-01T00:00:05Z"),
        ("complete", "2030-01-01T00:00:04Z"),
        job={"meta": {"seen": "1999-01-01T00:00:00Z"}},
    )
    found = check_run(run, started=now - 60, skew=10_000_000_000, parse=parse_ts)
    assert [f.path for f in found] == ["events (uploaded -> complete)"]
    # without the huge skew the nested 1999 value is named by its path (no field name assumed)
    found = check_run(run, started=now - 60, skew=120, parse=parse_ts)
    assert "job$.meta.seen" in [f.path for f in found]
    # a duplicate's job is older than the run by design
    dup = _run(job={"created": "1999-01-01T00:00:00Z"}, duplicate=True)
    assert check_run(dup, started=now, skew=120, parse=parse_ts) == []
