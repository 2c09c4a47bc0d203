"""Per-request overhead of ApiClient against a bare requests.Session, same loopback server.

    .venv/bin/python benchmarks/client_overhead.py [--requests 3000] [--rounds 10]

The server is a stdlib HTTP/1.1 keep-alive server in its own process (so it does not compete
with the client for the GIL) that answers a small JSON body and echoes X-Correlation-ID. Both
clients make the same GET; ApiClient adds what it is for: the correlation and auth headers, a
traceparent, the echo check and a recorded (redacted) Exchange per request into a
TestEvidence. A third client, a bare Session sending the same three headers, separates the
cost of the headers on the wire (client and server) from the cost of ApiClient's own
machinery. ApiClient resolves the environment's proxy/netrc/CA-bundle settings once per
client, where a plain Session re-reads the environment on every request; a fourth client, a
bare Session with ``trust_env = False`` sending the same three headers, is the floor that
leaves only ApiClient's own per-request work in the difference. Every client has its own
Session, hence its own keep-alive connection (a shared connection answers measurably faster
than one idle for a few requests). Requests go in rounds of four (rotating which is first) so
load from anything else on the machine hits all alike; the figures are median per-request
times and their ratios, with the distribution of the paired differences.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

SERVER = r"""
import json, socket, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = json.dumps({"status": "healthy", "version": "1.0.0"}).encode()

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        cid = self.headers.get("X-Correlation-ID")
        if cid:
            self.send_header("X-Correlation-ID", cid)
        self.end_headers()
        self.wfile.write(BODY)

srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(srv.server_address[1], flush=True)
srv.serve_forever()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="request quads per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from pytest_deployverify.client import ApiClient
    from pytest_deployverify.config import Auth, Target
    from pytest_deployverify.evidence import TestEvidence

    server = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        base = f"http://127.0.0.1:{port}"
        target = Target(
            name="bench",
            base_url=base,
            auth=Auth.parse("bearer:api_token"),
            secrets={"api_token": "t" * 32},
        )
        bare = requests.Session()
        bare_headers = requests.Session()  # its own connection, like each of the others
        no_env = requests.Session()
        no_env.trust_env = False
        url = base + "/health"
        evidence = TestEvidence(nodeid="bench")
        client = ApiClient(target, evidence=evidence)

        def one_bare() -> float:
            t0 = time.perf_counter()
            bare.get(url, timeout=(3, 15)).content  # noqa: B018 - read the body like ApiClient
            return time.perf_counter() - t0

        same_headers = {
            "X-Correlation-ID": client.correlation_id,
            "traceparent": client.correlation_headers()["traceparent"],
            "Authorization": "Bearer " + "t" * 32,
        }

        def one_bare_same_headers() -> float:
            t0 = time.perf_counter()
            bare_headers.get(url, headers=same_headers, timeout=(3, 15)).content  # noqa: B018
            return time.perf_counter() - t0

        def one_no_env_same_headers() -> float:
            t0 = time.perf_counter()
            no_env.get(url, headers=same_headers, timeout=(3, 15)).content  # noqa: B018
            return time.perf_counter() - t0

        def one_client() -> float:
            t0 = time.perf_counter()
            client.get("/health")
            return time.perf_counter() - t0

        for _ in range(200):  # warm up all connections and code paths
            one_bare(), one_bare_same_headers(), one_no_env_same_headers(), one_client()
        # Rounds of four requests, rotating which goes first, so load from anything else on
        # the machine hits all sides alike; compare medians of the per-request times.
        bare_times: list[float] = []
        same_times: list[float] = []
        no_env_times: list[float] = []
        client_times: list[float] = []
        for i in range(args.requests * args.rounds):
            order = [
                (bare_times, one_bare),
                (same_times, one_bare_same_headers),
                (no_env_times, one_no_env_same_headers),
                (client_times, one_client),
            ]
            for times, fn in order[i % 4 :] + order[: i % 4]:
                times.append(fn())
            if len(evidence.exchanges) > 1000:
                evidence.exchanges.clear()  # a test makes far fewer; keep memory flat
                client.exchanges.clear()
        assert not client.findings, "the echo check fired: the benchmark is not like-for-like"
        b, h, d, c = (
            statistics.median(t) for t in (bare_times, same_times, no_env_times, client_times)
        )
        print(f"request quads: {len(bare_times)} (GET /health, loopback, keep-alive)")
        print(f"A bare requests.Session                : median {b * 1e6:8.1f} us/request")
        print(f"B bare Session + the same 3 headers    : median {h * 1e6:8.1f} us/request")
        print(f"D bare, trust_env=False, same headers  : median {d * 1e6:8.1f} us/request")
        print(f"C ApiClient                            : median {c * 1e6:8.1f} us/request")
        for label, base_t, base_list in (
            ("A", b, bare_times),
            ("B", h, same_times),
            ("D", d, no_env_times),
        ):
            diffs = [y - x for x, y in zip(base_list, client_times, strict=False)]
            q = statistics.quantiles(diffs, n=4)
            print(
                f"overhead of C over {label}                  : {(c - base_t) * 1e6:8.1f} us = "
                f"{(c / base_t - 1) * 100:+.1f}% (paired differences: median "
                f"{statistics.median(diffs) * 1e6:.1f} us, IQR {q[0] * 1e6:.1f}..{q[2] * 1e6:.1f})"
            )
        client.close()
    finally:
        server.terminate()
        server.wait(timeout=5)


if __name__ == "__main__":
    main()
