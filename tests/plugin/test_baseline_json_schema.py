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


def _valid_file() -> dict:
    rule = {"path": "$.n", "kind": "tolerance", "rel": 0.1, "source": "call", "optional": False}
    return {
        "schema_version": 1,
        "plugin_version": "0.1.0",
        "recorded_from": "local",
        "deployment_version": None,
        "recorded_at": "2026-12-02T03:51:35Z",
        "record_runs": 2,
        "test": "tests/test_a.py::test_a",
        "observations": {
            "v": {
                "value": {"n": 1},
                "rules": [rule, {"path": "$.s", "kind": "shape", "schema": {}}],
            },
        },
        "timings": {"upload": [0.5, 1]},
    }


def _mutations():
    """Files that break baseline.schema.json in one place each."""
    for key in list(_valid_file()):
        if key != "deployment_version":
            data = _valid_file()
            del data[key]
            yield data
    bad_top = {
        "schema_version": [2, 1.5, True, "1"],
        "plugin_version": [None, 1],
        "recorded_from": [3],
        "recorded_at": ["yesterday", 5],
        "record_runs": [0, True, "2", 1.5],
        "test": ["", None],
        "observations": [[], None],
        "timings": [[], {"upload": [-1]}, {"upload": [True]}, {"upload": "1"}],
        "extra": [1],
    }
    for key, values in bad_top.items():
        for value in values:
            data = _valid_file()
            data[key] = value
            yield data
    bad_obs = [[], {"value": 1}, {"rules": []}, {"value": 1, "rules": [], "x": 1}]
    bad_obs += [{"value": 1, "rules": {}}, {"value": 1, "rules": [], "schema": 1}]
    for obs in bad_obs:
        data = _valid_file()
        data["observations"]["v"] = obs
        yield data
    bad_rules = [
        "x",
        {"path": "$.a"},
        {"kind": "ignore"},
        {"path": "", "kind": "ignore"},
        {"path": "$.a", "kind": "other"},
        {"path": "$.a", "kind": "shape"},
        {"path": "$.a", "kind": "tolerance"},
        {"path": "$.a", "kind": "ignore", "source": "elsewhere"},
        {"path": "$.a", "kind": "ignore", "schema": 1},
        {"path": "$.a", "kind": "tolerance", "rel": -1},
        {"path": "$.a", "kind": "tolerance", "abs": "1"},
        {"path": "$.a", "kind": "ignore", "optional": 1},
        {"path": "$.a", "kind": "ignore", "extra": 1},
    ]
    for rule in bad_rules:
        data = _valid_file()
        data["observations"]["v"]["rules"] = [rule]
        yield data


def test_cheap_structural_check_never_accepts_what_the_schema_rejects():
    """Loading skips jsonschema when storage._conforms says yes: it must be no looser."""
    from pytest_deployverify.baseline import shapes, storage

    valid = _valid_file()
    assert shapes.violations(storage.file_schema(), valid) == []
    assert storage._conforms(valid)
    mutations = list(_mutations())
    assert len(mutations) > 40
    for data in mutations:
        assert shapes.violations(storage.file_schema(), data), data  # the mutation is invalid
        assert not storage._conforms(data), data
