"""Cost per test of the ``api`` client over HTTPS: one connection pool shared by the session's
tests against a client with a pool of its own per test (the ``api`` fixture before it shared
one), in the same run.

One command, from the repository root::

    .venv/bin/python benchmarks/connection_pool.py [--sizes 20 100] [--repeat 3]

An HTTPS server on loopback (its own process, a certificate made by ``openssl``) answers every
GET. The CA bundle the tests verify it with is certifi's bundle plus that certificate: the
size of what ``verify = true`` loads. Two generated projects with the plugin active, each test
making one GET:

* ``shared pool``: ``def test_i(api): api.get(...)`` (the fixture's client, whose
  connections come from the session's pool);
* ``pool per test``: ``with ApiClient(target) as client: client.get(...)`` (the same client
  class, given no pool: a new session, a new connection, a TLS handshake and a CA bundle load
  per test).

Each figure is one ``python -m pytest`` run's CPU seconds (user + system) and wall seconds,
the median of ``--repeat`` interleaved rounds after a warm-up round; the growth per added test
between the sizes is the cost per test.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYTHON = sys.executable
#: the self-tests' helpers (``plugin_support``: the certificate)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "plugin"))

SERVER = r"""
import socket, ssl, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_GET(self):
        body = b'{"version": "bench-1"}' if self.path == "/version" else b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Correlation-ID", self.headers.get("X-Correlation-ID", ""))
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = context.wrap_socket(srv.socket, server_side=True)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""

PYPROJECT = """
[tool.pytest.ini_options]
asyncio_default_fixture_loop_scope = "function"

[tool.deployverify.envs.bench]
base_url = "{url}"
ca_bundle = "{bundle}"
"""

TESTS = {
    "shared pool": "def test_{i}(api):\n    assert api.get('/item/{i}').status_code == 200\n",
    "pool per test": (
        "def test_{i}(target):\n"
        "    with ApiClient(target) as client:\n"
        "        assert client.get('/item/{i}').status_code == 200\n"
    ),
}
HEADER = {"shared pool": "", "pool per test": "from pytest_deployverify.client import ApiClient\n"}


def certificate(folder: Path) -> tuple[Path, Path, Path]:
    """A self-signed certificate for 127.0.0.1 (made as the self-tests make theirs), its key,
    and certifi's bundle plus it."""
    import certifi
    from plugin_support import self_signed_certificate

    if shutil.which("openssl") is None:
        raise SystemExit("the openssl command is needed to make the server's certificate")
    cert, key = self_signed_certificate(folder)
    bundle = folder / "bundle.pem"
    bundle.write_bytes(Path(certifi.where()).read_bytes() + cert.read_bytes())
    return cert, key, bundle


def make_project(root: Path, kind: str, n: int, url: str, bundle: Path) -> Path:
    project = root / f"{kind.replace(' ', '-')}-{n}"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT.format(url=url, bundle=bundle))
    body = "".join(TESTS[kind].format(i=i) for i in range(n))
    (project / "tests" / "test_pool.py").write_text(HEADER[kind] + body)
    return project


def run(project: Path) -> tuple[float, float]:
    """One pytest run: (CPU seconds, wall seconds)."""
    cmd = [PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"]
    cmd += ["-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio"]
    cmd += ["-p", "no:syrupy", "--target-env", "bench"]
    env = {k: v for k, v in os.environ.items() if k not in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=project, capture_output=True, text=True, timeout=600, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{cmd} in {project} failed:\n{done.stdout[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs=2, default=[20, 100])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dv-pool-") as tmp:
        root = Path(tmp)
        cert, key, bundle = certificate(root)
        server = subprocess.Popen(
            [PYTHON, "-c", SERVER, str(cert), str(key)], stdout=subprocess.PIPE, text=True
        )
        try:
            assert server.stdout is not None
            url = f"https://127.0.0.1:{server.stdout.readline().strip()}"
            projects = {
                (kind, n): make_project(root, kind, n, url, bundle)
                for kind in TESTS
                for n in args.sizes
            }
            for project in projects.values():  # warm-up: bytecode caches
                run(project)
            figures: dict[tuple[str, int], list[tuple[float, float]]] = {k: [] for k in projects}
            for _ in range(args.repeat):
                for key_, project in projects.items():
                    figures[key_].append(run(project))
        finally:
            server.terminate()
            server.wait(timeout=10)
    small, large = args.sizes
    print(f"| variant | CPU {small} | CPU {large} | CPU per test | wall {large} | wall per test |")
    print("|---|---|---|---|---|---|")
    for kind in TESTS:
        cpu = {n: statistics.median(c for c, _ in figures[(kind, n)]) for n in args.sizes}
        wall = {n: statistics.median(w for _, w in figures[(kind, n)]) for n in args.sizes}
        per_cpu = (cpu[large] - cpu[small]) / (large - small) * 1000
        per_wall = (wall[large] - wall[small]) / (large - small) * 1000
        print(
            f"| {kind} | {cpu[small]:.2f} s | {cpu[large]:.2f} s | {per_cpu:.2f} ms "
            f"| {wall[large]:.2f} s | {per_wall:.2f} ms |"
        )


if __name__ == "__main__":
    main()
