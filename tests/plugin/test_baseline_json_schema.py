"""json_schema fixture: schema files and record-time inferred schemas; timings in the file."""

from __future__ import annotations

import json

import baseline_support

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

SCHEMA = {
    "type": "object",
    "required": ["id", "title", "chunks"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "title": {"type": "string"},
        "pages": {"type": "integer"},
        "created_at": {"type": "string", "format": "date-time"},
        "chunks": {"type": "array", "items": {"type": "object", "required": ["sha256"]}},
    },
}


def test_schema_file_violations_listed_with_paths(bproject, pytester, noisy):
    (pytester.path / "schemas").mkdir()
    (pytester.path / "schemas" / "doc.json").write_text(json.dumps(SCHEMA))
    bproject.tests(
        """
        def test_doc(api, json_schema):
            json_schema.validate(api.get("/doc"), schema="schemas/doc.json")
        """
    )
    bproject.run().assert_outcomes(passed=1)
    for drift, line in (
        ("null_id", "$.id: None is not of type 'string'"),
        ("bad_time", "$.created_at: 'yesterday' is not a 'date-time'"),
        ("type", "$.pages: '5' is not of type 'integer'"),
    ):
        noisy.drift = drift
        result = bproject.run()
        result.assert_outcomes(failed=1)
        out = result.stdout.str()
        assert "1 JSON Schema violation against schemas/doc.json:" in out, out
        assert line in out


def test_bad_schema_file_is_a_clear_error(bproject, pytester):
    (pytester.path / "bad.json").write_text('{"type": "strang"}')
    bproject.tests(
        """
        def test_x(json_schema):
            json_schema.validate({"a": 1}, schema="bad.json")
        """
    )
    result = bproject.run()
    result.assert_outcomes(failed=1)
    assert "bad.json: invalid JSON Schema" in result.stdout.str()


def test_inferred_schema_from_recording(bproject, noisy):
    bproject.tests(
        """
        def test_doc(api, baseline, json_schema):
            response = api.get("/doc")
            baseline.check("doc", response, ignore=["**"])
            json_schema.validate(response, name="doc")
        """
    )
    bproject.record().assert_outcomes(passed=1)
    schema = bproject.load("test_inner/test_doc.json")["observations"]["doc"]["schema"]
    assert schema["properties"]["body"]["properties"]["id"] == {"type": "string", "format": "uuid"}
    bproject.run().assert_outcomes(passed=1)
    noisy.drift = "missing_key"
    result = bproject.run()
    result.assert_outcomes(failed=1)
    assert "$.body: 'owner' is a required property" in result.stdout.str()


def test_no_recorded_schema_is_a_failure(bproject):
    bproject.tests(
        """
        def test_x(json_schema):
            json_schema.validate({"a": 1}, name="nothing")
        """
    )
    result = bproject.run()
    result.assert_outcomes(failed=1)
    assert "no recorded schema for observation 'nothing'" in result.stdout.str()


def test_timing_samples_of_every_record_run_are_stored(bproject):
    bproject.tests(
        """
        def test_t(timings, baseline):
            timings.record("step", 0.25)
            baseline.check("v", 1)
        """
    )
    bproject.record("--record-runs", "3").assert_outcomes(passed=1)
    stored = bproject.load("test_inner/test_t.json")
    assert stored["timings"] == {"step": [0.25, 0.25, 0.25]}
    assert stored["record_runs"] == 3


def test_a_response_validated_as_json_must_be_served_as_json(pytester, bproject, noisy):
    bproject.tests(
        """
        import requests

        def _response(ctype):
            r = requests.Response()
            r.status_code = 200
            r.headers["Content-Type"] = ctype
            r._content = b'{"id": "x"}'
            return r

        def test_json(json_schema):
            json_schema.validate(_response("application/json; charset=utf-8"), schema={})
            json_schema.validate(_response("application/problem+json"), schema={})

        def test_text(json_schema):
            json_schema.validate(_response("text/plain"), schema={})
        """
    )
    result = bproject.run()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*$: the body is served as Content-Type 'text/plain', not as JSON*"]
    )
