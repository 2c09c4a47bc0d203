"""Is the parser webhook route there, and does it check signatures?

The origin system skipped verification whenever the signature header was missing. Here the
route must exist (401, not 404), reject an unsigned and a wrongly signed callback, and accept
one signed with the job's secret (``hex(HMAC-SHA256(master secret, job_id))``). The callbacks
are sent for a canary that is already complete, so an accepted one changes nothing
(``applied`` false).
"""

from __future__ import annotations

import json

import pytest
from smoke_support import SCHEMAS


@pytest.mark.canary
@pytest.mark.critical
def test_parser_webhook_requires_a_valid_signature(
    upload_document, canary_pdf, api, sign_webhook, json_schema, baseline, validate_run
):
    """unsigned -> 401 invalid_signature; wrong signature -> 401; correct -> 200 accepted."""
    run = validate_run(upload_document(canary_pdf("small.pdf")))
    run.raise_for_outcome()
    path = f"/api/v2/webhooks/llamaparse/{run.job_id}"
    body = json.dumps(
        {
            "job_id": "deployverify-smoke-probe",
            "status": "SUCCESS",
            "md": "# Page 1\n\nsmoke probe\n",
            "pages": 1,
            "parser": {"name": "llamaparse", "version": "probe"},
        },
        separators=(",", ":"),
    ).encode()
    json_headers = {"Content-Type": "application/json"}
    wrong = sign_webhook(run.job_id, body + b" ")  # a valid HMAC, of other bytes
    answers = {
        "unsigned": api.post(path, data=body, headers=json_headers),
        "wrong_signature": api.post(
            path, data=body, headers={**json_headers, "X-Webhook-Signature": wrong}
        ),
        "signed": api.post(
            path,
            data=body,
            headers={**json_headers, "X-Webhook-Signature": sign_webhook(run.job_id, body)},
        ),
    }
    observed = {
        case: {
            "status": r.status_code,
            "code": ((r.json() if r.content else {}).get("error") or {}).get("code"),
        }
        for case, r in answers.items()
    }
    rule = {
        "unsigned": {"status": 401, "code": "invalid_signature"},
        "wrong_signature": {"status": 401, "code": "invalid_signature"},
        "signed": {"status": 200, "code": None},
    }
    wrong_cases = {c: observed[c] for c in rule if observed[c] != rule[c]}
    assert not wrong_cases, (
        f"webhook signature not enforced as required: observed {wrong_cases}; rule: {rule} "
        f"(job {run.job_id}, correlation ID {run.correlation_id})"
    )
    for case in ("unsigned", "wrong_signature"):
        json_schema.validate(answers[case], schema=f"{SCHEMAS}/error.schema.json")
        echoed = answers[case].json()["error"]["correlation_id"]
        assert echoed == api.correlation_id, (
            f"the {case} callback's refusal names correlation ID {echoed!r}; rule: the "
            f"request's own ({api.correlation_id}), so a refusal can be traced (job {run.job_id})"
        )
    json_schema.validate(answers["signed"], schema=f"{SCHEMAS}/webhook.schema.json")
    applied = answers["signed"].json()["applied"]
    assert applied is False, (
        f"a signed callback for a job that is already complete was applied (applied="
        f"{applied!r}); rule: a late or repeated parser callback changes nothing (job "
        f"{run.job_id}, correlation ID {run.correlation_id})"
    )
    baseline.check("webhook_answers", observed)
