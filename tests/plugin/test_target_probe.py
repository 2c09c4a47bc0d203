"""The target probe and the version read at session start (``target_probe``): one GET over the
standard library that must see the target as the tests' requests client does (timeouts,
proxies, TLS verification, redirects, credentials), against real loopback servers."""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from plugin_support import self_signed_certificate

from pytest_deployverify.config import Auth, Target
from pytest_deployverify.failfast import Breaker
from pytest_deployverify.target_probe import VERSION_LIMIT, _tls_context, fetch_version, probe


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No proxy, CA bundle or netrc of the machine's may decide a test's outcome."""
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))


class Server:
    """A loopback HTTP(S) server: ``routes`` maps a path to (status, headers, body); every
    request's target and headers are recorded (an absolute URL when used as a proxy)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server.seen.append((self.path, dict(self.headers)))
                path = self.path.split("://", 1)[-1].partition("/")[2]
                status, headers, body = server.routes.get("/" + path, (200, {}, b"{}"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def paths(self) -> list[str]:
        return [path for path, _ in self.seen]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def start(tls: ssl.SSLContext | None = None) -> Server:
        servers.append(Server(tls))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def _target(url: str, **kwargs: object) -> Target:
    return Target(name="t", base_url=url, connect_timeout=2.0, read_timeout=2.0, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------- answers


@pytest.mark.parametrize("status", [200, 404, 503])
def test_any_http_status_is_an_answer(serve: Callable[..., Server], status: int) -> None:
    server = serve()
    server.routes["/health"] = (status, {}, b"degraded")
    assert probe(_target(server.url), timeout=5) is None
    assert server.paths == ["/health"]


def test_a_redirect_is_an_answer_and_is_not_followed(serve: Callable[..., Server]) -> None:
    server, elsewhere = serve(), serve()
    server.routes["/health"] = (302, {"Location": elsewhere.url + "/login"}, b"")
    assert probe(_target(server.url), timeout=5) is None
    assert server.paths == ["/health"] and elsewhere.paths == []


def test_a_refused_connection_names_its_reason() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    assert probe(_target(f"http://127.0.0.1:{port}"), timeout=0.3) == (
        "ConnectionError: Connection refused"
    )


def test_a_dropped_connection_is_retried_until_it_answers() -> None:
    """A target that closes the first connections without a response (still starting) is
    asked again: the probe passes once it answers, and it was asked three times."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted = []

    def serve_third() -> None:
        for _ in range(3):
            conn, _ = listener.accept()
            accepted.append(conn)
            conn.recv(65536)
            if len(accepted) < 3:
                conn.close()
            else:
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")

    thread = threading.Thread(target=serve_third, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        assert probe(_target(url), timeout=60) is None
        thread.join(5)
        assert len(accepted) == 3
    finally:
        for conn in accepted:
            conn.close()
        listener.close()


def test_a_silent_target_times_out_within_the_probe_timeout() -> None:
    """Connected but never answered: the reads time out, and the probe gives up at its own
    timeout (bounded: nothing can hang a release pipeline)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)  # never accepted: connects succeed, nothing is ever read
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"
        target = Target(name="t", base_url=url, connect_timeout=2.0, read_timeout=0.2)
        started = time.monotonic()
        assert probe(target, timeout=1.0) == "Timeout: timed out"
        assert time.monotonic() - started < 30  # a bound, not a performance figure


# ---------------------------------------------------------------- proxies


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "ALL_PROXY"])
def test_the_environment_proxy_is_used(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    """The scheme's own proxy, or ``ALL_PROXY`` for a scheme without one (as requests)."""
    server, proxy = serve(), serve()
    monkeypatch.setenv(variable, proxy.url)
    assert probe(_target(server.url), timeout=5) is None
    assert proxy.paths == [server.url + "/health"] and server.paths == []


def test_no_proxy_bypasses_the_proxy(
    serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    server, proxy = serve(), serve()
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    assert probe(_target(server.url), timeout=5) is None
    assert server.paths == ["/health"] and proxy.paths == []


# ---------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (the openssl command line)."""
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_server(serve: Callable[..., Server], certificate: tuple[Path, Path]) -> Server:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    return serve(context)


def test_an_untrusted_certificate_is_a_tls_error(tls_server: Server) -> None:
    reason = probe(_target(tls_server.url), timeout=5)
    assert reason is not None and reason.startswith("TLS error: ")
    assert "CERTIFICATE_VERIFY_FAILED" in reason
    assert tls_server.paths == []


def test_the_ca_bundle_is_trusted(tls_server: Server, certificate: tuple[Path, Path]) -> None:
    assert probe(_target(tls_server.url, verify=str(certificate[0])), timeout=5) is None
    assert tls_server.paths == ["/health"]


def test_verify_tls_false_checks_no_certificate(tls_server: Server) -> None:
    assert probe(_target(tls_server.url, verify=False), timeout=5) is None
    assert tls_server.paths == ["/health"]
    # and loads no trust store to check nothing with
    context = _tls_context(False)
    assert context.verify_mode == ssl.CERT_NONE and not context.check_hostname
    assert context.cert_store_stats()["x509"] == 0


def test_one_loaded_bundle_serves_the_probe_and_the_version_read(
    tls_server: Server, certificate: tuple[Path, Path], tmp_path: Path, monkeypatch
) -> None:
    """Loading a CA bundle costs more than the GETs: the same bundle, unchanged, gives the
    same context (also when it comes from REQUESTS_CA_BUNDLE); a changed one is loaded anew."""
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(certificate[0].read_bytes())
    first = _tls_context(str(bundle))
    assert _tls_context(str(bundle)) is first
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    assert _tls_context(True) is first
    tls_server.routes["/version"] = (200, {}, b'{"version": "7"}')
    target = _target(tls_server.url)
    assert probe(target, timeout=5) is None
    assert fetch_version(target, timeout=5) == {"version": "7"}
    assert _tls_context(True) is first
    bundle.write_bytes(certificate[0].read_bytes() + b"\n")  # changed: read again
    changed = _tls_context(str(bundle))
    assert changed is not first and changed.cert_store_stats()["x509"] == 1


def test_the_environment_ca_bundle_replaces_the_default(
    tls_server: Server, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate[0]))
    assert probe(_target(tls_server.url), timeout=5) is None


def test_an_unreadable_environment_ca_bundle_is_a_tls_error(
    tls_server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURL_CA_BUNDLE", str(tmp_path / "missing.pem"))
    reason = probe(_target(tls_server.url), timeout=5)
    assert reason is not None and reason.startswith("TLS error: cannot read the CA bundle")


# ---------------------------------------------------------------- the version document


class _Told(Breaker):
    """A fail-fast breaker that lists what it was told."""

    def __init__(self) -> None:
        super().__init__(enabled=True, errors=3, directory=None)
        self.told: list[str] = []

    def answered(self) -> None:
        self.told.append("answered")
        super().answered()

    def request_failed(self, *args: Any, **kwargs: Any) -> None:
        self.told.append(f"failed: {args[2]}")
        super().request_failed(*args, **kwargs)


def _versioned(server: Server, status: int, body: bytes) -> Target:
    server.routes["/version"] = (status, {"Content-Type": "application/json"}, body)
    return _target(server.url)


def test_the_version_document_is_read_with_the_targets_credentials_and_redacted(
    serve: Callable[..., Server],
) -> None:
    server = serve()
    server.routes["/version"] = (
        200,
        {},
        json.dumps({"version": "1.2", "key": "s3cr3t-v"}).encode(),
    )
    target = _target(server.url, auth=Auth.parse("bearer:TOKEN"), secrets={"TOKEN": "s3cr3t-v"})
    breaker = _Told()
    assert fetch_version(target, timeout=5, breaker=breaker) == {
        "version": "1.2",
        "key": "[REDACTED]",
    }
    assert server.seen[0][1]["Authorization"] == "Bearer s3cr3t-v"
    assert breaker.told == ["answered"]


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (404, b'{"detail": "not found"}'),
        (200, b"<html>not json</html>"),
        (200, b'["a list"]'),
        (200, b"\xff\xfe not utf-8"),
        (200, b'{"padding": "' + b"x" * VERSION_LIMIT + b'"}'),
    ],
    ids=["404", "html", "list", "bytes", "too-long"],
)
def test_anything_but_a_json_object_is_no_version(
    serve: Callable[..., Server], status: int, body: bytes
) -> None:
    assert fetch_version(_versioned(serve(), status, body), timeout=5) is None


def test_netrc_credentials_are_sent_when_the_target_has_no_auth_header(
    serve: Callable[..., Server], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve()
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login reader password pw\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    assert fetch_version(_versioned(server, 200, b'{"v": 1}'), timeout=5) == {"v": 1}
    assert server.seen[-1][1]["Authorization"] == "Basic cmVhZGVyOnB3"  # reader:pw
    own = _target(server.url, auth=Auth.parse("bearer:T"), secrets={"T": "tok"})
    fetch_version(own, timeout=5)
    assert server.seen[-1][1]["Authorization"] == "Bearer tok"


def test_a_version_path_that_gets_no_answer_counts_for_fail_fast() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    breaker = _Told()
    assert fetch_version(_target(f"http://127.0.0.1:{port}"), timeout=1, breaker=breaker) is None
    assert breaker.told == [
        "failed: GET /version at session start: ConnectionError: Connection refused"
    ]


def test_no_version_path_asks_nothing(serve: Callable[..., Server]) -> None:
    server = serve()
    assert fetch_version(_target(server.url, version_path=""), timeout=5) is None
    assert server.paths == []
