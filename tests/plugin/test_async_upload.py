"""upload_document_async: N concurrent uploads with asyncio.gather."""

from __future__ import annotations


def test_concurrent_uploads(project, alt, small_pdf, evidence, mode):
    project.alt(alt)
    project.tests(
        f"""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_many(upload_document_async, correlation_id):
            runs = await asyncio.gather(
                *[upload_document_async({small_pdf!r}, metadata={{"i": i}}) for i in range(5)]
            )
            assert [r.outcome for r in runs] == ["complete"] * 5
            assert len({{r.document_id for r in runs}}) == 5
            assert {{r.correlation_id for r in runs}} == {{correlation_id}}
        """
    )
    result = project.run(*mode)
    result.assert_outcomes(passed=1)
    ev = evidence(result)["test_many"]
    assert len(ev.runs) == 5
    assert sorted(c.result for c in ev.cleanup) == ["deleted"] * 5
    assert not alt.files


def test_concurrent_outcomes_are_independent(project, alt, small_pdf):
    project.alt(alt)
    project.tests(
        f"""
        import asyncio
        import pytest

        @pytest.mark.asyncio
        async def test_mixed(upload_document_async):
            ok, broken = await asyncio.gather(
                upload_document_async({small_pdf!r}),
                upload_document_async({small_pdf!r}, metadata={{"behaviour": "fail"}}),
            )
            assert ok.outcome == "complete" and broken.outcome == "failed"
        """
    )
    project.run().assert_outcomes(passed=1)
