"""A document goes in, the converted document comes out, the same as in the baseline."""

import pytest

OPTIONS = {"to_format": "md", "do_ocr": "false", "title": "Quarterly report"}


@pytest.mark.canary
def test_convert_to_markdown(upload_document, baseline, component_check, sample_pdf):
    run = upload_document(sample_pdf, form=OPTIONS)
    component_check(
        "converter",
        "pass" if run.ok else "fail",
        observed={"outcome": run.outcome, "final_status": run.final_status},
        rule="the conversion task reaches success",
        message=run.describe(),
    )
    # the whole run: outcome, final status, statuses (a sampled walk: see docs), the last
    # polled task and the result document
    baseline.check("run", run)
    run.raise_for_outcome()
    assert run.document["document"]["title"] == OPTIONS["title"]


@pytest.mark.canary
def test_convert_to_text(upload_document, baseline, sample_pdf):
    run = upload_document(sample_pdf, form={**OPTIONS, "to_format": "text"})
    run.raise_for_outcome()
    baseline.check("statuses", run.status_sequence)
    baseline.check("document", run.document["document"])
