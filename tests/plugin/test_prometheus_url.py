"""A target may name the Prometheus that monitors it: ``prometheus_url`` (or
``prometheus_url_env``) with ``prometheus_auth`` in its environment table, or ``prometheus_url``
in a launched deployment's ready file. Tests read ``target.prometheus_url`` and
``target.prometheus_headers()``; nothing about the service's shape is assumed."""

from __future__ import annotations

from pathlib import Path

import pytest
from plugin_support import ALT_KEY

FAKE = Path(__file__).parent / "servers" / "fake_launcher.py"

SHOW = """
import json

def test_show(target):
    with open("prom.json", "w") as fh:
        json.dump({"url": target.prometheus_url, "headers": target.prometheus_headers()}, fh)
"""


def _shown(project) -> dict:
    import json

    return json.loads((project.pytester.path / "prom.json").read_text())


def test_an_environment_names_its_prometheus_and_auth(project, alt, mode) -> None:
    project.alt(
        alt,
        extra_env='prometheus_url = "http://prom.example:9090/"\n'
        'prometheus_auth = "header:X-Api-Key:key"',
    )
    project.tests(SHOW)
    project.run(*mode).assert_outcomes(passed=1)
    assert _shown(project) == {"url": "http://prom.example:9090", "headers": {"X-Api-Key": ALT_KEY}}


def test_without_a_prometheus_the_url_is_empty(project, alt) -> None:
    project.alt(alt)
    project.tests(SHOW)
    project.run().assert_outcomes(passed=1)
    assert _shown(project) == {"url": "", "headers": {}}


def test_the_url_may_come_from_the_environment(project, alt, monkeypatch) -> None:
    monkeypatch.setenv("DV_TEST_PROM_URL", "https://prom.internal")
    project.alt(alt, extra_env='prometheus_url_env = "DV_TEST_PROM_URL"')
    project.tests(SHOW)
    project.run().assert_outcomes(passed=1)
    assert _shown(project)["url"] == "https://prom.internal"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('prometheus_url = "prom:9090"', "*prometheus_url in *is not an http(s) URL*"),
        ('prometheus_auth = "bearer:nope"', "*prometheus_auth uses secret 'nope'*"),
        ('prometheus_auth = "basic"', "*prometheus_auth = 'basic' must be*"),
    ],
)
def test_a_bad_prometheus_setting_is_one_clear_error(project, alt, extra, message) -> None:
    project.alt(alt, extra_env=extra)
    project.tests(SHOW)
    result = project.run()
    assert result.ret != 0
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize("own", ["", "http://127.0.0.1:9/"], ids=["from-ready-file", "env-wins"])
def test_a_launched_deployment_may_name_its_prometheus(project, own: str) -> None:
    own_line = f'prometheus_url = "{own}"' if own else ""
    project.pyproject(
        f"""
        [tool.deployverify.envs.local]
        launch = "{{python}} {FAKE} --ready-file {{ready_file}} --prometheus-url http://127.0.0.1:9090"
        launch_secrets = {{ DEPLOYVERIFY_FAKE_TOKEN = "api_token" }}
        auth = "bearer:api_token"
        {own_line}
        """
    )
    project.tests(SHOW)
    # serial only: test_an_environment_names_its_prometheus_and_auth shows the URL reaching
    # xdist workers, and a launched target travels to them the same way (Target.to_wire)
    project.run("--target-env=local").assert_outcomes(passed=1)
    assert _shown(project)["url"] == (own.rstrip("/") or "http://127.0.0.1:9090")
