"""Live comparison with a reference deployment (``--reference-url`` / ``--reference-env``).

Real deployments on loopback, driven through pytester as a user would: two docservice
deployments (a clean reference; targets that are identical, drifted or broken) and two
altservice instances. Every inner run uses an EMPTY baseline directory: the reference alone
verifies, and the checks still fail where the target differs (value, status sequence, refusal
code), naming the path, while ids and timestamps never fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import jsonschema
import pytest
from plugin_support import ALT_KEY, ALT_KEY_VAR, Docservice, launched_docservice, load_json

from pytest_deployverify.reference import reference_correlation_id

SMALL = "small.pdf"
MEDIUM = "medium.pdf"
#: a target upload limit between small.pdf (2 kB) and medium.pdf (7.6 kB): medium is refused
SMALL_LIMIT = "4000"
SLOW = 4
#: what a difference on a volatile field would name (none of them may ever fail)
VOLATILE = ("created_at", "updated_at", "document_id", "job_id", "correlation_id", ".at", "id")


@pytest.fixture(scope="module")
def reference_ds() -> Iterator[Docservice]:
    """The clean reference deployment of this module."""
    with launched_docservice(name="reference-ds") as ds:
        yield ds


@pytest.fixture(scope="module")
def drifted_ds() -> Iterator[Docservice]:
    """A target whose outputs changed (config_drift), whose upload limit is lower and whose
    every stage takes four times longer (at least 0.15 s more: the slowdown is a floor, so
    load on the machine cannot hide it)."""
    launched = launched_docservice(
        "--fault", "config_drift", "--fault", f"slow={SLOW}", name="drifted-ds"
    )
    # the limit only in this launch's environment: a deployment launched later (the
    # reference, when this module's tests run in another order) must not inherit it
    with mock.patch.dict(os.environ, {"DOCSERVICE_MAX_UPLOAD_BYTES": SMALL_LIMIT}):
        ds = launched.__enter__()
    try:
        yield ds
    finally:
        launched.__exit__(None, None, None)


@pytest.fixture(scope="module")
def broken_ds() -> Iterator[Docservice]:
    """A target whose chunking fails (schema_drift): another status sequence."""
    with launched_docservice("--fault", "schema_drift", name="broken-ds") as ds:
        yield ds


def _ds_project(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    target: Docservice,
    reference: Docservice,
    tests: str,
) -> Path:
    """An inner project: env ``ds`` (the target) and env ``ref`` (the reference, its own
    token); an empty baseline directory."""
    monkeypatch.setenv("DV_TEST_DS_TOKEN", target.token)
    monkeypatch.setenv("DV_TEST_REF_TOKEN", reference.token)
    pytester.makefile(
        ".toml",
        pyproject=f"""
[tool.deployverify]
default_env = "ds"

[tool.deployverify.envs.ds]
base_url = "{target.url}"
secrets = {{ api_token = "DV_TEST_DS_TOKEN" }}
auth = "bearer:api_token"

[tool.deployverify.envs.ref]
base_url = "{reference.url}"
secrets = {{ api_token = "DV_TEST_REF_TOKEN" }}
auth = "bearer:api_token"

[tool.pytest.ini_options]
asyncio_default_fixture_loop_scope = "function"
""",
    )
    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    pytester.makepyfile(test_inner=f"FIXTURES = {str(fixtures)!r}\n" + tests)
    empty = pytester.path / "empty-baselines"
    empty.mkdir()
    return empty


PIPELINE_TESTS = """
import os

def test_pipeline(upload_document, baseline):
    run = upload_document(os.path.join(FIXTURES, "small.pdf"))
    baseline.check("pipeline", run)


def test_document_and_refusal(api, upload_document, baseline):
    run = upload_document(os.path.join(FIXTURES, "medium.pdf"))
    baseline.check("medium", run)
    baseline.check("upload", run.upload_response)
    if run.document_id:
        baseline.check("document", api.get(f"/api/v2/documents/{run.document_id}"))
    refused = api.post(
        "/api/v2/upload", files={"file": ("notes.txt", b"not a pdf", "text/plain")}
    )
    baseline.check("refused", refused)
"""


def _verdict_schema() -> Any:
    from importlib.resources import files

    schema = files("pytest_deployverify") / "schemas" / "verdict.schema.json"
    return json.loads(schema.read_text(encoding="utf-8"))


def _run(pytester: pytest.Pytester, empty: Path, *args: str) -> pytest.RunResult:
    return pytester.runpytest(
        "-p",
        "no:cacheprovider",
        "--target-env",
        "ds",
        "--reference-env",
        "ref",
        "--baseline",
        str(empty),
        *args,
    )


def test_identical_deployments_pass_with_an_empty_baseline_directory(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    docservice: Docservice,
    reference_ds: Docservice,
    mode: list[str],
    evidence: Any,
) -> None:
    empty = _ds_project(pytester, monkeypatch, docservice, reference_ds, PIPELINE_TESTS)
    result = _run(pytester, empty, *mode)
    result.assert_outcomes(passed=2)
    verdict = load_json(pytester.path / "reports" / "verdict.json")
    assert verdict["verdict"] == "pass", verdict.get("reasons")
    jsonschema.validate(verdict, _verdict_schema())
    block = verdict["reference"]
    assert block["deployment"]["urls"] == [reference_ds.url]
    assert block["deployment"]["asked"] == "one deployment, twice"
    assert block["checks"] == {"compared": 5, "passed": 5, "failed": 0, "unavailable": 0}
    assert list(empty.iterdir()) == []  # nothing recorded, nothing needed
    ev = evidence(result)
    checks = {f.check: f for e in ev.values() for f in e.findings if f.kind == "baseline"}
    # every check was compared with the reference, and none needed a stored baseline
    for name in ("pipeline", "medium", "upload", "document", "refused"):
        assert checks[f"reference:{name}"].outcome == "pass", checks[f"reference:{name}"]
        assert f"baseline:{name}" not in checks
    assert "volatile paths learned" in checks["reference:pipeline"].rule
    # the reference's documents were deleted too, under the related correlation IDs
    pipeline = ev["test_pipeline"]
    cid = pipeline.correlation_ids[0]
    reference_ids = {reference_correlation_id(cid, 0), reference_correlation_id(cid, 1)}
    cleaned = {c.correlation_id: c.result for c in pipeline.cleanup}
    assert set(cleaned) == {cid, *reference_ids}
    assert set(cleaned.values()) == {"deleted"}
    # the reference's requests are not the target's: no reference exchange in the evidence
    assert {x.correlation_id for e in ev.values() for x in e.exchanges} <= {
        c for e in ev.values() for c in e.correlation_ids
    }
    assert not any(x.correlation_id in reference_ids for x in pipeline.exchanges)


def test_changed_output_value_and_refusal_code_fail_naming_the_path(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    drifted_ds: Docservice,
    reference_ds: Docservice,
    evidence: Any,
) -> None:
    empty = _ds_project(pytester, monkeypatch, drifted_ds, reference_ds, PIPELINE_TESTS)
    result = _run(pytester, empty, "--html", "report.html")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert "does not match the reference deployment" in out
    # config_drift: another chunker version and embedding size
    assert "$.document.chunker.version" in out
    assert "$.document.embedding.dimensions" in out
    # the lower upload limit: 413 where the reference accepted with 202
    assert "$.upload_status_code: expected 202, observed 413" in out
    failing = [f for e in evidence(result).values() for f in e.findings if f.outcome == "fail"]
    reference = [f for f in failing if f.check.startswith("reference:")]
    assert "$.document.chunker.version" in {f.path for f in reference}
    # ids and timestamps differ on every deployment: their values never fail (a key the
    # refused upload lacks altogether does)
    for f in reference:
        if f.rule in ("stable value", "shape"):
            assert str(f.path).rsplit(".", 1)[-1] not in VOLATILE, f
    # side by side: target, reference and (none stored) baseline
    drift = next(f for f in failing if f.path == "$.document.chunker.version")
    assert drift.sides == {"target": "2", "reference": "1", "baseline": "<no baseline>"}
    verdict = load_json(pytester.path / "reports" / "verdict.json")
    assert verdict["verdict"] == "fail"
    jsonschema.validate(verdict, _verdict_schema())
    assert verdict["reference"]["checks"]["failed"] >= 2
    drift_entry = next(c for c in verdict["checks"] if c["path"] == "$.document.chunker.version")
    assert drift_entry["sides"] == drift.sides
    # the reports show the three sides of each difference
    summary = (pytester.path / "reports" / "summary.md").read_text()
    assert "| Target (this deployment) | Reference | Baseline |" in summary
    assert '`"2"` | `"1"` | `"<no baseline>"`' in summary
    assert "Reference deployment: env ref at " + reference_ds.url in summary
    html = (pytester.path / "report.html").read_text()
    assert "dv-sides" in html and "Reference deployment: env ref" in html
    assert f"reference: env 'ref' at {reference_ds.url} (one deployment, twice)" in out
    # neither deployment's token reaches any output
    written = out + result.stderr.str() + summary + html + json.dumps(verdict)
    assert reference_ds.token not in written
    assert drifted_ds.token not in written


def test_changed_status_sequence_fails_naming_the_path(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    broken_ds: Docservice,
    reference_ds: Docservice,
) -> None:
    tests = """
import os

def test_pipeline(upload_document, baseline):
    run = upload_document(os.path.join(FIXTURES, "small.pdf"))
    baseline.check("pipeline", run)
"""
    empty = _ds_project(pytester, monkeypatch, broken_ds, reference_ds, tests)
    result = _run(pytester, empty)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "$.statuses" in out
    assert '$.final_status: expected "complete", observed "failed_chunking"' in out


TIMED_TESTS = """
import os

def test_timed(upload_document, timings, tmp_path):
    original = open(os.path.join(FIXTURES, "small.pdf"), "rb").read()
    for i in range(5):
        # distinct bytes per upload: a de-duplicating service would answer the same job
        doc = tmp_path / f"timed-{i}.pdf"
        doc.write_bytes(original + f"\\n% copy {i}\\n".encode())
        run = upload_document(doc)
        assert run.outcome == "complete", run.describe()
        assert len(run.reference_runs) == 2
        timings.record_run(run)
"""


def test_slower_target_fails_its_timings_against_the_reference(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    drifted_ds: Docservice,
    reference_ds: Docservice,
) -> None:
    empty = _ds_project(pytester, monkeypatch, drifted_ds, reference_ds, TIMED_TESTS)
    result = _run(pytester, empty)
    result.assert_outcomes(passed=1)  # timings are judged at the session end, not in the test
    verdict = load_json(pytester.path / "reports" / "verdict.json")
    assert verdict["verdict"] == "fail"
    jsonschema.validate(verdict, _verdict_schema())
    assert verdict["reference"]["timings"]["failed"] >= 1
    live = {t["name"]: t for t in verdict["timings"] if t["reference"] == "reference deployment"}
    total = live["pipeline.total"]
    # the judge's own statistics: 5 target samples against the reference's 10 (asked twice)
    assert total["outcome"] == "fail", total["reason"]
    assert (total["target"]["n"], total["baseline"]["n"]) == (5, 10)
    assert total["ratio"] > 2
    # no stored samples were needed: nothing judged against the (empty) baseline
    assert not [t for t in verdict["timings"] if t["reference"] != "reference deployment"]
    assert "pipeline.total" in " ".join(verdict["reasons"])


# ---------------------------------------------------------------- the other service's shape

ALT_TESTS = """
def test_alt_pipeline(upload_document, baseline, tmp_path):
    doc = tmp_path / "a.pdf"
    doc.write_bytes(b"%PDF-1.4 alt reference")
    run = upload_document(doc)
    baseline.check("pipeline", run)
    baseline.check("upload", run.upload_response)
"""


@pytest.fixture(scope="module")
def alt_pair() -> Iterator[tuple[Any, Any]]:
    """Two altservice instances: the target and its reference (same key)."""
    from altservice import AltService

    target = AltService(api_key=ALT_KEY).start()
    reference = AltService(api_key=ALT_KEY).start()
    yield target, reference
    target.stop()
    reference.stop()


def _alt_run(
    project: Any,
    monkeypatch: pytest.MonkeyPatch,
    pair: tuple[Any, Any],
    *args: str,
    knobs: dict[str, Any] | None = None,
) -> pytest.RunResult:
    target, reference = pair
    for svc in pair:
        svc.reset()
    target.knobs.update(knobs or {})
    monkeypatch.setenv(ALT_KEY_VAR, ALT_KEY)
    project.alt(target)
    project.tests(ALT_TESTS)
    empty = project.pytester.path / "empty-baselines"
    empty.mkdir()
    return project.run("--reference-url", reference.url, "--baseline", str(empty), *args)


def test_alt_service_identical_instances_pass(
    project: Any, monkeypatch: pytest.MonkeyPatch, alt_pair: tuple[Any, Any]
) -> None:
    # serial only: the docservice cases above run under xdist too (an inner -n 2 run costs
    # ~25 s on a loaded 2-core machine)
    result = _alt_run(project, monkeypatch, alt_pair)
    result.assert_outcomes(passed=1)
    _, reference = alt_pair
    # the reference was asked twice (one URL): two uploads, both deleted
    uploads = [r for r in reference.requests if r["method"] == "POST"]
    assert len(uploads) == 2
    assert {r["headers"].get("X-Request-ID", "")[-12:] for r in uploads} == {
        "0000000000a1",
        "0000000000b2",
    }
    assert reference.files == {}


def test_alt_service_refusal_code_fails(
    project: Any, monkeypatch: pytest.MonkeyPatch, alt_pair: tuple[Any, Any]
) -> None:
    result = _alt_run(project, monkeypatch, alt_pair, knobs={"reject_uploads": True})
    result.assert_outcomes(failed=1)
    assert "$.upload_status_code: expected 201, observed 422" in result.stdout.str()


def test_a_stored_baseline_and_the_reference_both_apply(
    project: Any,
    monkeypatch: pytest.MonkeyPatch,
    alt_pair: tuple[Any, Any],
    evidence: Any,
) -> None:
    target, reference = alt_pair
    for svc in alt_pair:
        svc.reset()
    monkeypatch.setenv(ALT_KEY_VAR, ALT_KEY)
    project.alt(target)
    project.tests(ALT_TESTS)
    project.run("--record-baseline").assert_outcomes(passed=1)
    assert reference.requests == []  # recording asks no reference
    # unchanged: each check is compared with both, and both pass
    result = project.run("--reference-url", reference.url)
    result.assert_outcomes(passed=1)
    checks = {f.check: f.outcome for f in evidence(result)["test_alt_pipeline"].findings}
    assert checks["baseline:pipeline"] == checks["reference:pipeline"] == "pass"
    # the target refuses uploads: both comparisons fail, each difference shows all three
    target.knobs["reject_uploads"] = True
    result = project.run("--reference-url", reference.url)
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "does not match baselines/" in out
    assert "does not match the reference deployment" in out
    failing = [f for f in evidence(result)["test_alt_pipeline"].findings if f.outcome == "fail"]
    status = {f.check: f.sides for f in failing if f.path == "$.upload_status_code"}
    assert status["baseline:pipeline"] == {"target": 422, "reference": 201, "baseline": 201}
    assert status["reference:pipeline"] == {"target": 422, "reference": 201, "baseline": 201}


def test_two_reference_deployments_are_each_asked_once(
    project: Any, monkeypatch: pytest.MonkeyPatch, alt_pair: tuple[Any, Any]
) -> None:
    from altservice import AltService

    second = AltService(api_key=ALT_KEY).start()
    try:
        second.reset()
        result = _alt_run(project, monkeypatch, alt_pair, "--reference-url", second.url)
        result.assert_outcomes(passed=1)
        _, first = alt_pair
        for svc in (first, second):
            uploads = [r for r in svc.requests if r["method"] == "POST"]
            assert len(uploads) == 1, svc.url
            assert svc.files == {}
        assert {r["headers"]["X-Request-ID"][-12:] for r in first.requests} == {"0000000000a1"}
        assert {r["headers"]["X-Request-ID"][-12:] for r in second.requests} == {"0000000000b2"}
        verdict = load_json(project.pytester.path / "reports" / "verdict.json")
        assert verdict["reference"]["deployment"]["asked"] == "two deployments, once each"
    finally:
        second.stop()


def test_an_unreachable_reference_stops_the_run_before_any_test(
    project: Any, monkeypatch: pytest.MonkeyPatch, alt_pair: tuple[Any, Any]
) -> None:
    from verdict_support import dead_url

    target, _ = alt_pair
    target.reset()
    monkeypatch.setenv(ALT_KEY_VAR, ALT_KEY)
    project.alt(target)
    project.tests(ALT_TESTS)
    dead = dead_url().rsplit("/", 1)[0]
    result = project.run("--reference-url", dead, "--probe-timeout", "1")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert f"the reference deployment (--reference-url) at {dead} is unreachable" in err
    assert "Traceback" not in err
    assert target.requests == []  # nothing was sent to the target either


def test_a_reference_that_stops_answering_is_an_error_never_a_pass(small_pdf: str) -> None:
    """A reference gone after the start: the mirrored upload cannot reach it, the target's
    test goes on, and the check that asks for it gets an error naming why (never a pass)."""
    from verdict_support import dead_url

    from pytest_deployverify.baseline.live import compare_live
    from pytest_deployverify.config import Target
    from pytest_deployverify.pipeline import PipelineRun
    from pytest_deployverify.reference import Mirror, Reference

    dead = Target(name="gone", base_url=dead_url().rsplit("/", 1)[0])
    mirror = Mirror(
        Reference((dead, dead), "--reference-url"),
        "9a3b0079-b896-4c6c-b901-65bbb10ebf77",
        evidence=None,
        deadline=5,
        stall_timeout=5,
        secrets=[],
    )
    runs = mirror.upload(Path(small_pdf), {})
    assert runs == []
    run = PipelineRun(filename="small.pdf", correlation_id="c", document={"id": "x"})
    mirror.learn_run(run, runs)
    for value in (run, run.document):
        counterpart = mirror.counterpart(value)
        assert counterpart is not None
        assert "ConnectionError" in counterpart.errors[0]
        live = compare_live(value, counterpart.answers, counterpart.errors, [], [])
        assert live.unavailable is not None and "ConnectionError" in live.unavailable
    mirror.close()


def test_a_protected_reference_is_asked_only_by_marked_tests(
    project: Any, monkeypatch: pytest.MonkeyPatch, alt_pair: tuple[Any, Any]
) -> None:
    target, reference = alt_pair
    for svc in alt_pair:
        svc.reset()
    monkeypatch.setenv(ALT_KEY_VAR, ALT_KEY)
    project.alt(
        target,
        extra=f"""
[tool.deployverify.envs.altref]
base_url = "{reference.url}"
secrets = {{ key = "{ALT_KEY_VAR}" }}
auth = "header:X-Api-Key:key"
health_path = "/healthz"
protected = true
""",
    )
    project.tests(
        """
        import pytest

        def test_unmarked(upload_document, baseline, tmp_path):
            doc = tmp_path / "u.pdf"
            doc.write_bytes(b"%PDF-1.4 unmarked")
            run = upload_document(doc)
            assert run.reference_runs == []
            baseline.check("pipeline", run)

        @pytest.mark.canary
        def test_canary(upload_document, baseline, tmp_path):
            doc = tmp_path / "c.pdf"
            doc.write_bytes(b"%PDF-1.4 canary")
            baseline.check("pipeline", upload_document(doc))
        """
    )
    empty = project.pytester.path / "empty-baselines"
    empty.mkdir()
    result = project.run("--reference-env", "altref", "--baseline", str(empty))
    # the unmarked test never reached the reference: its check needs a stored baseline
    result.assert_outcomes(passed=1, failed=1)
    assert "baseline 'pipeline' is missing" in result.stdout.str()
    uploads = [r for r in reference.requests if r["method"] == "POST"]
    assert len(uploads) == 2  # the canary's, asked twice
    assert reference.files == {}


# ---------------------------------------------------------------- configuration mistakes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--reference-url", "ftp://x"], "--reference-url = 'ftp://x' is not an http(s) URL"),
        (
            [
                "--reference-url",
                "http://a",
                "--reference-url",
                "http://b",
                "--reference-url",
                "http://c",
            ],
            "3 reference URLs given",
        ),
        (["--reference-url", "http://a", "--reference-url", "http://a/"], "the same URL twice"),
        (["--reference-env", "nope"], "--reference-env 'nope': no [tool.deployverify.envs.nope]"),
    ],
)
def test_bad_reference_options_are_one_clear_usage_error(
    pytester: pytest.Pytester, args: list[str], message: str
) -> None:
    pytester.makefile(
        ".toml",
        pyproject='[tool.deployverify.envs.local]\nbase_url = "http://127.0.0.1:9"\n',
    )
    pytester.makepyfile("def test_x():\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()
    assert "Traceback" not in result.stderr.str()


def test_reference_env_without_its_secret_names_the_reference(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DV_TEST_REF_MISSING", raising=False)
    pytester.makefile(
        ".toml",
        pyproject="""
[tool.deployverify.envs.local]
base_url = "http://127.0.0.1:9"

[tool.deployverify.envs.blue]
base_url = "http://127.0.0.1:9"
secrets = { api_token = "DV_TEST_REF_MISSING" }
auth = "bearer:api_token"
""",
    )
    pytester.makepyfile("def test_x(target):\n    pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider", "--reference-env", "blue")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "the reference deployment (--reference-env blue)" in err
    assert "DV_TEST_REF_MISSING" in err
