"""The smoke suite against deployments wired to stand-ins, as production must never be, and
to stand-ins that behave like the real LlamaParse and OpenAI (issue 17).

Each case copies the unchanged smoke suite, fixtures and committed baselines into a pytester
project, launches docservice with its stand-ins configured for the case, and reads the verdict:

* a protected environment whose canary carries a stand-in's identity fails, saying the
  deployment is wired to test doubles; the same environment configured to allow the stand-in
  (tests/smoke/environments.toml) passes that check;
* stand-ins with jitter on (embedding float noise, parser whitespace) against the committed
  baselines recorded with jitter off: the canaries pass, their embeddings compared by cosine
  similarity rather than bytes;
* docservice configured with another embedding model of the same dimensions: the canaries
  fail, naming the chunk and its similarity.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from plugin_support import run_smoke, smoke_project, verdict_failures

PYPROJECT = """
[tool.pytest.ini_options]
asyncio_mode = "strict"
asyncio_default_fixture_loop_scope = "function"

[tool.deployverify]
default_env = "{env}"

[tool.deployverify.envs.{env}]
launch = "{{python}} -m docservice up --ready-file {{ready_file}}"
launch_secrets = {{ DOCSERVICE_API_TOKENS = "api_token", DOCSERVICE_WEBHOOK_SECRET = "webhook_secret" }}
auth = "bearer:api_token"
launch_env = {{ {launch_env} }}
protected = {protected}
"""

IDENTITY = "tests/smoke/test_deployment.py::test_parser_and_embeddings_are_real_and_match_baseline"
MONITORING = (
    "tests/smoke/test_monitoring.py::test_a_canary_moves_the_counters",
    "tests/smoke/test_monitoring.py::test_prometheus_scrapes_the_service",
)


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The inner runs use the suite's own settings, not the caller's overrides."""
    monkeypatch.delenv("DEPLOYVERIFY_TARGET_URL", raising=False)
    for name in [n for n in os.environ if n.startswith("SMOKE_")]:
        monkeypatch.delenv(name)


def _run(
    pytester: pytest.Pytester,
    tests: list[str],
    *,
    env: str = "local",
    protected: bool = False,
    launch_env: dict[str, str] | None = None,
    environments: str = "",
) -> tuple[Any, dict[str, Any], list[tuple[str, str]]]:
    """Run ``tests`` of the copied smoke suite against a fresh launch; (result, verdict,
    failures). ``environments`` is appended to the copied tests/smoke/environments.toml."""
    smoke_project(
        pytester,
        PYPROJECT.format(
            env=env,
            protected=str(protected).lower(),
            launch_env=", ".join(f'{k} = "{v}"' for k, v in (launch_env or {}).items()),
        ),
    )
    if environments:
        settings = pytester.path / "tests/smoke/environments.toml"
        settings.write_text(settings.read_text() + "\n" + environments)
    result, verdict = run_smoke(pytester, *tests, f"--target-env={env}")
    return result, verdict, verdict_failures(verdict)


def _shown(failures: list[tuple[str, str]]) -> str:
    return "\n".join(f"  {n}: {m[:600]}" for n, m in failures) or "  (none)"


@pytest.mark.slow
def test_protected_environment_wired_to_standins_fails(pytester: pytest.Pytester):
    """Production (protected) whose canary was parsed by the parser stand-in: the identity
    check fails, naming the stand-in and the rule's source."""
    result, verdict, failures = _run(pytester, [IDENTITY], env="prod", protected=True)
    assert verdict["verdict"] == "fail" and result.ret != 0, _shown(failures)
    pattern = (
        r"the deployment is wired to test doubles: \{'parser': \"llamaparse-standin "
        r"\(contains 'standin'\)\", 'embeddings': \"text-embedding-3-small-standin \(contains "
        r"'standin'\)\"\}.*rule: on protected environment 'prod' no identity may contain "
        r"\[.*'standin'.*\] \(environments\.toml\)"
    )
    hits = [n for n, m in failures if "test_parser_and_embeddings_are_real" in n]
    assert hits and any(re.search(pattern, m, re.S) for _, m in failures), _shown(failures)


@pytest.mark.slow
def test_protected_environment_that_allows_the_standins_passes(pytester: pytest.Pytester):
    """A staging that runs the stand-ins on purpose says so in environments.toml: protected,
    same deployment, the identity check passes. The same run shows what an environment without
    a prometheus_url leaves unchecked: the monitoring row says so and the Prometheus checks
    skip naming the target (issue 16)."""
    result, verdict, failures = _run(
        pytester,
        [IDENTITY, *MONITORING],
        env="staging",
        protected=True,
        environments=(
            "[envs.staging]\n"
            'allowed_test_doubles = ["llamaparse-standin", "text-embedding-3-small-standin"]\n'
        ),
    )
    assert verdict["verdict"] == "pass" and result.ret == 0, _shown(failures)
    outcomes = {t["nodeid"].rsplit("::", 1)[-1]: t for t in verdict["tests"]}
    assert {name: t["outcome"] for name, t in outcomes.items()} == {
        "test_parser_and_embeddings_are_real_and_match_baseline": "passed",
        "test_a_canary_moves_the_counters": "passed",
        "test_prometheus_scrapes_the_service": "skipped",
    }, verdict["tests"]
    assert (
        "target 'staging' names no prometheus_url"
        in (outcomes["test_prometheus_scrapes_the_service"]["skip_reason"])
    )
    monitoring = next(c for c in verdict["checks"] if c["name"] == "component:monitoring")
    assert monitoring["outcome"] == "pass"
    assert (
        "Prometheus not checked: target 'staging' names no prometheus_url (scrape target, "
        "counters in Prometheus, alert rules loaded, alerts firing)" in monitoring["message"]
    ), monitoring


CANARIES = "tests/smoke/test_pipeline.py::test_canary_walks_the_pipeline_like_the_baseline"


@pytest.mark.slow
def test_jitter_in_the_verified_deployment_passes(pytester: pytest.Pytester):
    """Real-service noise (jitter on) against a baseline recorded without it: every canary
    passes, and the similarities each canary measured (junit XML properties) are below 1 -
    the comparison tolerated noise, it did not see identical vectors - and above 0.9999."""
    result, verdict, failures = _run(
        pytester,
        [CANARIES, IDENTITY, "--junitxml=junit.xml"],
        launch_env={"DOCSERVICE_STANDIN_JITTER": "on"},
    )
    assert verdict["verdict"] == "pass" and result.ret == 0, _shown(failures)
    outcomes = {t["nodeid"].rsplit("::", 1)[-1]: t["outcome"] for t in verdict["tests"]}
    assert outcomes == {
        "test_canary_walks_the_pipeline_like_the_baseline[small.pdf]": "passed",
        "test_canary_walks_the_pipeline_like_the_baseline[medium.pdf]": "passed",
        "test_canary_walks_the_pipeline_like_the_baseline[large.pdf]": "passed",
        "test_parser_and_embeddings_are_real_and_match_baseline": "passed",
    }, outcomes
    lowest = _properties(pytester.path / "junit.xml", "embedding_lowest_cosine")
    assert len(lowest) == 3 and all(0.9999 < x < 1.0 for x in lowest), lowest


def _properties(junit: Path, name: str) -> list[float]:
    """Every value of the ``record_property`` called ``name`` in a junit XML file."""
    import xml.etree.ElementTree as ET

    root = ET.parse(junit).getroot()
    return [float(p.get("value", "nan")) for p in root.iter("property") if p.get("name") == name]


@pytest.mark.slow
def test_another_model_of_the_same_dimensions_fails_naming_chunk_and_similarity(
    pytester: pytest.Pytester,
):
    """text-embedding-ada-002 has 1536 dimensions like the baseline's text-embedding-3-small:
    every canary fails, each naming its chunks and their cosine similarity."""
    result, verdict, failures = _run(
        pytester,
        [CANARIES],
        launch_env={"DOCSERVICE_EMBEDDING_MODEL": "text-embedding-ada-002"},
    )
    assert verdict["verdict"] == "fail" and result.ret != 0, _shown(failures)
    pattern = (
        r"embeddings: chunk 0 \(sha256 [0-9a-f]{12}\): cosine similarity (-?0\.0\d+) with the "
        r"baseline's embedding; rule: >= 0\.999 \(embedding_min_cosine\)"
    )
    for pdf in ("small.pdf", "medium.pdf", "large.pdf"):
        messages = [m for n, m in failures if n.endswith(f"[{pdf}]")]
        found = [re.search(pattern, m) for m in messages]
        assert any(found), f"{pdf}: no chunk similarity named; failures:\n{_shown(failures)}"
        similarity = float(next(f for f in found if f).group(1))
        assert abs(similarity) < 0.2, similarity  # unrelated directions, not a near miss
