"""Does the deployment refuse bad input the way the baseline does? Same HTTP status, same error
code, same error shape (``{"error": {"code", "message", "correlation_id"}}``).

Each refused upload goes through ``upload_document`` anyway: if a broken deployment *accepts*
it, the document it created is still deleted at teardown.
"""

from __future__ import annotations

import uuid

import pytest
from smoke_support import FIXTURES, SCHEMAS


def error_observation(response, correlation_id: str) -> dict:
    """What must match the baseline about an error answer: status, code, the correlation ID
    being ours, and the auth challenge header (the message text may be reworded)."""
    try:
        body = response.json()
    except ValueError:
        body = {"not_json": response.text[:200]}
    error = body.get("error") if isinstance(body, dict) else None
    return {
        "status": response.status_code,
        "code": (error or {}).get("code"),
        "has_message": bool((error or {}).get("message")),
        "correlation_id_is_ours": (error or {}).get("correlation_id") == correlation_id,
        "www_authenticate": response.headers.get("WWW-Authenticate"),
    }


@pytest.mark.canary
@pytest.mark.parametrize(
    "case",
    ["not_pdf", "empty", "too_large"],
)
def test_bad_upload_is_refused_like_the_baseline(
    case, upload_document, tmp_path, upload_limit_bytes, correlation_id, json_schema, baseline
):
    """not a PDF -> 415 not_pdf; 0 bytes -> 400 empty_file; over the limit -> 413
    file_too_large (limit from ``upload_limit_bytes``, kept small on the local target)."""
    if case == "not_pdf":
        path = FIXTURES / "not-a-pdf.txt"
    elif case == "empty":
        path = FIXTURES / "empty.pdf"
    else:
        # one byte over the limit; a valid PDF header so only the size can be wrong
        path = tmp_path / "too-large.pdf"
        head = (FIXTURES / "small.pdf").read_bytes()
        path.write_bytes(head + b"%" * (upload_limit_bytes + 1 - len(head)))
    run = upload_document(path, expect_terminal=False)
    assert run.outcome == "rejected", (
        f"{case}: the upload was accepted (HTTP {run.upload_status_code}); rule: refused like "
        f"the baseline; {run.describe()}"
    )
    json_schema.validate(run.upload_response, schema=f"{SCHEMAS}/error.schema.json")
    error = (run.upload_response or {}).get("error") or {}
    baseline.check(
        "refusal",
        {
            "status": run.upload_status_code,
            "code": error.get("code"),
            "has_message": bool(error.get("message")),
            "correlation_id_is_ours": error.get("correlation_id") == correlation_id,
        },
    )


@pytest.mark.nondestructive
@pytest.mark.parametrize(
    "case",
    ["unauthenticated_upload", "unauthenticated_job", "wrong_token", "unknown_job"],
)
def test_bad_request_is_refused_like_the_baseline(case, api, correlation_id, json_schema, baseline):
    """No token / a wrong token -> 401 unauthorized with ``WWW-Authenticate: Bearer``;
    an unknown job -> 404 job_not_found. Nothing is created by any of them."""
    unknown = f"/api/v2/jobs/{uuid.uuid4()}"
    if case == "unauthenticated_upload":
        response = api.post(
            "/api/v2/upload",
            headers={"Authorization": None},
            files={"file": ("small.pdf", (FIXTURES / "small.pdf").read_bytes(), "application/pdf")},
        )
        if response.ok:  # a broken deployment accepted it: leave the target as it was
            api.delete(f"/api/v2/documents/{response.json().get('document_id')}")
    elif case == "unauthenticated_job":
        response = api.get(unknown, headers={"Authorization": None})
    elif case == "wrong_token":
        response = api.get(unknown, headers={"Authorization": "Bearer not-a-valid-token"})
    else:
        response = api.get(unknown)
    json_schema.validate(response, schema=f"{SCHEMAS}/error.schema.json")
    baseline.check("refusal", error_observation(response, correlation_id))
