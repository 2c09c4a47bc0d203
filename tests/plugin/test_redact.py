"""redact.py: known secret values and credential-looking text never survive."""

from __future__ import annotations

import pytest

from pytest_deployverify.redact import (
    REDACTED,
    SECRET_KEY_PATTERN,
    redact_headers,
    redact_text,
    redact_url,
    redact_value,
    redacted_view,
)

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


@pytest.mark.parametrize(
    ("text", "secret_part"),
    [
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ("call failed with key sk-proj-ABCDEFGHIJKLMNOPqrstuv", "sk-proj-ABCDEFGHIJKLMNOPqrstuv"),
        (f"token {JWT} expired", JWT),
        ("GET /x?token=tok123&page=2", "tok123"),
        ('{"password": "hunter22"}', "hunter22"),
        ("postgres://app:pw-9876@db:5432/x", "pw-9876"),
        ("X-Api-Key: key-0987654", "key-0987654"),
        ("ghp_" + "a" * 36, "ghp_" + "a" * 36),
    ],
)
def test_credential_looking_text_is_redacted(text, secret_part):
    out = redact_text(text)
    assert secret_part not in out and REDACTED in out


def test_known_secret_values_are_redacted_anywhere():
    out = redact_text(
        "the webhook secret is wh-s3cret-value, again wh-s3cret-value", ["wh-s3cret-value"]
    )
    assert out == f"the webhook secret is {REDACTED}, again {REDACTED}"
    # mappings (target.secrets) work too; short values are left alone
    assert redact_text("abc uses wh-s3cret-value", {"a": "wh-s3cret-value", "b": "abc"}) == (
        f"abc uses {REDACTED}"
    )


@pytest.mark.parametrize(
    "text",
    [
        "document small.pdf ended complete; sha256 9f86d081884c7d659a2feaa0c55ad015",
        "the token expired at 12:00",
        "prompt_tokens: 12",
        "status uploaded -> complete, correlation ID 1b4e28ba-2fa1-11d2-883f-0016d3cca427",
    ],
)
def test_ordinary_text_is_untouched(text):
    assert redact_text(text) == text


def test_redact_value_is_deep_and_keeps_numbers():
    data = {
        "Authorization": "Bearer x",
        "usage": {"prompt_tokens": 5, "total_tokens": 7},
        "chunks": [{"chunk_id": "c1", "sha256": "ab" * 32}],
        "nested": [{"api_key": "plain", "note": "uses my-secret-1"}],
        "tuple": ("my-secret-1", 3),
    }
    out = redact_value(data, ["my-secret-1"])
    assert out["Authorization"] == REDACTED
    assert out["usage"] == {"prompt_tokens": 5, "total_tokens": 7}
    assert out["chunks"] == data["chunks"]
    assert out["nested"] == [{"api_key": REDACTED, "note": f"uses {REDACTED}"}]
    assert out["tuple"] == (REDACTED, 3)
    assert data["Authorization"] == "Bearer x"  # a copy: the input is unchanged


def test_redact_value_walks_subclasses_and_other_mappings():
    """The walk's exact-type fast paths leave the rest to isinstance: a list subclass (the
    evidence's shared empty lists), a mapping that is not a dict and a str subclass are
    redacted as their plain counterparts, into plain lists, dicts and strings."""
    from types import MappingProxyType

    class Frozen(list):
        pass

    class Name(str):
        pass

    data = {
        "ids": Frozen(["my-secret-1", 2]),
        "empty": Frozen(),
        "view": MappingProxyType({"token": "abc", "note": "my-secret-1"}),
        "password": Name("hunter22"),
        "label": Name("see my-secret-1"),
    }
    out = redact_value(data, ["my-secret-1"])
    assert out == {
        "ids": [REDACTED, 2],
        "empty": [],
        "view": {"token": REDACTED, "note": REDACTED},
        "password": REDACTED,
        "label": f"see {REDACTED}",
    }
    assert type(out["ids"]) is list and type(out["empty"]) is list
    assert type(out["view"]) is dict and type(out["label"]) is str


VIEW_CASES = [
    {"id": 3, "name": "doc-3.pdf", "pages": [1, 2], "ok": True, "empty": [], "none": None},
    {"Authorization": "Bearer x", "usage": {"prompt_tokens": 5}, "chunks": [{"c": "c1"}]},
    {"a": {"b": [{"note": "uses my-secret-1"}, {"keep": "me"}]}, "c": {"d": "e"}},
    ["my-secret-1", {"x": 1}, ("my-secret-1", 2), ("a", 2)],
    {"password": "", "token": "abc", "nested": {"api_key": 5}, "text": "sk-" + "A" * 30},
    ("plain", 1),
    "see my-secret-1",
    "nothing here",
]


@pytest.mark.parametrize("data", VIEW_CASES)
def test_redacted_view_equals_redact_value(data):
    import copy

    before = copy.deepcopy(data)
    view = redacted_view(data, ["my-secret-1"])
    assert view == redact_value(data, ["my-secret-1"])
    assert data == before  # the input is never changed


def test_redacted_view_copies_only_the_path_to_a_change():
    """What needed no redacting is the input itself, so a session keeping every test's
    evidence as shown does not keep it twice (issue 20)."""
    untouched = {"keep": ["a", {"b": 1}], "id": 3}
    assert redacted_view(untouched, ["my-secret-1"]) is untouched

    data = {"left": {"x": ["y"]}, "right": {"note": "my-secret-1", "other": {"z": 1}}}
    view = redacted_view(data, ["my-secret-1"])
    assert view is not data and view["right"] is not data["right"]
    assert view["left"] is data["left"]  # nothing under it changed: shared
    assert view["right"]["other"] is data["right"]["other"]
    assert view["right"]["note"] == REDACTED and data["right"]["note"] == "my-secret-1"

    listed = [{"k": "v"}, "my-secret-1"]
    out = redacted_view(listed, ["my-secret-1"])
    assert out == [{"k": "v"}, REDACTED] and out[0] is listed[0] and listed[1] == "my-secret-1"


def test_headers_and_urls():
    headers = redact_headers(
        {"Authorization": "Bearer abc", "Cookie": "s=1", "X-Api-Key": "k", "X-Correlation-ID": "c1"}
    )
    assert headers == {
        "Authorization": REDACTED,
        "Cookie": REDACTED,
        "X-Api-Key": REDACTED,
        "X-Correlation-ID": "c1",
    }
    url = redact_url("https://u:p@h.example/x?signature=abc&sig=d&id=7&key=zz")
    assert (
        url
        == f"https://{REDACTED}@h.example/x?signature={REDACTED}&sig={REDACTED}&id=7&key={REDACTED}"
    )


@pytest.mark.parametrize(
    "name",
    [
        "Authorization",
        "x-api-key",
        "webhook_secret",
        "password",
        "DOCSERVICE_API_TOKENS",
        "set-cookie",
        "access_token",
    ],
)
def test_secret_key_names(name):
    assert SECRET_KEY_PATTERN.match(name)


@pytest.mark.parametrize(
    "name", ["prompt_tokens", "sha256", "chunk_id", "correlation_id", "document_id", "status"]
)
def test_ordinary_key_names(name):
    assert not SECRET_KEY_PATTERN.match(name)


def test_redact_texts_is_redact_text_of_each():
    from pytest_deployverify.redact import redact_text, redact_texts

    secrets = ["hunter2-secret", "abcd"]
    texts = ["", "plain", "token=xyz123456 and hunter2-secret", "x abcd y", "Bearer eyJabc.def"]
    assert redact_texts(texts, secrets) == [redact_text(t, secrets) for t in texts]
    assert "hunter2-secret" not in "".join(redact_texts(texts, secrets))
