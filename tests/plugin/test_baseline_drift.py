"""Each kind of drift fails the comparison with its path, expected/observed and rule."""

from __future__ import annotations

import baseline_support
from baseline_support import DOC_TEST

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

# drift -> lines the failure must contain
EXPECTED = {
    "value": [
        '$.body.title: expected "Quarterly report", observed "Quarterly report (draft)" [stable value]'
    ],
    "missing_key": ['$.body.owner: expected "synthetic-user", observed <missing> [missing key]'],
    "extra_key": ["$.body.debug: expected <missing>, observed true [extra key]"],
    "type": ['$.body.pages: expected 5, observed "5" [type] expected integer, observed string'],
    "short_list": [
        '$.body.chunks: expected "3 items", observed "2 items" [list length]',
        "$.body.chunks[1]: expected {",
        "observed <missing> [missing item]",
    ],
    "null_id": ["$.body.id: expected {", "observed null [shape] None is not of type 'string'"],
    "bad_time": [
        "$.body.created_at: expected {",
        "observed \"yesterday\" [shape] 'yesterday' is not a 'date-time'",
    ],
    "score": ["$.body.score: expected 0.", "observed 1.35 [tolerance]"],
    "status_missing": [
        '$.body.statuses: expected "5 items", observed "4 items" [list length]',
        '$.body.statuses[2]: expected "parsed", observed <missing> [missing item]',
    ],
    "status_extra": [
        '$.body.statuses: expected "5 items", observed "6 items" [list length]',
        '$.body.statuses[3]: expected <missing>, observed "failed_parse" [extra item]',
    ],
}


def test_every_drift_kind_fails_with_its_path(bproject, noisy):
    bproject.tests(DOC_TEST)
    bproject.record().assert_outcomes(passed=1)
    # noise alone passes, several times in a row
    for _ in range(3):
        bproject.run().assert_outcomes(passed=1)
    for drift, fragments in EXPECTED.items():
        noisy.drift = drift
        result = bproject.run()
        out = result.stdout.str()
        assert result.ret == 1, (drift, out)
        result.assert_outcomes(failed=1)
        for fragment in fragments:
            assert fragment in out, f"drift {drift!r}: {fragment!r} not in output:\n{out}"
    noisy.drift = ""
    bproject.run().assert_outcomes(passed=1)


def test_every_difference_is_listed_and_in_findings(bproject, pytester, monkeypatch):
    bproject.tests(
        """
        import json, os
        def test_many(baseline, request):
            value = {"a": 1, "b": "x", "c": [1, 2, 3], "d": {"e": True}}
            if os.environ.get("DV_DRIFT"):
                value = {"a": 2, "b": None, "c": [1, 2], "d": {"e": 1}, "f": 0}
            try:
                baseline.check("v", value)
            finally:
                from pytest_deployverify.evidence import EVIDENCE_KEY
                ev = request.node.stash[EVIDENCE_KEY]
                with open("findings.json", "w") as fh:
                    json.dump([f.__dict__ for f in ev.findings], fh)
        """
    )
    bproject.record().assert_outcomes(passed=1)
    monkeypatch.setenv("DV_DRIFT", "1")
    result = bproject.run()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "6 differences" in out
    for line in (
        "$.a: expected 1, observed 2 [stable value]",
        '$.b: expected "x", observed null [type]',
        '$.c: expected "3 items", observed "2 items" [list length]',
        "$.d.e: expected true, observed 1 [type]",
        "$.f: expected <missing>, observed 0 [extra key]",
    ):
        assert line in out
    import json

    findings = json.loads((pytester.path / "findings.json").read_text())
    assert {f["path"] for f in findings} >= {"$.a", "$.b", "$.c", "$.d.e", "$.f"}
    assert all(f["kind"] == "baseline" and f["check"] == "baseline:v" for f in findings)
    assert all(f["outcome"] == "fail" for f in findings)
