"""Cost of field coverage per request: ApiClient with its FieldRecorder against without.

    .venv/bin/python benchmarks/field_coverage_overhead.py [--requests 2000] [--rounds 8]

A stdlib keep-alive JSON server in its own process answers two bodies: ``small`` (a health
answer, 12 fields) and ``document`` (a document summary with 50 chunk records, ~220 fields).
Both clients are ApiClients with the same target and evidence; one has field coverage on (the
default in a test: every JSON body walked once, ``response.json()`` tracked). Each request is
followed by what a test does: ``response.json()`` and reading two keys. Requests alternate
between the clients in rounds (rotating which goes first) so load from anything else on the
machine hits both alike. Figures: median per-request time of each, and the overhead as a
share of the untracked client's time.
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
import json, socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SMALL = {"status": "healthy", "checked_at": "2026-01-01T00:00:00Z", "dependencies": {
    name: {"status": "up", "latency_ms": 0.2} for name in ("database", "worker", "parser",
    "embeddings", "queue")}}
DOC = {"document_id": "d" * 32, "filename": "x.pdf", "status": "complete", "chunk_count": 50,
    "parser": {"name": "p", "version": "1"}, "embedding": {"model": "m", "dimensions": 1536},
    "chunks": [{"chunk_id": f"{i:032x}", "ordinal": i, "sha256": "a" * 64, "tokens": 100}
               for i in range(50)]}
BODIES = {"/small": json.dumps(SMALL).encode(), "/document": json.dumps(DOC).encode()}

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_GET(self):
        body = BODIES[self.path]
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
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=8)
    args = parser.parse_args()
    server = subprocess.Popen(
        [sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        target = Target(name="bench", base_url=f"http://127.0.0.1:{port}")
        for path in ("/small", "/document"):
            clients = {
                "off": ApiClient(target, evidence=TestEvidence("bench")),
                "on": ApiClient(target, evidence=TestEvidence("bench"), observer=FieldRecorder()),
            }
            times: dict[str, list[float]] = {"off": [], "on": []}
            for client in clients.values():  # warm the connections
                for _ in range(50):
                    client.get(path).json()
            order = list(clients)
            per_round = max(1, args.requests // args.rounds)
            for r in range(args.rounds):
                order = order[1:] + order[:1] if r else order
                for _ in range(per_round):
                    for name in order:
                        client = clients[name]
                        t0 = time.perf_counter()
                        body = client.get(path).json()
                        for key in READS[path]:
                            body[key]
                        times[name].append(time.perf_counter() - t0)
                        # bounded memory: a long benchmark is not a runaway test
                        client.exchanges.clear()
                        if client.evidence is not None:
                            client.evidence.exchanges.clear()
            off = statistics.median(times["off"]) * 1e6
            on = statistics.median(times["on"]) * 1e6
            print(
                f"{path[1:]:>9}: tracking off {off:7.1f} us, on {on:7.1f} us per request "
                f"(n={len(times['on'])}): +{on - off:5.1f} us = {100 * (on - off) / off:4.1f}% "
                "of the client's time"
            )
    finally:
        server.terminate()
        server.wait(5)
    work_alone(args.requests)


def work_alone(n: int) -> None:
    """The tracking work without the network (steadier on a loaded machine): a response's
    ``.json()`` and two reads, plain against tracked (the recorder's walk included), in CPU
    time."""
    import json

    import requests

    from pytest_deployverify.fieldcoverage import FieldRecorder

    namespace: dict[str, object] = {}
    exec(SERVER.split("class H")[0], namespace)  # the bodies, without starting a server
    for path, body in namespace["BODIES"].items():  # type: ignore[attr-defined]

        def response(body: bytes = body) -> requests.Response:
            r = requests.Response()
            r.status_code = 200
            r.headers["Content-Type"] = "application/json"
            r._content = body
            return r

        recorder = FieldRecorder()
        cost = {}
        for name in ("plain", "tracked"):
            best = float("inf")
            for _ in range(5):
                t0 = time.process_time()
                for _ in range(n):
                    r = response()
                    if name == "tracked":
                        recorder.received("GET", path, r)
                        data = r.json()
                    else:
                        data = json.loads(r.content)
                    for key in READS[path]:
                        data[key]
                best = min(best, (time.process_time() - t0) / n)
            cost[name] = best * 1e6
        print(
            f"{path[1:]:>9}: parse + 2 reads {cost['plain']:6.1f} us plain, "
            f"{cost['tracked']:6.1f} us tracked: tracking adds {cost['tracked'] - cost['plain']:5.1f} us"
        )


if __name__ == "__main__":
    main()
