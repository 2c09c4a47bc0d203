"""``--mutate-responses``: rerun the tests with one received field altered at a time; a mutant
is killed when some check fails, survives when none does.

Against the differently shaped alt service: a test that checks ``state`` exactly but ``size``
only loosely must kill the state mutants and let ``size + 1`` survive. Declared fields are
never mutated; the mutants never alter what is sent and the uploads are still deleted.
"""

from __future__ import annotations

import json

import pytest
import requests
from plugin_support import load_json

from pytest_deployverify.fieldcoverage import FieldCoverage, FieldRecorder
from pytest_deployverify.mutation import Mutant, candidates, child_env, choose, operators_for
from pytest_deployverify.mutation_operators import MutatingObserver, _shift, apply

FILES = "GET /ingest/v1/files/{id}"

# only $.state and $.size of the file route are left to mutate
DECLARED = """
[tool.deployverify.coverage.ignore]
"POST /ingest/v1/files $.**" = "the pipeline follower judges the upload"
"GET /ingest/v1/tasks/{id} $.**" = "the pipeline follower judges the task"
"DELETE /ingest/v1/files/{id} $.**" = "clean-up is judged by its status"
"GET /ingest/v1/files/{id} $.name" = "we named it"
"GET /ingest/v1/files/{id} $.sha256" = "not this test's concern"
"GET /ingest/v1/files/{id} $.id" = "we asked for it"
"""

TESTS = """
def test_file(api, upload_document):
    run = upload_document({pdf!r})
    run.raise_for_outcome()
    body = api.get(f"/ingest/v1/files/{{run.document_id}}").json()
    assert body["state"] == "DONE"
    assert body["size"] > 0  # loose on purpose: a bumped size survives
"""


def _mutants(project):
    block = load_json(project.pytester.path / "reports" / "verdict.json")["mutation"]
    return block, {(m["route"], m["path"], m["operator"]): m for m in block["mutants"]}


def _expected(route, path, operator):
    """What the inner test notices: the exact state check, a missing or null size, a missing
    correlation echo; not a bumped size nor a missing Content-Type."""
    if operator == "strip_header":
        return "killed" if path == "X-Request-ID" else "survived"
    assert route == FILES and path in ("$.state", "$.size"), "a declared field was mutated"
    return "survived" if (path, operator) == ("$.size", "bump") else "killed"


def test_mutants_are_killed_or_survive(project, alt, small_pdf, mode):
    project.alt(alt, extra=DECLARED)
    project.tests(TESTS.format(pdf=small_pdf))
    result = project.run("--mutate-responses", "--mutate-max", "6", "--mutate-seed", "7", *mode)
    result.assert_outcomes(passed=1)
    assert result.ret == 0  # the clean run's verdict is untouched by the mutants
    block, by = _mutants(project)
    assert len(by) == 6 and block["candidates"] == 14
    for (route, path, operator), m in by.items():
        assert m["outcome"] == _expected(route, path, operator), m
        if m["outcome"] == "killed":
            assert m["killed_by"] == ["test_inner.py::test_file"]
    killed = sum(1 for m in by.values() if m["outcome"] == "killed")
    assert block["killed"] == killed and block["survived"] == 6 - killed
    assert block["score"] == round(killed / 6, 4)
    result.stdout.fnmatch_lines(["*response mutation: * of 6 mutants killed*"])
    assert not alt.files  # every child deleted its upload


def test_same_seed_same_mutants(project, alt, small_pdf):
    project.alt(alt, extra=DECLARED)
    project.tests(TESTS.format(pdf=small_pdf))
    draws = []
    for _ in range(2):
        project.run("--mutate-responses", "--mutate-max", "1", "--mutate-seed", "3")
        block, _ = _mutants(project)
        assert block["seed"] == 3 and len(block["mutants"]) == 1
        draws.append([(m["description"], m["outcome"]) for m in block["mutants"]])
    assert draws[0] == draws[1]


def test_seed_chooses_the_draw():
    pool = [Mutant("", "GET /x", f"$.f{i}", "bump", ["t"]) for i in range(20)]
    first = [m.path for m in choose(list(pool), 1, 5)]
    assert first == [m.path for m in choose(list(pool), 1, 5)]
    assert first != [m.path for m in choose(list(pool), 2, 5)]
    assert [m.id for m in choose(list(pool), 1, 5)] == ["m1", "m2", "m3", "m4", "m5"]


def _coverage(*tests: tuple[str, dict[str, object], list[str]]) -> FieldCoverage:
    """Field coverage of tests that each received ``body`` on ``GET /x`` and read ``reads``."""
    cov = FieldCoverage()
    for nodeid, body, reads in tests:
        recorder = FieldRecorder(nodeid)
        response = requests.Response()
        response.status_code = 200
        response.headers["Content-Type"] = "application/json"
        response._content = json.dumps(body).encode()
        recorder.received("GET", "/x", response)
        data = response.json()
        for key in reads:
            data[key]
        cov.merge(nodeid, recorder.to_json())
    return cov


def test_a_mutant_runs_the_tests_that_touched_its_field_first_quickest_first():
    body = {"a": 1, "items": [{"b": 2}]}
    cov = _coverage(
        ("slow_reader", body, ["a"]),
        ("quick_reader", body, ["a", "items"]),
        ("quick_bystander", body, []),
        ("slow_bystander", body, []),
    )
    took = {"slow_reader": 9.0, "quick_reader": 1.0, "quick_bystander": 0.5, "slow_bystander": 5}
    passed = set(took)
    pool = {(m.path, m.operator): m.tests for m in candidates(cov, passed, {}, {}, took)}
    readers_first = ["quick_reader", "slow_reader", "quick_bystander", "slow_bystander"]
    assert pool[("$.a", "bump")] == readers_first
    # nobody read an item's field: the quickest test first
    assert pool[("$.items[*].b", "bump")] == sorted(took, key=took.__getitem__)
    # the list's own mutants: the tests that touched anything under it first
    assert pool[("$.items", "drop_item")] == sorted(took, key=took.__getitem__)
    # without durations (or the same): by node ID within each group
    plain = {(m.path, m.operator): m.tests for m in candidates(cov, passed, {}, {})}
    assert plain[("$.a", "bump")] == [
        "quick_reader",
        "slow_reader",
        "quick_bystander",
        "slow_bystander",
    ]


def test_mutant_children_cache_compiled_modules_in_the_run_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    monkeypatch.delenv("PYTHONPYCACHEPREFIX", raising=False)
    env = child_env(tmp_path)
    assert "PYTHONDONTWRITEBYTECODE" not in env
    assert env["PYTHONPYCACHEPREFIX"] == str(tmp_path / "pycache")


def test_an_altered_id_is_never_sent_back():
    recorder = FieldRecorder("t")
    observer = MutatingObserver(
        {"route": "POST /files", "path": "$.id", "operator": "change"}, recorder
    )
    response = requests.Response()
    response.status_code = 201
    response.headers["Content-Type"] = "application/json"
    response._content = b'{"id": "0123456789ab"}'
    observer.received("POST", "/files", response)
    assert response.json() == {"id": "0123456789ac"}
    assert (
        observer.sending("DELETE", "http://h/files/0123456789ac") == "http://h/files/0123456789ab"
    )


def test_time_budget_leaves_mutants_not_run(project, alt, small_pdf):
    project.alt(alt, extra=DECLARED)
    project.tests(TESTS.format(pdf=small_pdf))
    project.run("--mutate-responses", "--mutate-max", "3", "--mutate-time", "0.5")
    block, _ = _mutants(project)
    assert block["not_run"] == 3 and block["killed"] == block["survived"] == 0
    assert block["score"] is None


def test_without_the_option_nothing_is_mutated(project, alt, small_pdf):
    project.alt(alt, extra=DECLARED)
    project.tests(TESTS.format(pdf=small_pdf))
    project.run().assert_outcomes(passed=1)
    assert "mutation" not in load_json(project.pytester.path / "reports" / "verdict.json")


@pytest.mark.parametrize(
    ("value", "ops"),
    [
        (True, ["flip", "null", "remove"]),
        (3, ["bump", "null", "remove"]),
        ("2024-05-01T12:00:00Z", ["shift_time", "null", "remove"]),
        ("abc", ["change", "null", "remove"]),
        (None, ["fill", "remove"]),
    ],
)
def test_operators_follow_the_value(value, ops):
    assert operators_for("$.x", value) == ops
    assert "remove" not in operators_for("$.x[*]", value)


def test_apply_alters_one_place_and_remembers_altered_ids():
    data = {"items": [{"id": "ab12"}, {"id": "cd34"}], "n": 1.0, "ok": True}
    altered: dict[str, str] = {}
    assert apply(data, "$.items[*].id", "change", altered)
    assert data["items"] == [{"id": "ab13"}, {"id": "cd34"}] and altered == {"ab13": "ab12"}
    assert apply(data, "$.n", "bump", altered) and data["n"] == 2.5
    assert apply(data, "$.ok", "flip", altered) and data["ok"] is False
    assert apply(data, "$.items", "reorder", altered) and data["items"][0]["id"] == "cd34"
    assert apply(data, "$.items", "drop_item", altered) and len(data["items"]) == 1
    assert apply(data, "$.ok", "remove", altered) and "ok" not in data
    assert not apply(data, "$.missing", "remove", altered)
    # a [*] takes the first item that has the rest of the path
    events = {"events": [{"detail": {}}, {"detail": {"chunks": 2}}]}
    assert apply(events, "$.events[*].detail.chunks", "bump", altered)
    assert events["events"][1]["detail"]["chunks"] == 3
    assert json.dumps(data)
    assert _shift("2024-05-01T12:00:00Z") == "2024-05-01T13:00:00Z"
    assert _shift("2024-05-01T12:00:00+00:00") == "2024-05-01T13:00:00+00:00"


def test_a_declared_header_is_not_stripped(project, alt, small_pdf):
    project.alt(
        alt,
        extra=DECLARED
        + '"* header:content-type" = "not checked here"\n'
        + '"* header:X-Request-ID" = "not checked here"\n',
    )
    project.tests(TESTS.format(pdf=small_pdf))
    project.run("--mutate-responses", "--mutate-max", "1", "--mutate-time", "0.5")
    block, _ = _mutants(project)
    assert block["candidates"] == 6  # $.state and $.size only: 3 operators each
