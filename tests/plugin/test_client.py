"""The api fixture / ApiClient: joining, auth, timeouts, retries, exchanges, redaction."""

from __future__ import annotations

import pytest


def test_joining_auth_and_exchanges(project, alt, alt_key, evidence, mode):
    project.alt(alt)
    project.tests(
        """
        import pytest
        from pytest_deployverify.client import ForeignURLError

        def test_client(api, target, correlation_id):
            assert api.base_url == target.base_url
            assert api.url("ingest/v1/files/x") == target.base_url + "/ingest/v1/files/x"
            assert api.url(target.base_url + "/healthz") == target.base_url + "/healthz"
            with pytest.raises(ForeignURLError, match="only talks to its target"):
                api.get("http://example.invalid/steal")
            r = api.get("/ingest/v1/files/missing", params={"token": "tok-abcdef-123", "page": 2})
            assert r.status_code == 404
            assert api.exchanges[-1].status == 404
        """
    )
    result = project.run(*mode)
    result.assert_outcomes(passed=1)
    ev = evidence(result)["test_client"]
    (exchange,) = ev.exchanges
    assert exchange.method == "GET" and exchange.status == 404
    assert exchange.path == "/ingest/v1/files/missing?token=[REDACTED]&page=2"
    assert exchange.correlation_id == ev.correlation_ids[0]
    assert exchange.latency_ms > 0 and exchange.response_bytes > 0
    # the key went to the server, never into the evidence
    (req,) = [r for r in alt.requests if r["path"].startswith("/ingest/v1/files/missing")]
    assert req["headers"]["X-Api-Key"] == alt_key
    assert alt_key not in ev.to_json()


def test_503_with_retry_after_is_retried_for_get(project, alt, evidence):
    project.alt(alt)
    alt.knobs["fail_next"] = 2
    project.tests(
        """
        def test_retry(api):
            r = api.get("/ingest/v1/files/none")
            assert r.status_code == 404
            assert [x.status for x in api.exchanges] == [503, 503, 404]
            assert [x.attempt for x in api.exchanges] == [1, 2, 3]
        """
    )
    project.run().assert_outcomes(passed=1)


def test_retries_are_bounded(project, alt):
    project.alt(alt)
    alt.knobs["fail_next"] = 50
    project.tests(
        """
        def test_bounded(api):
            r = api.get("/ingest/v1/files/none")
            assert r.status_code == 503
            assert len(api.exchanges) == 4  # 1 + max_retries (3)
        """
    )
    project.run().assert_outcomes(passed=1)


def test_retry_false_and_post_503_are_not_retried(project, alt):
    project.alt(alt)
    alt.knobs["fail_next"] = 2
    project.tests(
        """
        def test_no_retry(api):
            assert api.get("/ingest/v1/files/none", retry=False).status_code == 503
            # a POST is not idempotent: a 503 is its answer
            assert api.post("/ingest/v1/files", data=b"x", check_echo=False).status_code == 503
        """
    )
    project.run().assert_outcomes(passed=1)


def test_connection_errors_retry_then_raise_redacted(project, alt):
    project.alt(alt)
    project.tests(
        """
        import pytest, requests
        from pytest_deployverify.client import ApiClient

        def test_refused(target):
            import dataclasses, socket
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
            dead = dataclasses.replace(target, base_url=f"http://127.0.0.1:{port}")
            client = ApiClient(dead)
            with pytest.raises(requests.ConnectionError) as info:
                client.get("/x", params={"token": "tok-secret-999"})
            assert "tok-secret-999" not in str(info.value)
            assert [x.status for x in client.exchanges] == [None] * 4
            assert all(x.error for x in client.exchanges)
            # a POST is never re-sent after a connection error
            client.exchanges.clear()
            with pytest.raises(requests.ConnectionError):
                client.post("/x")
            assert len(client.exchanges) == 1
        """
    )
    project.run().assert_outcomes(passed=1)


def test_timeouts_come_from_the_target(project, alt):
    project.alt(alt, extra_env="connect_timeout = 1.5\nread_timeout = 0.2")
    alt.knobs["delay"] = 1.0
    project.tests(
        """
        import pytest, requests

        def test_timeout(api, target):
            assert target.timeout == (1.5, 0.2)
            with pytest.raises(requests.Timeout):
                api.post("/ingest/v1/files", data=b"x" * 10)
        """
    )
    project.run().assert_outcomes(passed=1)


def test_client_outside_a_test(alt, alt_key):
    """ApiClient needs no test item: the rollback re-check uses it at session end."""
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import CorrelationConfig, Target

    target = Target(
        name="alt",
        base_url=alt.url,
        auth="header:X-Api-Key:key",
        secrets={"key": alt_key},
        correlation=CorrelationConfig(header="X-Request-ID"),
    )
    with ApiClient(target) as client:
        assert client.get("/ingest/v1/files/none").status_code == 404
    assert client.exchanges[0].status == 404
    assert client.findings == []
    assert alt_key not in repr(target)


@pytest.mark.parametrize("value", ["2", "Wed, 21 Oct 2015 07:28:00 GMT", "", "soon"])
def test_retry_after_parsing(value):
    from pytest_deployverify.client import parse_retry_after

    parsed = parse_retry_after(value)
    expected = {"2": 2.0, "Wed, 21 Oct 2015 07:28:00 GMT": 0.0, "": None, "soon": None}[value]
    assert parsed == expected
