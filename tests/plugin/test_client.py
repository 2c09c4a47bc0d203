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
    from pytest_deployverify.config import Auth, Target
    from pytest_deployverify.profile import CorrelationConfig

    target = Target(
        name="alt",
        base_url=alt.url,
        auth=Auth("header", "X-Api-Key", "key"),
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


class _Recorder:
    """A loopback HTTP server that answers every GET 200 (echoing X-Correlation-ID) and
    records the request line's target: an absolute URL when it was used as a proxy."""

    def __init__(self) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.seen: list[str] = []
        seen = self.seen
        #: each request's Authorization header (None: none sent)
        self.auth: list[str | None] = []
        auth = self.auth
        #: each request's Cookie header (every answer sets one: ``visited=<path>``)
        self.cookies: list[str | None] = []
        cookies = self.cookies
        #: each request's connection (a number per connection accepted, in order)
        self.connections: list[int] = []
        connections = self.connections
        accepted = iter(range(1_000_000))

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection_number = next(accepted)

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                seen.append(self.path)
                auth.append(self.headers.get("Authorization"))
                cookies.append(self.headers.get("Cookie"))
                connections.append(self.connection_number)
                self.send_response(200)
                self.send_header("Set-Cookie", f"visited={self.path.strip('/')}; Path=/")
                self.send_header("Content-Length", "2")
                self.send_header("X-Correlation-ID", self.headers.get("X-Correlation-ID", ""))
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def recorders(monkeypatch):
    """A target server and a proxy server, with every proxy variable cleared from the env."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    target, proxy = _Recorder(), _Recorder()
    yield target, proxy
    target.close()
    proxy.close()


def _client(url: str):
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Target

    return ApiClient(Target(name="t", base_url=url))


def test_environment_proxy_is_honoured_though_resolved_once(recorders, monkeypatch):
    """The client reads proxies once (not per request) but still goes through them."""
    target, proxy = recorders
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    with _client(target.url) as client:
        assert client.session.trust_env is False  # the per-request env scan is off
        assert client.get("/a").status_code == 200
        assert client.get("/b").status_code == 200
    assert proxy.seen == [target.url + "/a", target.url + "/b"]
    assert target.seen == []
    assert [x.path for x in client.exchanges] == ["/a", "/b"]


def test_no_proxy_still_bypasses_the_proxy(recorders, monkeypatch):
    target, proxy = recorders
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with _client(target.url) as client:
        assert client.get("/a").status_code == 200
    assert target.seen == ["/a"] and proxy.seen == []


def test_ca_bundle_from_the_environment_is_kept(recorders, monkeypatch, tmp_path):
    """REQUESTS_CA_BUNDLE still replaces verify=True, as requests does with trust_env."""
    target, _ = recorders
    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    with _client(target.url) as client:
        assert client._env_verify == str(bundle)
    with _client(target.url) as client:
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
        assert client._env_verify == str(bundle)  # read once, when the client was made
    with _client(target.url) as client:
        assert client._env_verify is True


def test_netrc_credentials_never_replace_the_targets_own(recorders, monkeypatch, tmp_path):
    """A ~/.netrc entry for the target's host is used by a target without auth (as requests
    does), and never put over the target's bearer token (as requests would)."""
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Auth, Target

    target, _ = recorders
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login reader password pw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    with _client(target.url) as client:
        client.get("/a")
    own = Target(
        name="t", base_url=target.url, auth=Auth.parse("bearer:T"), secrets={"T": "tok-123456"}
    )
    with ApiClient(own) as client:
        client.get("/b")
    assert target.auth == ["Basic cmVhZGVyOnB3", "Bearer tok-123456"]  # reader:pw


def test_a_callers_session_is_left_alone(recorders):
    import requests

    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Target

    target, _ = recorders
    session = requests.Session()
    with ApiClient(Target(name="t", base_url=target.url), session=session) as client:
        assert client.get("/a").status_code == 200
    assert session.trust_env is True and session.proxies == {}


@pytest.mark.parametrize("shared", [True, False], ids=["one-pool", "a-pool-each"])
def test_clients_share_a_pool_not_cookies(recorders, shared):
    """Clients given one pool send their requests over its connections (one connection for
    three clients, one after the other), and closing a client leaves it open for the next;
    each client still has its own session: a cookie one was given is not sent by the next.
    Without a shared pool every client opens a connection of its own."""
    from requests.adapters import HTTPAdapter

    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Target

    target, _ = recorders
    pool = HTTPAdapter() if shared else None
    try:
        for name in ("one", "two", "three"):
            with ApiClient(Target(name="t", base_url=target.url), pool=pool) as client:
                assert client.get(f"/{name}").status_code == 200
                assert client.get(f"/{name}-again").status_code == 200
    finally:
        if pool is not None:
            pool.close()
    assert target.seen == ["/one", "/one-again", "/two", "/two-again", "/three", "/three-again"]
    assert target.cookies == [None, "visited=one", None, "visited=two", None, "visited=three"]
    assert len(set(target.connections)) == (1 if shared else 3)


def test_exchange_fields_and_traceparent_per_request(recorders):
    """Every exchange keeps its fields and the ISO start time form; each request has its own
    valid traceparent span under the one trace id."""
    import re
    from datetime import datetime, timezone

    target, _ = recorders
    before = datetime.now(timezone.utc).replace(microsecond=0)
    with _client(target.url) as client:
        spans = set()
        for _ in range(3):
            response = client.get("/a")
            tp = response.request.headers["traceparent"]
            assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", tp)
            assert tp.split("-")[1] == client.correlation_id.replace("-", "")
            spans.add(tp.split("-")[2])
            assert response.request.headers["X-Correlation-ID"] == client.correlation_id
        assert len(spans) == 3
    assert client.findings == []  # the echo check ran and passed
    for x in client.exchanges:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", x.started_at)
        started = datetime.strptime(x.started_at, "%Y-%m-%dT%H:%M:%S.%fZ")
        assert started.replace(tzinfo=timezone.utc) >= before
        assert (x.method, x.path, x.status, x.response_bytes) == ("GET", "/a", 200, 2)
        assert x.latency_ms > 0 and x.correlation_id == client.correlation_id


def test_iso_matches_datetime_formatting():
    """The cached-second formatter gives exactly datetime's form, across second changes."""
    from datetime import datetime, timezone

    client = _client("http://127.0.0.1:9")
    for ns in (0, 999_999_999, 1_000_000_000, 1_700_000_000_123_456_789, 1_700_000_001_000_000):
        expected = datetime.fromtimestamp(ns // 1000 / 1e6, timezone.utc)
        assert client._iso(ns) == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
