"""Per-environment pipeline and correlation profiles, routes declared absent, and the
completeness components an environment expects: one project, several services."""

from __future__ import annotations

import json
import textwrap

import pytest
from plugin_support import ALT_KEY, ALT_KEY_VAR, CONV_KEY

from pytest_deployverify.config import ConfigError, resolve_target


def _resolve(tmp_path, text: str, env: str = "a"):
    """The target ``resolve_target`` builds for environment ``env`` of this pyproject text."""
    from types import SimpleNamespace

    from pytest_deployverify.envfile import EnvFile
    from pytest_deployverify.settings_reader import read_tool_table

    path = tmp_path / "pyproject.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    tool, pyproject = read_tool_table(path)
    # the settings resolve_target reads (the rest of Settings is not involved here)
    chosen = SimpleNamespace(
        tool=tool,
        pyproject=pyproject,
        rootpath=tmp_path,
        env_name=env,
        target_env_source="--target-env",
        target_url=None,
        target_url_source="",
        env_file=lambda name: EnvFile(f".env.{name}", tmp_path / f".env.{name}"),
    )
    return resolve_target(chosen, environ={})


def test_environment_tables_override_the_global_ones_key_by_key(tmp_path):
    text = """
        [tool.deployverify.pipeline]
        status_field = "state"
        poll_max = 0.5

        [tool.deployverify.correlation]
        header = "X-Request-ID"

        [tool.deployverify.envs.a]
        base_url = "http://127.0.0.1:1"

        [tool.deployverify.envs.b]
        base_url = "http://127.0.0.1:2"
        pipeline = { status_field = "task_status", absent = ["events", "delete"] }
        correlation = { echo = "record" }
    """
    a, b = _resolve(tmp_path, text, "a"), _resolve(tmp_path, text, "b")
    assert a.profile.status_field == "state" and a.profile.events_path  # the global table
    assert b.profile.status_field == "task_status" and b.profile.poll_max == 0.5
    assert b.profile.events_path == "" and b.profile.delete_path == ""
    assert b.profile.absent == ("events", "delete")
    assert a.correlation.echo == "fail" and b.correlation.echo == "record"
    assert a.correlation.header == b.correlation.header == "X-Request-ID"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('pipeline = { stauts_field = "x" }', "envs.a.pipeline] * unknown key(s) stauts_field"),
        ('pipeline = { absent = ["webhooks"] }', "absent names 'webhooks'"),
        (
            'pipeline = { absent = ["delete"], delete_path = "/d/{document_id}" }',
            "'delete' is declared absent but delete_path is set",
        ),
        (  # the default document_path names {document_id}: it would never be fetched
            'pipeline = { absent = ["document_id", "delete"] }',
            "pipeline] * document_path '/api/v2/documents/{document_id}' needs {document_id}, "
            "but the service names no document id * or add 'document' to absent *",
        ),
        ('correlation = { echo = "maybe" }', "echo = 'maybe' must be"),
        ("components = [1, 2]", "components must be a list of names"),
        ('components = ["Worker"]', "component name 'Worker' must be a lower-case word"),
    ],
)
def test_mistakes_in_an_environment_table_are_named(tmp_path, table, message):
    with pytest.raises(ConfigError) as info:
        _resolve(
            tmp_path,
            f"""
            [tool.deployverify.envs.a]
            base_url = "http://127.0.0.1:1"
            {table}
            """,
        )
    import fnmatch

    assert fnmatch.fnmatch(str(info.value), f"*{message}*"), str(info.value)


def test_an_environment_may_declare_absent_a_route_the_global_profile_has(tmp_path):
    target = _resolve(
        tmp_path,
        """
        [tool.deployverify.pipeline]
        document_path = "/docs/{document_id}"

        [tool.deployverify.envs.a]
        base_url = "http://127.0.0.1:1"
        pipeline = { absent = ["document", "timestamps"] }
        """,
    )
    assert target.profile.document_path == "" and target.profile.timestamp_field == ""


def test_components_per_environment_and_globally(tmp_path):
    text = """
        [tool.deployverify]
        components = ["api", "worker"]

        [tool.deployverify.envs.a]
        base_url = "http://127.0.0.1:1"

        [tool.deployverify.envs.b]
        base_url = "http://127.0.0.1:2"
        components = { api = "Conversion API", converter = "Converter" }

        [tool.deployverify.envs.c]
        base_url = "http://127.0.0.1:3"
        components = []
    """
    assert _resolve(tmp_path, text, "a").components == (("api", "api"), ("worker", "worker"))
    assert _resolve(tmp_path, text, "b").components == (
        ("api", "Conversion API"),
        ("converter", "Converter"),
    )
    assert _resolve(tmp_path, text, "c").components == ()


def test_no_components_configured_lists_only_what_tests_reported():
    from pytest_deployverify.report.model import component_rows

    check = {"name": "component:converter", "kind": "component", "outcome": "pass"}
    rows = component_rows({"target": {"components": []}, "checks": [check]})
    assert [(r.key, r.state) for r in rows] == [("converter", "working")]
    rows = component_rows(
        {"target": {"components": [{"name": "api", "label": "API"}]}, "checks": [check]}
    )
    assert [(r.label, r.state) for r in rows] == [("API", "not checked"), ("converter", "working")]


TWO_SERVICES = """
def test_upload(target, upload_document):
    run = upload_document({pdf!r})
    run.raise_for_outcome()
    print("SERVICE", target.name, run.final_status, run.status_source)
"""


def test_one_project_verifies_two_differently_shaped_services(
    project, alt, conv, small_pdf, monkeypatch
):
    """The alt service and the conversion service, each with its own profile in its
    environment table, no global pipeline table at all."""
    monkeypatch.setenv(ALT_KEY_VAR, ALT_KEY)
    project.pyproject(
        f"""
        [tool.deployverify.envs.alt]
        base_url = "{alt.url}"
        secrets = {{ key = "{ALT_KEY_VAR}" }}
        auth = "header:X-Api-Key:key"
        health_path = "/healthz"
        correlation = {{ header = "X-Request-ID", traceparent = false }}

        [tool.deployverify.envs.alt.pipeline]
        upload_path = "/ingest/v1/files"
        upload_field = "upload"
        metadata_field = "meta"
        job_path = "/ingest/v1/tasks/{{job_id}}"
        document_path = "/ingest/v1/files/{{document_id}}"
        delete_path = "/ingest/v1/files/{{document_id}}"
        status_field = "task.state"
        job_id_field = "data.task.id"
        document_id_field = "data.file.id"
        duplicate_field = "dupe"
        upload_status_field = "data.task.state"
        upload_timestamp_field = "data.task.changed"
        timestamp_field = "task.changed"
        error_field = "task.problem"
        correlation_field = "task.cid"
        statuses = ["RECEIVED", "SCANNING", "INDEXING", "DONE"]
        terminal_success = ["DONE"]
        terminal_failure = ["BROKEN"]
        absent = ["events"]

        [tool.deployverify.envs.conv]
        base_url = "{conv.url}"
        secrets = {{ key = "CONVERT_API_KEY" }}
        auth = "header:X-Api-Key:key"
        version_path = ""
        correlation = {{ echo = "off", traceparent = false }}

        [tool.deployverify.envs.conv.pipeline]
        upload_path = "/v1/convert/file/async"
        upload_field = "files"
        job_path = "/v1/status/poll/{{job_id}}"
        job_id_field = "task_id"
        status_field = "task_status"
        document_path = "/v1/result/{{job_id}}"
        statuses = ["pending", "started", "success"]
        terminal_success = ["success"]
        terminal_failure = ["failure"]
        absent = ["events", "delete", "document_id", "dedupe", "metadata", "timestamps",
                  "correlation", "error"]
        """
    )
    project.tests(TWO_SERVICES.format(pdf=small_pdf))
    reports = project.pytester.path / "reports"
    # clean-up: alt's upload is deleted; conv has no delete route (declared absent), so its
    # upload is left in place, says why, and no report calls it removed
    cleanups = {
        "alt": ("deleted (HTTP 200)", None, "| yes | deleted (HTTP 200) |"),
        "conv": ("skipped", "no delete route", "| no (left in place) | skipped | the service"),
    }
    for env, final in (("alt", "DONE"), ("conv", "success")):
        result = project.run("-s", "--target-env", env)
        result.assert_outcomes(passed=1)
        result.stdout.fnmatch_lines([f"*SERVICE {env} {final} polling*"])
        status, why, row = cleanups[env]
        (cleanup,) = json.loads((reports / "verdict.json").read_text())["cleanup"]
        assert cleanup["status"] == status and (why or "") in (cleanup["error"] or ""), cleanup
        assert row in (reports / "summary.md").read_text()
    assert conv.tasks and alt.requests
    assert CONV_KEY not in (reports / "verdict.json").read_text()
