"""The comparison engine, noise learning, shapes and file naming, without pytest in between."""

from __future__ import annotations

import copy
import uuid

import pytest

from pytest_deployverify.atomic import write_atomic
from pytest_deployverify.baseline import storage
from pytest_deployverify.baseline.compare import compare
from pytest_deployverify.baseline.learn import learn
from pytest_deployverify.baseline.model import Rule
from pytest_deployverify.baseline.normalise import copy_plain
from pytest_deployverify.baseline.paths import DEEP, WILD, PatternError, format_path, parse_pattern
from pytest_deployverify.baseline.shapes import infer_shape, violations


def rules_of(rules):
    return {(r.path, r.kind): r for r in rules}


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("$.a.b[0]", ("a", "b", 0)),
        ("a.b", ("a", "b")),
        ("**.created_at", (DEEP, "created_at")),
        ("$..created_at", (DEEP, "created_at")),
        ("$.items[*].id", ("items", WILD, "id")),
        ('$["content-type"]', ("content-type",)),
        ("$", ()),
    ],
)
def test_parse_pattern(text, segments):
    assert parse_pattern(text) == segments


def test_bad_pattern():
    with pytest.raises(PatternError, match="cannot parse rule path"):
        parse_pattern("$.a[")


def test_format_path_quotes_odd_keys():
    assert format_path(("a", 0, "b c", "x-y")) == '$.a[0]["b c"].x-y'


def test_equal_values_have_no_differences_and_int_float_are_one_number():
    value = {"a": [1, 2.5, {"b": None}], "c": "x", "d": True}
    assert compare(value, {"c": "x", "d": True, "a": [1.0, 2.5, {"b": None}]}) == []


def test_bool_is_not_a_number():
    (d,) = compare({"a": 1}, {"a": True})
    assert (d.path, d.rule) == ("$.a", "type")


def test_glob_rules_apply_at_any_depth():
    rules = [Rule(path="**.at", kind="shape", schema={"type": "string", "format": "date-time"})]
    e = {"events": [{"at": "2026-01-01T00:00:00Z", "s": "x"}]}
    assert compare(e, {"events": [{"at": "2026-02-02T10:00:00.5Z", "s": "x"}]}, rules) == []
    (d,) = compare(e, {"events": [{"at": None, "s": "x"}]}, rules)
    assert (d.path, d.rule) == ("$.events[0].at", "shape")


def test_optional_volatile_key_may_be_absent_but_not_null():
    rules = [Rule(path="$.x", kind="shape", schema={"type": "integer"}, optional=True)]
    assert compare({"x": 1}, {}, rules) == []
    assert compare({"x": 1}, {"x": None}, rules)[0].rule == "shape"


def test_unordered_matches_multisets_and_reports_changed_element():
    rules = [Rule(path="$", kind="unordered")]
    assert compare([1, 2, 3], [3, 1, 2], rules) == []
    (d,) = compare([{"k": 1}, {"k": 2}], [{"k": 2}, {"k": 5}], rules)
    assert (d.path, d.expected, d.observed) == ("$[0].k", 1, 5)


def test_tolerance_on_container_applies_to_numbers_below():
    rules = [Rule(path="$.m", kind="tolerance", rel=0.1)]
    assert compare({"m": {"a": 100, "b": [10]}}, {"m": {"a": 109, "b": [10.9]}}, rules) == []
    assert compare({"m": {"a": 100}}, {"m": {"a": 111}}, rules)[0].rule == "tolerance"


def test_ignore_allows_absence_and_anything():
    rules = [Rule(path="$.x", kind="ignore")]
    assert compare({"x": 1, "y": 2}, {"y": 2}, rules) == []
    assert compare({"y": 2}, {"x": [1], "y": 2}, rules) == []


def test_learn_keeps_stable_values_and_generalises_list_rules():
    runs = [
        {"chunks": [{"id": str(uuid.uuid4()), "n": i} for i in range(3)], "title": "t"}
        for _ in range(2)
    ]
    value, rules = learn(runs)
    assert value is runs[0]
    assert list(rules_of(rules)) == [("$.chunks[*].id", "shape")]
    # a third recording with other ids matches; a changed stable value does not
    third = {"chunks": [{"id": str(uuid.uuid4()), "n": i} for i in range(3)], "title": "t"}
    assert compare(value, third, rules) == []
    third["chunks"][1]["n"] = 7
    assert compare(value, third, rules)[0].path == "$.chunks[1].n"


def test_learn_aligns_lists_of_records_by_a_key():
    a = [{"name": "x", "at": "2026-01-01T00:00:00Z"}, {"name": "y", "at": "2026-01-01T00:00:01Z"}]
    b = [{"name": "y", "at": "2026-01-02T00:00:01Z"}, {"name": "x", "at": "2026-01-02T00:00:00Z"}]
    _, rules = learn([{"l": a}, {"l": b}])
    assert set(rules_of(rules)) == {("$.l", "unordered"), ("$.l[*].at", "shape")}


def test_learn_float_jitter_is_tolerance_and_ints_are_ranges():
    _, rules = learn([{"score": 0.901, "ms": 12}, {"score": 0.899, "ms": 30}])
    r = rules_of(rules)
    assert r[("$.score", "tolerance")].rel == pytest.approx(0.012)
    assert r[("$.ms", "shape")].schema == {"type": "integer", "minimum": 0, "maximum": 150}


def test_learn_nothing_from_one_recording():
    assert learn([{"a": 1}]) == ({"a": 1}, [])
    user = [Rule(path="$.a", kind="ignore", source="call")]
    value, rules = learn([{"a": 1}], user)
    assert value == {"a": 1} and rules == user
    rules.append(Rule(path="$.b", kind="ignore", source="call"))
    assert len(user) == 1  # a list of its own, as with more recordings


def test_copy_plain_is_a_deep_copy_of_plain_data():
    value = {"a": [1, {"b": [2.5, None, True]}], "c": {"d": "x"}, "e": []}
    copied = copy_plain(value)
    assert copied == value == copy.deepcopy(value)

    def containers(v, out):
        if type(v) in (dict, list):
            out.append(id(v))
            for item in v.values() if type(v) is dict else v:
                containers(item, out)
        return out

    # no dict or list shared with the original, at any depth
    assert not set(containers(copied, [])) & set(containers(value, []))
    assert copy_plain([]) == [] and copy_plain("s") == "s" and copy_plain(None) is None


def test_user_rules_stop_learning_below_them():
    runs = [{"x": {"a": 1}}, {"x": {"a": 2}}]
    user = [Rule(path="$.x", kind="ignore", source="call")]
    _, rules = learn(runs, user)
    assert rules == user


@pytest.mark.parametrize(
    ("values", "schema"),
    [
        ([str(uuid.uuid4()), str(uuid.uuid4())], {"type": "string", "format": "uuid"}),
        (
            ["2026-01-01T00:00:00Z", "2026-01-01T00:00:00.123+02:00"],
            {"type": "string", "format": "date-time"},
        ),
        (["ab" * 32, "cd" * 32], {"type": "string", "pattern": "^[0-9a-f]{64}$"}),
        (["job-0042", "job-0913"], {"type": "string", "pattern": "^job\\-[0-9]{4}$"}),
        (["x", None], {"anyOf": [{"type": "string", "minLength": 1}, {"type": "null"}]}),
    ],
)
def test_infer_shape(values, schema):
    assert infer_shape(values) == schema
    for v in values:
        assert violations(schema, v) == []


def test_shapes_reject_malformed_values():
    assert violations({"type": "string", "format": "uuid"}, "not-a-uuid")
    assert violations({"type": "string", "format": "date-time"}, "2026-13-45T99:00:00Z")
    assert violations({"type": "string", "format": "date-time"}, "2026-01-01")


@pytest.mark.parametrize(
    ("schema", "value"),
    [
        ({"type": "array", "items": {"type": "number"}}, [1, 2.5, -3]),
        ({"type": "array", "items": {"type": "number"}}, [1, True, "x", None]),
        ({"type": "array", "items": {"type": "integer"}}, [1, 2.0, 3]),
        ({"type": "array", "items": {"type": "integer"}}, [1, 2.5, False]),
        ({"type": "array", "items": {"type": "string", "description": "d"}}, ["a", 1]),
        ({"type": "array", "items": {"type": "boolean"}}, [True, 0]),
        ({"type": "array", "items": {"type": "string", "minLength": 2}}, ["ab", "c"]),
        ({"prefixItems": [{"type": "string"}], "items": {"type": "number"}}, ["a", 1, "b"]),
        (
            {"$schema": "http://json-schema.org/draft-07/schema#", "items": {"type": "string"}},
            ["a", 1],
        ),
        (
            {"$schema": "http://json-schema.org/draft-07/schema#", "items": [{"type": "string"}]},
            [1, 2],
        ),
        ({"properties": {"v": {"items": {"type": "number"}}}}, {"v": [[1], 2, "3"]}),
    ],
)
def test_scalar_item_fast_path_reports_what_jsonschema_reports(schema, value):
    """Lists of plain scalars skip jsonschema's per-item descent; the outcome is the same."""
    from jsonschema import validators

    cls = validators.validator_for(schema, default=validators.Draft202012Validator)
    plain = sorted((e.json_path, e.message) for e in cls(schema).iter_errors(value))
    assert [(p, m) for p, m in violations(schema, value)] == plain


def _random_json(rng, depth=0):
    kinds = ["str", "int", "float", "bool", "null"] + (["dict", "list"] * 2 if depth < 4 else [])
    kind = rng.choice(kinds)
    if kind == "str":
        alphabet = 'ab"\\/\n\t\x00\x1f\u00e9\u2028\U0001f600 '
        return "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 8)))
    if kind == "int":
        return rng.choice([0, -1, 7, 2**63, -(2**70), rng.randrange(-(10**6), 10**6)])
    if kind == "float":
        return rng.choice([0.0, -0.0, 1e-7, 1e16, 1.5e300, 0.1, rng.uniform(-1e6, 1e6)])
    if kind == "bool":
        return rng.random() < 0.5
    if kind == "null":
        return None
    if kind == "dict":
        n = rng.randrange(0, 5)
        return {f"k{rng.randrange(20)}\u00e9": _random_json(rng, depth + 1) for _ in range(n)}
    return [_random_json(rng, depth + 1) for _ in range(rng.randrange(0, 5))]


def test_canonical_text_is_exactly_what_json_writes():
    """storage.dumps has its own writer (json's indent mode is pure Python); its text must be
    byte for byte json.dumps(sort_keys=True, indent=2, ensure_ascii=False): every baseline
    file in the repository and 3000 seeded random documents."""
    import json
    import random
    from pathlib import Path

    def reference(data):
        return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False)

    repo = Path(__file__).resolve().parents[2]
    files = sorted((repo / "baselines").rglob("*.json"))
    assert files
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert storage.dumps(data) == reference(data) + "\n", path
    rng = random.Random(20)
    for _ in range(3000):
        data = {"root": _random_json(rng)}
        assert storage.dumps(data) == reference(data) + "\n", data
    # what the writer leaves to json: the same text or the same error
    assert storage.dumps({"t": (1, 2)}) == reference({"t": (1, 2)}) + "\n"
    with pytest.raises(ValueError):
        storage.dumps({"x": float("nan")})


def test_file_names_are_safe_and_distinct():
    names = [
        "tests/x.py::test_a[a/b]",
        "tests/x.py::test_a[a_b]",
        "tests/x.py::test_a[A]",
        "tests/x.py::test_a[a]",
        "tests/x.py::TestK::test_a",
        "tests/x.py::test_a[" + "z" * 300 + "]",
        "tests/x.py::test_a[con]",
    ]
    files = [storage.relative_file(n) for n in names]
    assert len({str(f).lower() for f in files}) == len(names)  # distinct even case-insensitively
    for f in files:
        assert f.parts[:2] == ("tests", "x")
        assert len(f.name) <= 140
        assert not set(f.name) & set('<>:"/\\|?*')
    assert files[4].name == "TestK.test_a.json"
    assert files[3].name == "test_a[a].json"


def test_atomic_write_and_canonical_text(tmp_path):
    path = tmp_path / "d" / "f.json"
    write_atomic(path, storage.dumps({"b": 1, "a": [1, 2]}))
    assert path.read_text() == '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n'
    assert [p.name for p in path.parent.iterdir()] == ["f.json"]


def test_fast_path_still_sees_bool_for_number_in_records():
    expected = [{"a": 1, "b": "x"}, {"a": 0, "b": "y"}]
    observed = [{"b": "x", "a": True}, {"b": "y", "a": 0}]  # key order differs, too
    (d,) = compare(expected, observed)
    assert (d.path, d.rule) == ("$[0].a", "type")
    assert compare(expected, [{"b": "x", "a": 1.0}, {"a": 0, "b": "y"}]) == []


def test_verify_normalises_only_non_json_values():
    from pytest_deployverify.baseline.compare import verify

    assert verify({"a": [1, 2]}, {"a": (1, 2)}).diffs == []
    assert verify({"a": [1, 2]}, {"a": (1, 3)}).diffs[0].path == "$.a[1]"


@pytest.mark.parametrize(
    "value",
    [
        {"id": 7, "name": "doc-7.pdf", "status": "complete", "pages": 3, "ok": True, "x": None},
        {"n": 1.5e300, "s": '\u00e9\u2603\n"q"', "neg": -0.0},
        ["a", 1, 2.5, None, False],
        {"long": "x" * 400},
        {f"k{i}": i for i in range(39)},
        {f"k{i}": i for i in range(60)},  # more keys than the flat path takes
        {"nested": {"a": [1, 2]}, "b": 1},
        [],
        {},
    ],
)
def test_summarise_of_a_flat_record_is_the_bounded_walks(value):
    from pytest_deployverify.baseline.compare import _bounded_json, summarise

    # summarise takes a C-speed path for small records of scalars: it must show exactly
    # what the bounded walk shows (the value itself, or the same cut text)
    text = _bounded_json(value, 161)
    if len(text) <= 160:
        expected = value
    else:
        kind = (
            f"object with {len(value)} keys"
            if isinstance(value, dict)
            else f"list of {len(value)} items"
        )
        expected = f"<{kind}: {text[:120]}...>"
    assert summarise(value) == expected
