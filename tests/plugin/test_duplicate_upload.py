"""A duplicate upload whose job is already terminal still gets its document (issue 12)."""

from __future__ import annotations


def test_duplicate_of_a_completed_upload_has_its_document(
    project, docservice, monkeypatch, small_pdf
):
    project.docservice(docservice, monkeypatch)
    project.tests(
        f"""
        def test_duplicate(upload_document):
            first = upload_document({small_pdf!r})
            first.raise_for_outcome()  # the original's job is terminal before the duplicate
            second = upload_document({small_pdf!r})
            assert second.duplicate and not first.duplicate
            assert second.document_id == first.document_id
            assert second.outcome == "complete", second.describe()
            assert second.document is not None, second.describe()
            assert second.document["document_id"] == first.document_id
        """
    )
    project.run().assert_outcomes(passed=1)


def test_duplicate_whose_original_is_deleted_under_it_uploads_again(
    project, docservice, monkeypatch, small_pdf
):
    """The flake of test_launch under xdist: test A created the document, test B's upload of
    the same bytes was a duplicate, and A's clean-up deleted the document before B fetched it
    (B's run.document was None). Forced here: the original is deleted right after the
    duplicate is accepted, as A's teardown would."""
    project.docservice(docservice, monkeypatch)
    project.tests(
        f"""
        from pytest_deployverify import pipeline

        def test_duplicate(upload_document, api, monkeypatch):
            first = upload_document({small_pdf!r}, cleanup=False)
            first.raise_for_outcome()
            original = pipeline.PipelineFollower._collect_outputs
            deleted = []

            def owner_cleans_up_first(self, client, run):
                if run.duplicate and not deleted:
                    deleted.append(api.delete(f"/api/v2/documents/{{run.document_id}}").status_code)
                original(self, client, run)

            monkeypatch.setattr(pipeline.PipelineFollower, "_collect_outputs", owner_cleans_up_first)
            second = upload_document({small_pdf!r})
            assert deleted == [204], (first.duplicate, second.duplicate, second.describe())
            assert not second.duplicate, second.describe()  # uploaded again, its own copy
            assert second.outcome == "complete", second.describe()
            assert second.document is not None, second.describe()
            assert second.document["document_id"] == second.document_id
        """
    )
    # a process of its own: the patched class must be the one the plugin instantiates
    project.pytester.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)
