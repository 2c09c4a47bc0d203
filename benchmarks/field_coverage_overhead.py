"""Cost of field coverage per request: ApiClient with its FieldRecorder against without.

    .venv/bin/python benchmarks/field_coverage_overhead.py [--requests 300] [--repeats 7]

A stdlib keep-alive JSON server in its own process answers two bodies: ``small`` (a health
answer, 12 fields) and ``document`` (a document summary with 50 chunk records, ~220 fields).
Every answer differs from the last (IDs and timestamps carry a counter), as a real service's
do, so nothing can be skipped because the same bytes came before. Both clients are
ApiClients with the same target and evidence; one has field coverage on (the default in a
test: every JSON body walked once, ``response.json()`` tracked). Each request is followed by
what a test does: ``response.json()`` and reading two keys.

Figures are CPU time of this (the client's) process, which other processes' load barely
moves: in each of ``--repeats`` rounds each client makes ``--requests`` requests (which
client goes first alternates), and the figure is the median over the rounds of the
per-request CPU time. The overhead is shown as a share of the untracked client's CPU time
per request (the strict measure: the time a request waits for the server is left out) and
of its elapsed time. A second table measures the tracking work alone, without the network.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVER = r"""
import itertools, json, socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

def small(n):
    return {"status": "healthy", "checked_at": f"2026-01-01T00:00:{n % 60:02d}Z",
        "dependencies": {name: {"status": "up", "latency_ms": 0.2 + n % 7}
        for name in ("database", "worker", "parser", "embeddings", "queue")}}

def document(n):
    return {"document_id": f"{n:032x}", "filename": "x.pdf", "status": "complete",
        "chunk_count": 50, "parser": {"name": "p", "version": "1"},
        "embedding": {"model": "m", "dimensions": 1536},
        "chunks": [{"chunk_id": f"{n:016x}{i:016x}", "ordinal": i, "sha256": f"{n + i:064x}",
                    "tokens": 100 + (n + i) % 9} for i in range(50)]}

MAKERS = {"/small": small, "/document": document}
COUNTER = itertools.count()
"""

HANDLER = r"""
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_GET(self):
        body = json.dumps(MAKERS[self.path](next(COUNTER))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Correlation-ID", self.headers.get("X-Correlation-ID", ""))
        self.end_headers()
        self.wfile.write(body)

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""

READS = {"/small": ("status", "checked_at"), "/document": ("status", "chunk_count")}


def main() -> None:
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Target
    from pytest_deployverify.evidence import TestEvidence
    from pytest_deployverify.fieldcoverage import FieldRecorder

    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300, help="per client and round")
    parser.add_argument("--repeats", type=int, default=7, help="rounds; figures are medians")
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER + HANDLER], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    print(
        f"{'body':>9}  {'CPU off':>8} {'CPU on':>8} {'added':>8} {'% of CPU':>9}"
        f"  {'elapsed off':>11} {'% of elapsed':>12}   (per request, medians of "
        f"{args.repeats} x {args.requests})"
    )
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        target = Target(name="bench", base_url=f"http://127.0.0.1:{port}")
        for path in ("/small", "/document"):
            clients = {
                "off": ApiClient(target, evidence=TestEvidence("bench")),
                "on": ApiClient(target, evidence=TestEvidence("bench"), observer=FieldRecorder()),
            }
            cpu: dict[str, list[float]] = {"off": [], "on": []}
            wall: dict[str, list[float]] = {"off": [], "on": []}
            for client in clients.values():  # warm the connections
                for _ in range(50):
                    client.get(path).json()
            order = list(clients)
            for r in range(args.repeats):
                order = order[::-1] if r else order
                for name in order:
                    client = clients[name]
                    c0, w0 = time.process_time(), time.perf_counter()
                    for _ in range(args.requests):
                        body = client.get(path).json()
                        for key in READS[path]:
                            body[key]
                        # bounded memory: a long benchmark is not a runaway test
                        client.exchanges.clear()
                        if client.evidence is not None:
                            client.evidence.exchanges.clear()
                    cpu[name].append((time.process_time() - c0) / args.requests)
                    wall[name].append((time.perf_counter() - w0) / args.requests)
            off, on = (statistics.median(cpu[k]) * 1e6 for k in ("off", "on"))
            elapsed = statistics.median(wall["off"]) * 1e6
            print(
                f"{path[1:]:>9}  {off:6.1f}us {on:6.1f}us {on - off:6.1f}us "
                f"{100 * (on - off) / off:8.1f}%  {elapsed:9.1f}us {100 * (on - off) / elapsed:11.1f}%"
            )
    finally:
        server.terminate()
        server.wait(5)
    work_alone(args.requests, args.repeats)


def work_alone(n: int, repeats: int) -> None:
    """The tracking work without the network: a response's ``.json()`` and two reads,
    plain against tracked (the recorder's walk included), CPU time, medians of the rounds."""
    import json

    import requests

    from pytest_deployverify.fieldcoverage import FieldRecorder

    namespace: dict[str, object] = {}
    exec(SERVER, namespace)  # the bodies, without starting a server
    makers = namespace["MAKERS"]
    print("tracking work alone (no network), per response:")
    for path, make in makers.items():  # type: ignore[attr-defined]
        bodies = [json.dumps(make(i)).encode() for i in range(n)]

        def response(body: bytes) -> requests.Response:
            r = requests.Response()
            r.status_code = 200
            r.headers["Content-Type"] = "application/json"
            r._content = body
            return r

        recorder = FieldRecorder()
        rounds: dict[str, list[float]] = {"plain": [], "tracked": []}
        for _ in range(repeats):
            for name in rounds:
                t0 = time.process_time()
                for body in bodies:
                    r = response(body)
                    if name == "tracked":
                        recorder.received("GET", path, r)
                        data = r.json()
                    else:
                        data = json.loads(r.content)
                    for key in READS[path]:
                        data[key]
                rounds[name].append((time.process_time() - t0) / n * 1e6)
        plain, tracked = (statistics.median(rounds[k]) for k in ("plain", "tracked"))
        print(
            f"{path[1:]:>9}: parse + 2 reads {plain:6.1f} us plain, {tracked:6.1f} us tracked: "
            f"tracking adds {tracked - plain:5.1f} us"
        )


if __name__ == "__main__":
    main()
