"""The smoke suite's per-environment settings (tests/smoke/smoke_environments.py): which
identities are test doubles where, and clear errors for a bad settings file."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_support import smoke_module

SMOKE = Path(__file__).resolve().parents[2] / "tests" / "smoke"
envs = smoke_module("smoke_environments")


def test_committed_settings_refuse_mocks_everywhere_and_standins_when_protected():
    local = envs.load("local", protected=False)
    prod = envs.load("prod", protected=True)
    assert local.test_double("mock-llamaparse") == "mock"
    assert local.test_double("llamaparse-standin") is None  # local runs the stand-ins
    assert prod.test_double("llamaparse-standin") == "standin"
    assert prod.test_double("OpenAI-Stand-In/text-embedding-3-small") == "stand-in"
    assert prod.embedding_min_cosine == 0.999


@pytest.mark.parametrize("identity", ["llamaparse", "text-embedding-3-small", "markdown-simple"])
def test_real_identities_are_not_test_doubles_on_production(identity):
    assert envs.load("prod", protected=True).test_double(identity) is None


def test_an_environment_allows_a_standin_it_runs_on_purpose(tmp_path):
    path = tmp_path / "environments.toml"
    path.write_text(
        (SMOKE / "environments.toml").read_text()
        + '\n[envs.staging]\nallowed_test_doubles = ["llamaparse-standin"]\n'
        + "embedding_min_cosine = 0.99\n"
    )
    staging = envs.load("staging", protected=True, path=path)
    assert staging.test_double("llamaparse-standin") is None
    assert staging.test_double("mock-llamaparse") == "mock"  # only what it allows
    assert staging.embedding_min_cosine == 0.99
    assert envs.load("prod", protected=True, path=path).test_double("llamaparse-standin")
    assert "except ['llamaparse-standin']" in staging.rule()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[defaults]\ntest_doubles = 'mock'\n", r"\[defaults\] test_doubles must be a list"),
        ("[envs.prod]\nprotectd = true\n", r"\[envs\.prod\] has unknown key\(s\) \['protectd'\]"),
        ("[envs.prod]\nembedding_min_cosine = 2\n", r"embedding_min_cosine=2 must be a number"),
        ("[default]\n", r"unknown table\(s\) \['default'\]"),
        ("[defaults\n", r"cannot be read"),
    ],
)
def test_bad_settings_name_the_file_and_key(tmp_path, text, message):
    path = tmp_path / "environments.toml"
    base = "" if text.startswith("[default") else (SMOKE / "environments.toml").read_text()
    path.write_text(base + "\n" + text)
    with pytest.raises(pytest.UsageError, match=message) as info:
        envs.load("prod", protected=True, path=path)
    assert str(path) in str(info.value)
