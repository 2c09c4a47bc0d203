"""Bad uploads get the documented errors, and rate limits answer 429 with Retry-After.

One deployment for the module with a small upload limit and low rate limits; each test uses
its own user so the per-user upload limit only fires where a test wants it to.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests
from docservice_support import FIXTURES, HTTP_TIMEOUT, Deployment, launch

MAX_BYTES = 20_000  # small.pdf and medium.pdf fit, large.pdf (49 KB) does not
UPLOADS_PER_MIN = 4
POLLS_PER_S = 5


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A deployment with a 20 KB upload limit and low upload/poll rate limits."""
    env = {
        "DOCSERVICE_MAX_UPLOAD_BYTES": str(MAX_BYTES),
        "DOCSERVICE_RATE_UPLOADS_PER_MIN": str(UPLOADS_PER_MIN),
        "DOCSERVICE_RATE_POLLS_PER_S": str(POLLS_PER_S),
    }
    with launch(tmp_path_factory.mktemp("limited"), env=env) as dep:
        yield dep


def assert_error(resp: requests.Response, status: int, code: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "correlation_id"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert body["error"]["correlation_id"] == resp.headers["X-Correlation-ID"]


def test_not_a_pdf_is_415(limited: Deployment) -> None:
    assert_error(limited.upload(FIXTURES / "not-a-pdf.txt", user="alice"), 415, "not_pdf")


def test_empty_file_is_400(limited: Deployment) -> None:
    assert_error(limited.upload(FIXTURES / "empty.pdf", user="bob"), 400, "empty_file")


def test_too_large_is_413_and_limit_is_exact(limited: Deployment) -> None:
    assert (FIXTURES / "large.pdf").stat().st_size > MAX_BYTES
    assert_error(limited.upload(FIXTURES / "large.pdf", user="carol"), 413, "file_too_large")
    at_limit = b"%PDF-1.4\n" + b"0" * (MAX_BYTES - 9)
    resp = limited.upload(at_limit, filename="exact.pdf", user="carol")
    assert resp.status_code == 202, resp.text  # accepted (its parse fails later: not a real PDF)
    assert_error(
        limited.upload(at_limit + b"0", filename="over.pdf", user="carol"), 413, "file_too_large"
    )
    # The failure path: the parser refuses the fake PDF -> failed_parse with last_error.
    events = limited.wait(resp.json()["job_id"], "carol")
    assert [e["status"] for e in events] == ["uploaded", "failed_parse"]
    job = limited.get(f"/api/v2/jobs/{resp.json()['job_id']}", "carol").json()
    assert job["status"] == "failed_parse"
    assert job["last_error"]["code"].startswith("parser_http_4")
    assert set(job["last_error"]) == {"code", "message", "at"}


def test_invalid_filename_is_400(limited: Deployment) -> None:
    pdf = (FIXTURES / "small.pdf").read_bytes()
    assert_error(
        limited.upload(pdf, filename="x" * 121 + ".pdf", user="dave"), 400, "invalid_filename"
    )
    assert_error(
        limited.upload(pdf, filename="bad\x01name.pdf", user="dave"), 400, "invalid_filename"
    )


def test_missing_file_field_is_400(limited: Deployment) -> None:
    resp = requests.post(
        f"{limited.api}/api/v2/upload",
        data={"metadata": "{}"},
        headers={"Authorization": "Bearer tok-erin"},
        timeout=HTTP_TIMEOUT,
    )
    assert_error(resp, 400, "invalid_request")


def test_no_or_wrong_auth_is_401(limited: Deployment) -> None:
    resp = limited.upload(FIXTURES / "small.pdf", user=None)
    assert_error(resp, 401, "unauthorized")
    assert resp.headers["WWW-Authenticate"] == "Bearer"
    wrong = limited.upload(FIXTURES / "small.pdf", user=None, headers={"Authorization": "Bearer x"})
    assert_error(wrong, 401, "unauthorized")
    basic = limited.upload(
        FIXTURES / "small.pdf", user=None, headers={"Authorization": "Basic eDp5"}
    )
    assert_error(basic, 401, "unauthorized")


def test_valid_upload_with_metadata_is_202(limited: Deployment) -> None:
    resp = limited.http.post(
        f"{limited.api}/api/v2/upload",
        files={"file": ("small.pdf", (FIXTURES / "small.pdf").read_bytes(), "application/pdf")},
        data={"metadata": '{"source": "test"}'},
        headers={"Authorization": "Bearer tok-frank"},
        timeout=HTTP_TIMEOUT,
    )
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "uploaded" and body["duplicate"] is False
    assert body["correlation_id"] == resp.headers["X-Correlation-ID"]
    bad_meta = limited.http.post(
        f"{limited.api}/api/v2/upload",
        files={"file": ("medium.pdf", (FIXTURES / "medium.pdf").read_bytes(), "application/pdf")},
        data={"metadata": "{not json"},
        headers={"Authorization": "Bearer tok-frank"},
        timeout=HTTP_TIMEOUT,
    )
    assert_error(bad_meta, 400, "invalid_metadata")


def test_upload_rate_limit_is_429_with_retry_after(limited: Deployment) -> None:
    pdf = (FIXTURES / "small.pdf").read_bytes()
    codes = [
        limited.upload(pdf, filename="r.pdf", user="rate").status_code
        for _ in range(UPLOADS_PER_MIN)
    ]
    assert codes[0] == 202 and set(codes[1:]) == {200}  # duplicates still count
    limited_resp = limited.upload(pdf, filename="r.pdf", user="rate")
    assert_error(limited_resp, 429, "rate_limited")
    assert 1 <= int(limited_resp.headers["Retry-After"]) <= 60
    # Another user is not affected.
    assert limited.upload(pdf, filename="r.pdf", user="grace").status_code == 202


def test_poll_rate_limit_is_429_with_retry_after(limited: Deployment) -> None:
    job_id = limited.upload(FIXTURES / "medium.pdf", user="heidi").json()["job_id"]
    time.sleep(1.05)  # a fresh window for this job
    codes = [
        limited.get(f"/api/v2/jobs/{job_id}", "heidi").status_code for _ in range(POLLS_PER_S + 3)
    ]
    assert codes[:POLLS_PER_S] == [200] * POLLS_PER_S
    assert 429 in codes[POLLS_PER_S:]
    resp = limited.get(f"/api/v2/jobs/{job_id}", "heidi")
    if resp.status_code == 429:
        assert_error(resp, 429, "rate_limited")
        assert resp.headers["Retry-After"] == "1"
    time.sleep(1.05)
    assert limited.get(f"/api/v2/jobs/{job_id}", "heidi").status_code == 200
