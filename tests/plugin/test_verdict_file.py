"""The verdict file: where it goes, what it holds (validated against the shipped JSON Schema),
no secrets, atomic writes, and the baseline checksum."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import baseline_support
import jsonschema
import pytest
from verdict_support import health_server, load_verdict

from pytest_deployverify import verdict_document as verdict_module

SECRET = "tok-" + "9f" * 12

CHECKS = f"""
import pytest
from pytest_deployverify.evidence import EVIDENCE_KEY, CleanupResult, Finding

@pytest.mark.critical
def test_upload(request, target):
    ev = request.node.stash[EVIDENCE_KEY]
    ev.add_correlation_id("cid-42")
    ev.findings.append(Finding(check="status sequence", outcome="pass",
        rule="equals the baseline", observed=["uploaded", "complete"],
        expected=["uploaded", "complete"], path="$.statuses", nodeid=request.node.nodeid))
    ev.findings.append(Finding(check="token echo", outcome="fail", rule="no secret echoed",
        observed="{SECRET}", message="the service echoed {SECRET}", nodeid=request.node.nodeid,
        correlation_ids=["cid-42"]))
    ev.cleanup.append(CleanupResult(document_id="doc-1", filename="a.pdf", correlation_id="cid-42",
        result="deleted", http_status=204))
"""


@pytest.fixture
def project(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """An inner project whose target env has a secret (from the environment)."""
    monkeypatch.setenv("DV_VERDICT_TEST_TOKEN", SECRET)
    return pytester


def _pyproject(pytester: pytest.Pytester, url: str) -> None:
    pytester.makefile(
        ".toml",
        pyproject=textwrap.dedent(
            f"""
            [tool.deployverify]
            default_env = "stage"
            [tool.deployverify.envs.stage]
            base_url = "{url}"
            secrets = {{ api_token = "DV_VERDICT_TEST_TOKEN" }}
            auth = "bearer:api_token"
            """
        ),
    )


def test_default_location_contents_and_no_secrets(project: pytest.Pytester) -> None:
    with health_server() as url:
        _pyproject(project, url)
        project.makepyfile(test_inner=CHECKS)
        result = project.runpytest("-p", "no:cacheprovider")
    path = Path(project.path) / "reports" / "verdict.json"
    data = load_verdict(path)  # validated against the shipped schema
    assert data["verdict"] == "fail"
    assert data["target"] == {
        "name": "stage",
        "base_url": url,
        "protected": False,
        "launched": False,
        "deployment_version": {"service": "stage", "version": "9.9.9"},
        "components": [],  # none configured: the report lists only what tests reported
    }
    passed, failed = data["checks"]
    assert passed["id"] == "test_inner.py::test_upload::status sequence"
    assert (passed["observed"], passed["rule"], passed["path"]) == (
        ["uploaded", "complete"],
        "equals the baseline",
        "$.statuses",
    )
    assert passed["critical"] is True and passed["correlation_ids"] == ["cid-42"]
    assert failed["outcome"] == "fail"
    assert data["counts"]["checks"] == 2 and data["counts"]["checks_failed"] == 1
    assert data["cleanup"] == [
        {
            "nodeid": "test_inner.py::test_upload",
            "document_id": "doc-1",
            "ok": True,
            "status": "deleted (HTTP 204)",
            "error": None,
        }
    ]
    assert data["tests"][0]["correlation_ids"] == ["cid-42"]
    assert data["reports"]["verdict"] == str(path)
    assert data["started_at"] <= data["finished_at"]
    # the secret the test saw never reaches the file or the terminal
    assert SECRET not in path.read_text()
    assert SECRET not in result.stdout.str()


def test_report_dir_moves_the_default_verdict_file(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner="def test_a(): pass\n")
    pytester.runpytest("-p", "no:cacheprovider", "--report-dir", "out/run1")
    data = load_verdict(pytester.path / "out" / "run1" / "verdict.json")
    assert data["reports"]["summary"].endswith("out/run1/summary.md")


def test_verdict_file_option_and_ini(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner="def test_a(): pass\n")
    pytester.runpytest("-p", "no:cacheprovider", "--verdict-file", "a/b/v.json")
    assert load_verdict(pytester.path / "a" / "b" / "v.json")["verdict"] == "pass"
    pytester.makeini("[pytest]\ndeployverify_verdict_file = from-ini.json\n")
    pytester.runpytest("-p", "no:cacheprovider", "--report-dir", "r")
    assert load_verdict(pytester.path / "from-ini.json")["verdict"] == "pass"


def test_rewrite_is_atomic_and_leaves_no_temp_files(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner="def test_a(): pass\n")
    target = pytester.path / "v.json"
    target.write_text("old, half-written garbage")
    pytester.runpytest("-p", "no:cacheprovider", "--verdict-file", "v.json")
    assert load_verdict(target)["verdict"] == "pass"
    assert [p.name for p in pytester.path.iterdir() if p.name.startswith(".verdict-")] == []


def test_schema_ships_with_the_package_and_rejects_bad_documents(pytester: pytest.Pytester) -> None:
    schema = verdict_module.schema()
    assert schema["$schema"].endswith("2020-12/schema")
    pytester.makepyfile(test_inner="def test_a(): pass\n")
    pytester.runpytest("-p", "no:cacheprovider", "--verdict-file", "v.json")
    good = json.loads((pytester.path / "v.json").read_text())
    jsonschema.validate(good, schema)
    for key, bad in (("verdict", "maybe"), ("recommendation", "ship it"), ("reason", "")):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**good, key: bad}, schema)
    without = dict(good)
    del without["counts"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(without, schema)


def test_baseline_checksum_covers_names_and_bytes(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text('{"x": 1}')
    (tmp_path / "b.json").write_text('{"y": 2}')
    first = verdict_module.baseline_checksum(tmp_path, ["b.json", "a.json"])
    assert first == verdict_module.baseline_checksum(tmp_path, ["a.json", "b.json"])
    assert len(first) == 64
    (tmp_path / "a.json").write_text('{"x": 2}')
    assert verdict_module.baseline_checksum(tmp_path, ["a.json", "b.json"]) != first


bproject = baseline_support.bproject
noisy = baseline_support.noisy
noisy_service = baseline_support.noisy_service


def test_verdict_checksum_is_that_of_the_files_on_disk(bproject, pytester, mode) -> None:
    # serially the checksum comes from the bytes the checks read or the recording wrote;
    # under xdist the controller reads every file itself: each must be that of what is on disk
    bproject.tests(
        """
        def test_a(baseline):
            baseline.check("v", {"a": 1})

        def test_b(baseline):
            baseline.check("v", {"b": 2})
        """
    )
    root = bproject.baseline_dir

    def on_disk() -> str:
        files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*.json"))
        assert len(files) == 2
        return verdict_module.baseline_checksum(root, files)

    # a recording's checksum: of the bytes it wrote (serially, without reading them back)
    bproject.record(*mode).assert_outcomes(passed=2)
    recorded = load_verdict(pytester.path / "reports" / "verdict.json")["baseline"]
    assert (recorded["files"], recorded["checksum"]) == (2, on_disk())
    stored = json.loads((root / "test_inner" / "test_a.json").read_text(encoding="utf-8"))
    assert (recorded["recorded_from"], recorded["recorded_at"]) == ("noisy", stored["recorded_at"])
    bproject.run(*mode).assert_outcomes(passed=2)
    first = load_verdict(pytester.path / "reports" / "verdict.json")["baseline"]
    assert (first["files"], first["checksum"]) == (2, on_disk())
    # a change the comparison does not see (provenance) still changes the checksum
    edited = root / "test_inner" / "test_a.json"
    data = json.loads(edited.read_text(encoding="utf-8"))
    data["recorded_at"] = "2020-01-01T00:00:00Z"
    edited.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    bproject.run(*mode).assert_outcomes(passed=2)
    second = load_verdict(pytester.path / "reports" / "verdict.json")["baseline"]
    assert second["checksum"] == on_disk() != first["checksum"]


def test_document_text_writes_each_entry_as_json_writes_it() -> None:
    # the long lists are written by one C encoder made for all their entries: each line
    # must be what json.dumps writes for that entry, the rest indented as json.dumps does
    import json

    from pytest_deployverify.verdict_document import document_text

    data = {
        "verdict": "fail",
        "counts": {"tests": 2, "nested": {"x": [1, 2]}},
        "tests": [
            {"nodeid": "t.py::a[\u00e9\u2603]", "duration": 0.25, "markers": ["critical"]},
            {"nodeid": 't.py::b["q\\\\"]', "message": "line\nnext", "replays": [], "n": None},
        ],
        "checks": [{"observed": {"deep": [{"k": True}]}, "expected": 1e-9}],
        "alerts": [],
    }
    text = document_text(data)
    assert json.loads(text) == data
    lines = text.splitlines()
    for entry in [*data["tests"], *data["checks"]]:
        assert f"    {json.dumps(entry, allow_nan=False)}" in {line.rstrip(",") for line in lines}
    assert '  "alerts": []' in lines and '  "counts": {' in lines
    with pytest.raises(ValueError, match="Out of range float"):
        document_text({"tests": [{"duration": float("nan")}]})
    # an entry that holds itself is refused, not written forever; the next is written
    loop: dict[str, object] = {}
    loop["self"] = loop
    with pytest.raises(ValueError, match="Circular reference"):
        document_text({"tests": [loop]})
    assert json.loads(document_text({"tests": [{"a": 1}, {"a": 1}]})) == {"tests": [{"a": 1}] * 2}
