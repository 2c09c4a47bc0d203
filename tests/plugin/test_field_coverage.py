"""Field coverage: every response field received, and what (if anything) checked it.

Driven through pytester against the differently shaped alt service (tests/plugin/servers/),
serially and under xdist: the coverage data travels from workers like the evidence.
"""

from __future__ import annotations

import copy
import json
import pickle

import pytest
from plugin_support import load_json

from pytest_deployverify.fieldcoverage import FieldRecorder, config_declarations
from pytest_deployverify.fieldcoverage_marks import RouteFields, TrackedDict, quiet, wrap
from pytest_deployverify.redact import redact_value

FILES = "GET /ingest/v1/files/{id}"
UPLOAD = "POST /ingest/v1/files"


def _rows(verdict):
    """(route, path) -> 'unchecked' | 'declared' for the listed ones."""
    cov = verdict["coverage"]
    out = {(u["route"], u["path"]): "unchecked" for u in cov["unchecked"]}
    out.update({(d["route"], d["path"]): "declared" for d in cov["declared"]})
    return out


READER = """
import pytest

def test_reads(api, upload_document, json_schema, field_coverage):
    run = upload_document({pdf!r})
    run.raise_for_outcome()
    r = api.get(f"/ingest/v1/files/{{run.document_id}}")
    body = r.json()
    assert body["state"] == "DONE"
    json_schema.validate(r, schema={{
        "type": "object",
        "properties": {{
            "sha256": {{"type": "string", "pattern": "^[0-9a-f]{{64}}$"}},
            "size": {{"type": "integer"}},
        }},
    }})
    field_coverage.ignore("$.name", reason="we named the file ourselves", route="{files}")
"""


def test_each_field_is_counted_under_what_touched_it(project, alt, small_pdf, mode):
    project.alt(alt)
    project.tests(READER.format(pdf=small_pdf, files=FILES))
    result = project.run(*mode)
    result.assert_outcomes(passed=1)
    verdict = load_json(project.pytester.path / "reports" / "verdict.json")
    rows = _rows(verdict)
    # size: validated for its type only, read by nobody
    assert rows.get((FILES, "$.size")) == "unchecked"
    assert rows.get((FILES, "$.name")) == "declared"
    for touched in ("$.state", "$.sha256", "$.id"):  # read, schema pattern, sent back
        assert (FILES, touched) not in rows
    # the pipeline follower reads the task state; nobody looks at the upload's "dupe" echo
    assert (UPLOAD, "$.data.task.state") not in rows
    cov = verdict["coverage"]
    assert cov["counts"]["schema"] >= 1 and cov["counts"]["read"] >= 1
    assert cov["counts"]["declared"] == 1
    assert cov["counts"]["unchecked"] == cov["unchecked_total"] == len(cov["unchecked"])
    size = next(u for u in cov["unchecked"] if u["path"] == "$.size")
    assert isinstance(size["example"], int) and size["tests"] == ["test_inner.py::test_reads"]
    declared = next(d for d in cov["declared"] if d["path"] == "$.name")
    assert declared["reason"] == "we named the file ourselves"
    assert declared["declared_by"] == "test_inner.py::test_reads"
    summary = (project.pytester.path / "reports" / "summary.md").read_text()
    assert "Field coverage:" in summary and "unchecked" in summary
    result.stdout.fnmatch_lines(["*field coverage: * response fields on * routes*unchecked*"])


BASELINED = """
def test_file(api, upload_document, baseline):
    run = upload_document({pdf!r})
    run.raise_for_outcome()
    r = api.get(f"/ingest/v1/files/{{run.document_id}}")
    baseline.check("file", r.json(), ignore=["$.id"], tolerance={{"$.size": 0.5}})
"""


def test_baseline_comparison_is_exact_or_under_a_rule_and_ignore_checks_nothing(
    project, alt, small_pdf
):
    project.alt(alt)
    project.tests(BASELINED.format(pdf=small_pdf))
    project.run("--record-baseline", "--record-runs", "1").assert_outcomes(passed=1)
    result = project.run()
    result.assert_outcomes(passed=1)
    verdict = load_json(project.pytester.path / "reports" / "verdict.json")
    rows = _rows(verdict)
    for compared in ("$.name", "$.sha256", "$.state", "$.size"):
        assert (FILES, compared) not in rows
    # ignored by the comparison: only its use as an ID (clean-up deletes it) touches it
    assert (FILES, "$.id") not in rows
    cov = verdict["coverage"]
    assert cov["counts"]["exact"] >= 3 and cov["counts"]["rule"] >= 1


def test_ignored_by_the_comparison_and_never_sent_back_is_unchecked(project, alt, small_pdf):
    project.alt(alt)
    project.tests(
        f"""
        def test_file(api, upload_document, baseline):
            run = upload_document({small_pdf!r})
            run.raise_for_outcome()
            r = api.get(f"/ingest/v1/files/{{run.document_id}}")
            baseline.check("file", r.json(), ignore=["$.id", "$.sha256"])
        """
    )
    project.run("--record-baseline", "--record-runs", "1").assert_outcomes(passed=1)
    project.run().assert_outcomes(passed=1)
    rows = _rows(load_json(project.pytester.path / "reports" / "verdict.json"))
    assert rows.get((FILES, "$.sha256")) == "unchecked"
    assert (FILES, "$.name") not in rows


def test_config_declarations_show_as_declared(project, alt, small_pdf):
    project.alt(
        alt,
        extra="""
[tool.deployverify.coverage.ignore]
"GET /ingest/v1/files/{id} $.size" = "the size is the fixture's, not the service's"
"$.deleted" = "clean-up is judged by its status code"
""",
    )
    project.tests(READER.format(pdf=small_pdf, files=FILES))
    project.run().assert_outcomes(passed=1)
    verdict = load_json(project.pytester.path / "reports" / "verdict.json")
    rows = _rows(verdict)
    assert rows.get((FILES, "$.size")) == "declared"
    assert rows.get(("DELETE /ingest/v1/files/{id}", "$.deleted")) == "declared"
    by = {d["path"]: d for d in verdict["coverage"]["declared"]}
    assert by["$.size"]["declared_by"] == "config"
    assert by["$.deleted"]["reason"] == "clean-up is judged by its status code"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('"$.size" = ""', "*ignore '$.size' needs a reason*"),
        ('"$.a[" = "why"', "*ignore '$.a[[]':*does not parse*"),
    ],
)
def test_bad_declaration_is_a_usage_error(project, alt, table, message):
    project.alt(alt, extra=f"\n[tool.deployverify.coverage.ignore]\n{table}\n")
    project.tests("def test_x(api):\n    pass\n")
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


def test_fixture_declaration_needs_a_reason(project, alt):
    project.alt(alt)
    project.tests(
        """
        def test_x(field_coverage):
            field_coverage.ignore("$.x", reason="  ")
        """
    )
    result = project.run()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*field_coverage.ignore('$.x'): give a reason=*"])


# ---------------------------------------------------------------- the tracked body


def _tracked():
    fields = RouteFields()
    data = {"a": 1, "b": {"c": [1, 2], "d": "x"}, "e": [{"f": True}], "g": {}}
    return fields, data, wrap(json.loads(json.dumps(data)), fields, "$")


def test_tracked_body_is_a_real_dict():
    fields, data, body = _tracked()
    assert isinstance(body, dict) and body == data and data == body
    assert copy.deepcopy(body) == data and type(copy.deepcopy(body)) is dict
    assert pickle.loads(pickle.dumps(body)) == data
    assert dict(body) == data and {**body} == data
    assert not fields.touched  # none of that read a field
    # json.dumps iterates lists through __iter__ (C code we cannot tell apart): documented
    assert json.loads(json.dumps(body)) == data
    assert set(fields.touched) == {"$.b.c[*]"}


def test_tracked_body_marks_what_code_reads():
    fields, _, body = _tracked()
    assert body["a"] == 1
    assert body.get("b").get("d") == "x"
    assert [e["f"] for e in body["e"]] == [True]
    assert body.get("missing") is None
    reads = {p for p, kinds in fields.touched.items() if "read" in kinds}
    assert {"$.a", "$.b.d", "$.e[*].f"} <= reads
    assert "$.b.c[*]" not in reads and "$.missing" not in reads


def test_iterating_scalars_reads_them_but_plugin_copies_do_not():
    fields, _, body = _tracked()
    with quiet():
        redact_value(body, ["s3cret-value"])
        list(body["b"]["c"])
    assert not fields.touched
    assert sum(body["b"]["c"]) == 3
    assert "read" in fields.touched["$.b.c[*]"]


def test_recorder_notes_every_leaf_per_route_and_ids_sent_back():
    import requests

    rec = FieldRecorder("t")
    response = requests.Response()
    response.status_code = 200
    response.headers["Content-Type"] = "application/json"
    response._content = json.dumps(
        {"id": "0123456789abcdef0123", "items": [{"n": 1}, {"n": 2, "m": None}], "e": []}
    ).encode()
    rec.received("GET", "/things/0123456789abcdef0123?x=1", response)
    fields = rec.routes["GET /things/{id}"]
    assert set(fields.seen) == {"$.id", "$.items[*].n", "$.items[*].m", "$.e"}
    rec.sending("DELETE", "http://h/things/0123456789abcdef0123")
    assert fields.touched["$.id"] == {"used"}
    assert response.json()["items"][0]["n"] == 1
    assert "read" in fields.touched["$.items[*].n"]


def test_config_declarations_match_routes_and_globs():
    (d1, d2) = config_declarations(
        {"coverage": {"ignore": {"GET /a/{id} $.x[*].y": "r1", "$.**.secret": "r2"}}}, "p"
    )
    assert d1.matches("GET /a/{id}", "$.x[*].y") and not d1.matches("GET /b", "$.x[*].y")
    assert d2.matches("POST /z", "$.deep.er.secret") and not d2.matches("POST /z", "$.other")
    with pytest.raises(ValueError, match="unknown key"):
        config_declarations({"coverage": {"ignroe": {}}}, "p")


def test_tracked_dict_survives_generic_copies():
    # dataclasses.asdict rebuilds containers with type(obj)(items)
    import dataclasses

    @dataclasses.dataclass
    class Holder:
        value: object

    _, data, body = _tracked()
    assert dataclasses.asdict(Holder(body)) == {"value": data}
    assert isinstance(TrackedDict({"k": 1}), dict)


def test_report_section_lists_unchecked_declared_and_survivors():
    from pytest_deployverify.report.fields import coverage_line, render_section

    verdict = {
        "coverage": {
            "routes": 1,
            "paths": 3,
            "counts": {"exact": 1, "read": 0, "unchecked": 1, "declared": 1},
            "unchecked": [{"route": "GET /x", "path": "$.<b>", "example": 5, "tests": ["t"]}],
            "unchecked_total": 1,
            "declared": [
                {"route": "*", "path": "$.c", "reason": "varies", "declared_by": "config"}
            ],
            "fail_unchecked": False,
        },
        "mutation": {
            "seed": 1,
            "killed": 1,
            "survived": 1,
            "score": 0.5,
            "mutants": [
                {"id": "m1", "outcome": "killed", "description": "k", "killed_by": ["t"]},
                {"id": "m2", "outcome": "survived", "description": "GET /x $.a: bumped"},
            ],
        },
    }
    html = render_section(verdict)
    assert "What this run did not check" in html and "$.&lt;b&gt;" in html
    assert "varies" in html and html.index("m2") < html.index("m1")  # survivors first
    line = coverage_line(verdict)
    assert "1 of 3 response fields" in line and "**1 unchecked**" in line
    assert "1 of 2 mutants killed (50%)" in line
