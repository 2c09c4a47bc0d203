"""Noise learned from two recordings of the docservice lets the comparison against a fresh
deployment pass, while a real change (a configuration drift) fails with its paths.

Each inner run launches its own docservice (the plugin's embedded launch), so the comparison
really is against a fresh deployment: new ids, new timestamps, a new database.
"""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path

import baseline_support  # noqa: F401  (imports the baseline modules before inner runs)
import pytest

REPO = Path(__file__).resolve().parents[2]
PDF = REPO / "fixtures" / "small.pdf"

PYPROJECT = """
[tool.deployverify]
default_env = "local"

[tool.deployverify.envs.local]
launch = "{python} -m docservice up --ready-file {ready_file}"
launch_secrets = { DOCSERVICE_API_TOKENS = "api_token", DOCSERVICE_WEBHOOK_SECRET = "webhook_secret" }
auth = "bearer:api_token"

[tool.deployverify.envs.drifted]
launch = "{python} -m docservice up --ready-file {ready_file} --fault config_drift"
launch_secrets = { DOCSERVICE_API_TOKENS = "api_token", DOCSERVICE_WEBHOOK_SECRET = "webhook_secret" }
auth = "bearer:api_token"

[tool.pytest.ini_options]
asyncio_default_fixture_loop_scope = "function"
"""

TEST = f"""
def test_pdf(upload_document, api, baseline):
    run = upload_document({str(PDF)!r})
    baseline.check("run", run)
    baseline.check("version", api.get("/version"), ignore=["$.body.git_revision"])
"""


@pytest.mark.slow
@pytest.mark.skipif(
    importlib.util.find_spec("docservice.__main__") is None, reason="docservice not available"
)
def test_learned_noise_passes_on_a_fresh_deployment_and_drift_fails(pytester):
    pytester.makefile(".toml", pyproject=textwrap.dedent(PYPROJECT))
    pytester.makepyfile(test_inner=TEST)
    run = lambda *a: pytester.runpytest("-p", "no:cacheprovider", *a)  # noqa: E731

    result = run("--record-baseline")
    result.assert_outcomes(passed=1)
    stored = (pytester.path / "baselines" / "test_inner" / "test_pdf.json").read_text()
    assert '"record_runs": 2' in stored
    assert '"format": "uuid"' in stored  # ids learned as volatile uuids
    assert '"service": "docservice"' in stored  # provenance: the deployment's /version

    result = run()  # a fresh deployment
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*deployverify baselines: 2 verified, 0 mismatched*"])

    result = run("--target-env", "drifted")  # a fresh deployment with another configuration
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "does not match baselines/test_inner/test_pdf.json" in out
    assert "$.document.embedding.dimensions: expected 1536, observed 768 [stable value]" in out
