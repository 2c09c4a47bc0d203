"""[tool.deployverify.pipeline]: another service's paths, fields and statuses."""

from __future__ import annotations

import pytest


def test_profile_drives_a_differently_shaped_service(project, alt, small_pdf):
    project.alt(alt)
    project.tests(
        f"""
        def test_profile(target, upload_document):
            p = target.profile
            assert p.status_field == "task.state" and p.events_path == ""
            assert p.terminal_success == ("DONE",)
            run = upload_document({small_pdf!r})
            run.raise_for_outcome()
            # no event trail: every status comes from polling, with the job's timestamp
            assert {{e.source for e in run.statuses}} == {{"poll"}}
        """
    )
    project.run().assert_outcomes(passed=1)
    paths = {r["method"] + " " + r["path"].split("/ingest/v1/")[-1][:5] for r in alt.requests}
    assert {"POST files", "GET tasks", "GET files", "DELETE files"} <= paths
    assert not any("/api/v2/" in r["path"] for r in alt.requests)


def test_default_profile_does_not_fit_alt(project, alt, small_pdf):
    """Without the profile, the alt service's upload is a 404: the run says 'rejected'."""
    project.pyproject(
        f"""
        [tool.deployverify.envs.local]
        base_url = "{alt.url}"
        secrets = {{ key = "DV_TEST_ALT_KEY" }}
        auth = "header:X-Api-Key:key"
        health_path = "/healthz"

        [tool.deployverify.correlation]
        header = "X-Request-ID"
        """
    )
    project.tests(
        f"""
        def test_default(upload_document):
            run = upload_document({small_pdf!r})
            assert run.outcome == "rejected" and run.upload_status_code == 404
        """
    )
    project.run().assert_outcomes(passed=1)


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('job_path = "/tasks"', "*job_path '/tasks' must contain {job_id}*"),
        ("terminal_success = []", "*terminal_success must name at least one status*"),
        ('stauts_field = "x"', "*unknown key(s) stauts_field; valid keys are*"),
    ],
)
def test_bad_profile_is_a_usage_error(project, alt, table, message):
    project.pyproject(
        f"""
        [tool.deployverify.envs.local]
        base_url = "{alt.url}"

        [tool.deployverify.pipeline]
        {table}
        """
    )
    project.tests("def test_x(target):\n    pass\n")
    result = project.run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["ERROR: [[]tool.deployverify.pipeline[]] in *" + message.lstrip("*")]
    )


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            'status_field = "task.status"',  # alt keeps it in task.state
            "the job resource GET /ingest/v1/tasks/* answered without 'task.status' "
            "(status_field in the pipeline profile); 'task' has the fields changed, file_id, id, "
            "problem, state",
        ),
        (
            'job_id_field = "task_id"',  # alt keeps it in data.task.id
            "the upload response has no 'task_id' (job_id_field in the pipeline profile); "
            "the response has the fields data, dupe",
        ),
    ],
)
def test_a_field_the_service_does_not_have_is_named(project, alt, small_pdf, override, message):
    """A profile that does not fit (or a renamed field) names the key and what the response
    has, at once: not a stall after --stall-timeout with "no status seen". The fitting
    profile above is the silent case."""
    project.alt(alt, extra_env=f"pipeline = {{ {override} }}")
    project.tests(
        f"""
        def test_misfit(upload_document):
            run = upload_document({small_pdf!r})
            assert run.outcome == "failed"
            print("LAST_ERROR", run.last_error)
        """
    )
    result = project.run("-s", "--stall-timeout", "60")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"*LAST_ERROR {message}"])
