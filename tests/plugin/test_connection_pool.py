"""The ``api`` clients of a session share one connection pool per process: over HTTPS a test
reuses the connection the tests before it opened (no handshake and CA bundle load per test),
while cookies stay with the test that was given them. Driven through pytester, serially and
with ``-n 2``, against a loopback HTTPS server that counts its connections."""

from __future__ import annotations

import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from plugin_support import self_signed_certificate


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    connection: int
    cookie: str | None


@dataclass
class TlsServer:
    url: str
    ca_bundle: Path
    #: whether the server closes each connection after its answer
    drops: bool = False
    requests: list[Seen] = field(default_factory=list)

    def of_tests(self) -> list[Seen]:
        """The requests the inner tests made (not the plugin's health and version reads)."""
        return [r for r in self.requests if r.path.startswith("/test-")]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture(params=["keeps", "drops"])
def tls_server(
    certificate: tuple[Path, Path], request: pytest.FixtureRequest
) -> Iterator[TlsServer]:
    """An HTTPS server on loopback answering every GET 200, each answer setting a cookie; it
    keeps its connections open, or ("drops") closes each one after its answer without
    saying so, as a server does with a connection idle past its keep-alive timeout."""
    drops = request.param == "drops"
    server_state = TlsServer(url="", ca_bundle=certificate[0], drops=drops)
    seen = server_state.requests
    accepted = iter(range(1_000_000))
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            super().setup()
            with lock:
                self.number = next(accepted)

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            with lock:
                seen.append(Seen(path, self.number, self.headers.get("Cookie")))
            body = b'{"version": "1"}' if path == "/version" else b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Set-Cookie", f"visited={path.strip('/')}; Path=/")
            # answering the test's correlation header as the plugin's echo check expects
            self.send_header("X-Correlation-ID", self.headers.get("X-Correlation-ID", ""))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = drops

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*certificate)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server_state.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server_state
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


def _project(project, server: TlsServer) -> None:
    project.pyproject(
        f"""
        [tool.deployverify]
        default_env = "tls"

        [tool.deployverify.envs.tls]
        base_url = "{server.url}"
        ca_bundle = "{server.ca_bundle}"
        """
    )
    project.tests(
        """
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_get(api, n):
            assert api.get(f"/test-{n}").status_code == 200
            assert api.get(f"/test-{n}-again").status_code == 200
        """
    )


def test_tests_reuse_connections_not_cookies(project, tls_server, mode, monkeypatch):
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "HTTPS_PROXY", "https_proxy"):
        monkeypatch.delenv(name, raising=False)
    _project(project, tls_server)
    result = project.run(*mode)
    result.assert_outcomes(passed=6)
    seen = tls_server.of_tests()
    assert sorted(r.path for r in seen) == sorted(
        p for n in range(6) for p in (f"/test-{n}", f"/test-{n}-again")
    )
    if tls_server.drops:
        # a connection the server closed is not reused: every request opened its own
        assert len({r.connection for r in seen}) == 12
    else:
        # six tests over one connection per process (two under -n 2), not one each
        assert len({r.connection for r in seen}) <= (2 if mode else 1)
    # each test's first request carries no cookie of the tests before it; its second carries
    # the one it was given itself
    for r in seen:
        expected = None if not r.path.endswith("-again") else f"visited={r.path[1:-6]}"
        assert r.cookie == expected, r
