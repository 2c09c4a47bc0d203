"""The API answers and reports itself healthy."""

import pytest


@pytest.mark.nondestructive
def test_health(api, component_check):
    response = api.get("/health")
    healthy = response.status_code == 200 and response.json().get("status") == "ok"
    component_check(
        "api",
        "pass" if healthy else "fail",
        observed={"status": response.status_code, "body": response.json()},
        rule="GET /health answers 200 with status ok",
    )
    assert healthy, f"/health answered {response.status_code}: {response.text[:200]}"
