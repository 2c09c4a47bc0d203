"""Secrets never reach a baseline file, a failure message or a finding."""

from __future__ import annotations

import itertools

import baseline_support

from pytest_deployverify import redact
from pytest_deployverify.baseline.redaction import could_hold_credential, redact_observation

noisy_service = baseline_support.noisy_service
noisy = baseline_support.noisy
bproject = baseline_support.bproject

TOKEN = "tok-" + "9f3a" * 8
OTHER = "sk-" + "A1b2C3d4" * 4
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"


def _secret_env(bproject, monkeypatch):
    monkeypatch.setenv("DV_NOISY_TOKEN", TOKEN)
    bproject.pyproject(extra="")
    text = (bproject.pytester.path / "pyproject.toml").read_text()
    text = text.replace(
        "[tool.deployverify.envs.noisy]\n",
        '[tool.deployverify.envs.noisy]\nsecrets = { api_token = "DV_NOISY_TOKEN" }\nauth = "bearer:api_token"\n',
    )
    (bproject.pytester.path / "pyproject.toml").write_text(text)


def test_secrets_in_responses_never_reach_the_file(bproject, noisy, monkeypatch):
    _secret_env(bproject, monkeypatch)
    noisy.secret_in_body = TOKEN
    bproject.tests(
        f"""
        def test_doc(api, baseline):
            baseline.check("doc", api.get("/doc"))
            baseline.check("data", {{
                "auth": "Authorization: Bearer abcdefghijklmnop",
                "jwt": "{JWT}",
                "key": "{OTHER}",
                "password": "hunter2-hunter2",
                "url": "https://user:pa55word@example.com/x",
                "prompt_tokens": 17,
                "sha256": "ab" * 32,
            }})
        """
    )
    bproject.record().assert_outcomes(passed=1)
    text = "\n".join(bproject.files().values())
    for secret in (TOKEN, "abcdefghijklmnop", JWT, OTHER, "hunter2-hunter2", "pa55word"):
        assert secret not in text, secret
    assert "[REDACTED]" in text
    data = bproject.load("test_inner/test_doc.json")["observations"]
    # what is not a credential survives
    assert data["data"]["value"]["prompt_tokens"] == 17
    assert data["data"]["value"]["sha256"] == "ab" * 32
    assert data["doc"]["value"]["body"]["title"] == "Quarterly report"
    # compare mode redacts the observation the same way: it matches
    bproject.run().assert_outcomes(passed=1)


def test_secret_never_in_a_failure_message(bproject, noisy, monkeypatch):
    _secret_env(bproject, monkeypatch)
    bproject.tests(
        """
        import os
        def test_doc(api, baseline):
            baseline.check("doc", {"note": os.environ.get("DV_NOTE", "nothing")})
        """
    )
    bproject.record().assert_outcomes(passed=1)
    monkeypatch.setenv("DV_NOTE", f"leaked {TOKEN} here")
    result = bproject.run()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert TOKEN not in out
    assert '$.note: expected "nothing", observed "leaked [REDACTED] here" [stable value]' in out


def test_marker_precheck_covers_every_redaction():
    """The fast path skips only strings redact.py would leave unchanged."""
    pieces = [
        "Bearer abcdefgh123",
        "basic QWxhZGRpbjpvcGVu",
        "token=abcd1234",
        "password: hunter22",
        '"api_key": "k3y-value"',
        "secret=s3cr3tvalue",
        JWT,
        OTHER,
        "ghp_" + "a" * 30,
        "xoxb-1234567890-abc",
        "AKIAABCDEFGHIJKLMNOP",
        "https://u:p4ss@h.example/x",
        "https://h.example:8443/x",
        "ops@h.example",
        "Cookie: session=abc123",
        "X-Api-Key: 123456",
        "sig=abcdef012",
        "plain text",
        "2026-11-28T12:00:00Z",
        "e3b0c44298fc1c149afbf4c8996fb924",
        "chunk 7 of 9",
        "",
    ]
    for a, b in itertools.product(pieces, repeat=2):
        text = f"{a} {b}"
        if redact.redact_text(text) != text:
            assert could_hold_credential(text), text


def test_plain_urls_skip_the_text_patterns():
    """A URL without user:password@ (every run redacts its target's base URL) is not taken
    for a credential, so the text patterns are not compiled for it; one with them is."""
    redact._text_patterns.cache_clear()
    for url in ("http://127.0.0.1:8000", "https://api.example.com:8443/v1/docs?page=2"):
        assert not could_hold_credential(url)
        assert redact.redact_text(url) == url
    assert redact._text_patterns.cache_info().currsize == 0
    assert could_hold_credential("https://u:p4ss@h.example/x")
    assert redact.redact_text("https://u:p4ss@h.example/x") == "https://u:[REDACTED]@h.example/x"
    assert redact._text_patterns.cache_info().currsize == 1


def test_redact_observation_matches_redact_value():
    value = {
        "Authorization": "Bearer abcdefghijk",
        "nested": [{"client_secret": "xyz-1234"}, "see token=abcd1234 here", 3, None, True],
        "ids": ["e3b0c44298fc1c149afbf4c8996fb924"] * 3,
        "msg": f"contains {TOKEN}",
    }
    assert redact_observation(value, [TOKEN]) == redact.redact_value(value, [TOKEN])
