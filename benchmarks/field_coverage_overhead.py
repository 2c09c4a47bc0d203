"""Cost of field coverage per request: ApiClient with its FieldRecorder against without.

    .venv/bin/python benchmarks/field_coverage_overhead.py [--requests 100] [--rounds 15]

A stdlib keep-alive JSON server in its own process answers two bodies: ``small`` (a health
answer, 12 fields) and ``document`` (a document summary with 50 chunk records, ~220 fields).
Every answer differs from the last (IDs and timestamps carry a counter), as a real service's
do, so nothing can be skipped because the same bytes came before. Both clients are
ApiClients with the same target and evidence; one has field coverage on (the default in a
test: every JSON body walked once, ``response.json()`` tracked). Each request is followed by
what a test does: ``response.json()`` and reading two keys.

Figures are CPU time of this (the client's) process, which other processes' load moves less
than elapsed time: in each of ``--rounds`` rounds each client makes ``--requests`` requests
(which client goes first alternates; a fresh recorder per round, as each test has its own),
and figures are medians over the rounds. Over the wire, the difference between the clients
is shown with its spread: on a loaded machine it is often within the noise. The tracking work
alone (no network: parse and read a body plain against tracked, the recorder's walk
included) is steadier, and is given as a share of the untracked client's CPU time per
request measured over the wire in the same run (strict: the time a request waits for the
server is left out of that denominator).
"""

from __future__ import annotations

import argparse
import gc
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
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100, help="per client and round")
    parser.add_argument("--rounds", type=int, default=15, help="figures are medians of rounds")
    args = parser.parse_args()
    client_cpu = over_the_wire(args.requests, args.rounds)
    work_alone(args.requests * 3, args.rounds, client_cpu)


def over_the_wire(requests_per_round: int, rounds: int) -> dict[str, float]:
    """Both clients against the server; returns the untracked client's CPU us per request."""
    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Target
    from pytest_deployverify.evidence import TestEvidence
    from pytest_deployverify.fieldcoverage import FieldRecorder

    server = subprocess.Popen(
        [sys.executable, "-c", SERVER + HANDLER], stdout=subprocess.PIPE, text=True, bufsize=1
    )
    print(
        f"over the wire, CPU time of the client per request (medians of {rounds} rounds x "
        f"{requests_per_round} requests per client; 'added' is the median of the rounds' "
        "differences, with their interquartile range):"
    )
    off_cpu: dict[str, float] = {}
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        target = Target(name="bench", base_url=f"http://127.0.0.1:{port}")
        for path in ("/small", "/document"):
            clients = {
                "off": ApiClient(target, evidence=TestEvidence("bench")),
                "on": ApiClient(target, evidence=TestEvidence("bench"), observer=FieldRecorder()),
            }
            cpu: dict[str, list[float]] = {"off": [], "on": []}
            wall: list[float] = []
            for client in clients.values():  # warm the connections
                for _ in range(50):
                    client.get(path).json()
            order = list(clients)
            for r in range(rounds):
                order = order[::-1] if r else order
                for name in order:
                    client = clients[name]
                    if name == "on":  # a recorder per test, as in a run
                        client.observer = FieldRecorder()
                    gc.collect()  # each round starts clean; what it leaves it pays for
                    c0, w0 = time.process_time(), time.perf_counter()
                    for _ in range(requests_per_round):
                        body = client.get(path).json()
                        for key in READS[path]:
                            body[key]
                        # bounded memory: a long benchmark is not a runaway test
                        client.exchanges.clear()
                        if client.evidence is not None:
                            client.evidence.exchanges.clear()
                    cpu[name].append((time.process_time() - c0) / requests_per_round * 1e6)
                    if name == "off":
                        wall.append((time.perf_counter() - w0) / requests_per_round * 1e6)
            off, on = (statistics.median(cpu[k]) for k in ("off", "on"))
            diffs = sorted(b - a for a, b in zip(cpu["off"], cpu["on"], strict=True))
            q1, added, q3 = statistics.quantiles(diffs, n=4)
            off_cpu[path] = off
            print(
                f"{path[1:]:>9}: off {off:7.1f} us, on {on:7.1f} us: added {added:+6.1f} us "
                f"(IQR {q1:+.1f}..{q3:+.1f}) = {100 * added / off:+.1f}% of the client's CPU; "
                f"elapsed off {statistics.median(wall):.0f} us"
            )
    finally:
        server.terminate()
        server.wait(5)
    return off_cpu


def work_alone(n: int, rounds: int, client_cpu: dict[str, float]) -> None:
    """The tracking work without the network: a response's ``.json()`` and two reads,
    plain against tracked (a fresh recorder per round, its walk included), CPU time, the
    median of the rounds' differences; and that as a share of the client's CPU time per
    request measured over the wire in the same run."""
    import json

    import requests

    from pytest_deployverify.fieldcoverage import FieldRecorder

    namespace: dict[str, object] = {}
    exec(SERVER, namespace)  # the bodies, without starting a server
    makers = namespace["MAKERS"]
    print(f"tracking work alone (no network), per response, medians of {rounds} x {n}:")
    for path, make in makers.items():  # type: ignore[attr-defined]
        bodies = [json.dumps(make(i)).encode() for i in range(n)]

        def response(body: bytes) -> requests.Response:
            r = requests.Response()
            r.status_code = 200
            r.headers["Content-Type"] = "application/json"
            r._content = body
            return r

        took: dict[str, list[float]] = {"plain": [], "tracked": []}
        for r in range(rounds):
            for name in ("plain", "tracked") if r % 2 else ("tracked", "plain"):
                recorder = FieldRecorder()
                gc.collect()
                t0 = time.process_time()
                for body in bodies:
                    resp = response(body)
                    if name == "tracked":
                        recorder.received("GET", path, resp)
                        data = resp.json()
                    else:
                        data = json.loads(resp.content)
                    for key in READS[path]:
                        data[key]
                took[name].append((time.process_time() - t0) / n * 1e6)
        plain = statistics.median(took["plain"])
        added = statistics.median(
            b - a for a, b in zip(took["plain"], took["tracked"], strict=True)
        )
        share = f" = {100 * added / client_cpu[path]:.1f}% of the client's CPU per request"
        print(
            f"{path[1:]:>9}: parse + 2 reads {plain:6.1f} us plain; tracking adds "
            f"{added:5.1f} us{share if path in client_cpu else ''}"
        )


if __name__ == "__main__":
    main()
