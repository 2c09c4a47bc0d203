"""The deployment's version is read once at activation and shown in the verdict file.

It is provenance (which build was verified), so a target without a version endpoint gets
``null``, never an error; secrets in the answer are redacted like everywhere else.
"""

from __future__ import annotations

import json

SHOW = """
def test_version(target):
    print("VERSION", target.deployment_version)
"""


def test_docservice_version_reaches_the_verdict(project, docservice, monkeypatch, mode):
    project.docservice(docservice, monkeypatch)
    project.tests(SHOW)
    result = project.run("-s", *mode) if not mode else project.run(*mode)
    result.assert_outcomes(passed=1)
    verdict = json.loads((project.pytester.path / "reports" / "verdict.json").read_text())
    version = verdict["target"]["deployment_version"]
    assert version["service"] == "docservice"
    assert version["config_fingerprint"]["embedding_dimensions"] == 1536
    assert docservice.token not in json.dumps(verdict)


def test_no_version_endpoint_is_null_not_an_error(project, alt):
    # the alt service has no /version: provenance is simply unknown
    project.alt(alt)
    project.tests(SHOW)
    result = project.run("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*VERSION None*"])


def test_version_path_can_be_turned_off(project, docservice, monkeypatch):
    project.docservice(docservice, monkeypatch, extra_env='version_path = ""')
    project.tests(SHOW)
    result = project.run("-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*VERSION None*"])
