"""Protected environments: only nondestructive/canary tests run; canary uploads are deleted."""

from __future__ import annotations

import pytest

TESTS = """
import pytest

def test_unmarked(api):
    raise AssertionError("must not run on a protected target")

@pytest.mark.nondestructive
def test_reads(api):
    assert api.get("/ingest/v1/files/none").status_code == 404

@pytest.mark.canary
def test_canary_fails_after_upload(upload_document):
    upload_document({pdf!r}).raise_for_outcome()
    raise AssertionError("the canary's own assertion failed")

@pytest.mark.canary
def test_canary_passes(upload_document):
    upload_document({pdf!r}).raise_for_outcome()
"""


def test_protected_skips_unmarked_and_cleans_canaries(project, alt, small_pdf, evidence, mode):
    project.alt(alt, extra_env="protected = true")
    project.tests(TESTS.format(pdf=small_pdf))
    result = project.run("-rs", *mode)
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    result.stdout.fnmatch_lines(
        [
            "SKIPPED [[]1[]] *: deployverify: target 'alt' is protected; only tests marked "
            "nondestructive or canary run on it",
        ]
    )
    result.stdout.fnmatch_lines(["target 'alt' at * (from base_url), protected"])
    result.stdout.fnmatch_lines(["cleanup of synthetic documents: 2 deleted"])
    assert "must not run" not in result.stdout.str()
    ev = evidence(result)
    assert ev["test_unmarked"].outcome == "skipped"
    assert [c.result for c in ev["test_canary_fails_after_upload"].cleanup] == ["deleted"]
    assert not alt.files  # even the failed canary's document is gone


def test_unprotected_runs_everything(project, alt, small_pdf):
    project.alt(alt)
    project.tests(TESTS.format(pdf=small_pdf))
    result = project.run()
    result.assert_outcomes(passed=2, failed=2)
    assert not alt.files


def test_keep_documents_is_ignored_on_protected(project, alt, small_pdf):
    project.alt(alt, extra_env="protected = true")
    project.tests(TESTS.format(pdf=small_pdf))
    project.run("--keep-documents").assert_outcomes(passed=2, failed=1, skipped=1)
    assert not alt.files


def test_interrupted_canary_is_cleaned_up(project, alt, small_pdf):
    project.alt(alt, extra_env="protected = true")
    project.tests(
        f"""
        import pytest

        @pytest.mark.canary
        def test_interrupted(upload_document):
            upload_document({small_pdf!r}).raise_for_outcome()
            raise KeyboardInterrupt
        """
    )
    # a real process: an in-process run would interrupt the outer session too
    result = project.pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert any(r["method"] == "POST" for r in alt.requests)
    assert not alt.files


def test_failed_cleanup_is_reported(project, alt, small_pdf, evidence):
    project.alt(alt)
    text = (project.pytester.path / "pyproject.toml").read_text()
    text = text.replace(
        'delete_path = "/ingest/v1/files/{document_id}"',
        'delete_path = "/ingest/v1/tasks/{job_id}"',
    )
    (project.pytester.path / "pyproject.toml").write_text(text)
    project.tests(
        f"""
        def test_upload(upload_document):
            upload_document({small_pdf!r}).raise_for_outcome()
        """
    )
    result = project.run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "cleanup of synthetic documents: 1 failed",
            "  NOT deleted: document * (small.pdf), correlation ID *: *cannot delete that*",
        ]
    )
    (entry,) = evidence(result)["test_upload"].cleanup
    assert entry.result == "failed" and entry.http_status == 405
    assert entry.ok is False and entry.reason and "cannot delete that" in entry.reason
    alt.files.clear()


def test_record_baseline_refused_on_protected(project, alt, mode):
    project.alt(alt, extra_env="protected = true")
    project.tests(
        "import pytest\n\n@pytest.mark.nondestructive\ndef test_x(target):\n    raise AssertionError('ran')\n"
    )
    result = project.run("--record-baseline", *mode)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: *--record-baseline refused: target 'alt' is protected*"])
    # the only environment is protected: the hint says to add an unprotected one
    assert "add a [tool.deployverify.envs.NAME] table without protected = true" in (
        result.stderr.str()
    )
    assert "ran" not in result.stdout.str()
