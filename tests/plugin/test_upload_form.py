"""upload_document(path, *, form={...}, metadata=..., filename=..., content_type=...), and
its async twin: options sent as separate form fields, as services take them."""

from __future__ import annotations

import shutil

from plugin_support import CONVERSION_EXAMPLE


def _conversion_project(pytester) -> None:
    shutil.copy(CONVERSION_EXAMPLE / "pyproject.toml", pytester.path / "pyproject.toml")


FORM = """
import asyncio
import pytest

def test_form_fields(upload_document):
    run = upload_document({pdf!r}, form={{"to_format": "text", "do_ocr": "true", "title": "T"}},
                          filename="renamed.pdf", content_type="application/pdf")
    run.raise_for_outcome()
    doc = run.document["document"]
    assert doc["format"] == "text" and doc["ocr"] is True and doc["title"] == "T"
    assert doc["filename"] == "renamed.pdf" and run.filename == "renamed.pdf"

@pytest.mark.asyncio
async def test_async_twin_takes_the_same(upload_document_async):
    a, b = await asyncio.gather(
        upload_document_async({pdf!r}, form={{"to_format": "md", "title": "A"}}),
        upload_document_async({pdf!r}, form={{"to_format": "text"}}, filename="b.pdf"),
    )
    assert a.document["document"]["title"] == "A" and a.document["document"]["format"] == "md"
    assert b.document["document"]["format"] == "text" and b.filename == "b.pdf"

def test_a_bad_option_is_the_service_s_answer(upload_document):
    run = upload_document({pdf!r}, form={{"to_format": "docx"}})
    assert run.outcome == "rejected" and run.upload_status_code == 422

def test_metadata_needs_a_metadata_field(upload_document):
    with pytest.raises(ValueError, match="declares no metadata field"):
        upload_document({pdf!r}, metadata={{"a": 1}})

def test_the_file_field_is_not_a_form_field(upload_document):
    with pytest.raises(ValueError, match="'files' is the file's own field"):
        upload_document({pdf!r}, form={{"files": "x"}})
"""


def test_form_fields_reach_the_service(pytester, conv, small_pdf, mode):
    _conversion_project(pytester)
    pytester.makepyfile(test_form=FORM.format(pdf=small_pdf))
    result = pytester.runpytest("-p", "no:cacheprovider", *mode)
    result.assert_outcomes(passed=5)
    options = sorted(t.options.get("to_format", "") for t in conv.tasks.values())
    assert options == ["md", "text", "text"]


METADATA_AND_FORM = """
import pytest

def test_both(upload_document):
    run = upload_document({pdf!r}, metadata={{"purpose": "smoke"}}, form={{"priority": "high"}})
    run.raise_for_outcome()

def test_metadata_twice(upload_document):
    with pytest.raises(ValueError, match="both metadata= and form"):
        upload_document({pdf!r}, metadata={{"a": 1}}, form={{"meta": "{{}}"}})
"""


def test_metadata_and_form_together_against_alt(project, alt, small_pdf):
    project.alt(alt)
    project.tests(METADATA_AND_FORM.format(pdf=small_pdf))
    project.run().assert_outcomes(passed=2)
