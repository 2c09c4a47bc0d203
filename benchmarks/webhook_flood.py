"""API memory under a flood of forged parser webhooks (issue 13: "memory stays flat").

    .venv/bin/python benchmarks/webhook_flood.py [--connections 30] [--mb 8]

Starts ``python -m docservice up`` (SQLite, stand-ins) with the default 8 MB webhook cap and
sends ``--connections`` webhooks at once, each a body just under the cap with a signature of
the right shape but wrong (forging one costs nothing), in two scenarios of the same run:

- unknown jobs: a random job id per request (an attacker with no credentials);
- one live job: the id of a job uploaded for the purpose (an attacker who knows one).

Reported per scenario: the API process's RSS before, its peak while the flood is answered
(sampled every 20 ms), after, and the answers. Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "docservice"))

from docservice_support import FIXTURES, Deployment, launch  # noqa: E402


def _rss_mb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) // 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def _flood(dep: Deployment, jobs: list[str], size: int) -> dict[str, object]:
    pid = dep.ready["pids"]["api"]
    url = urlsplit(dep.api)
    before = _rss_mb(pid)
    peak, done = [before], threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _rss_mb(pid))
            time.sleep(0.02)

    answers: list[str] = []

    def one(job: str) -> None:
        with socket.create_connection((url.hostname, url.port), timeout=60) as sock:
            sock.sendall(
                f"POST /api/v2/webhooks/llamaparse/{job} HTTP/1.1\r\nHost: x\r\n"
                f"X-Webhook-Signature: {'ab' * 32}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {size}\r\n\r\n".encode()
            )
            try:
                sent, chunk = 0, b"x" * 65536
                while sent < size:
                    sock.sendall(chunk[: size - sent])
                    sent += len(chunk)
                answers.append(sock.recv(64)[9:12].decode())
            except OSError as exc:  # answered and closed before the whole body was sent
                answers.append(f"{type(exc).__name__}")
            time.sleep(1.0)  # keep the connection while the others are answered

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    started = time.monotonic()
    threads = [threading.Thread(target=one, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    return {
        "rss_before_mb": before,
        "rss_peak_mb": peak[0],
        "rss_after_mb": _rss_mb(pid),
        "answers": dict(Counter(answers)),
        "seconds": round(time.monotonic() - started, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=30)
    parser.add_argument("--mb", type=float, default=8.0, help="body size (default: the cap)")
    args = parser.parse_args()
    size = int(args.mb * 1024 * 1024) - 16
    print("| scenario | connections x body | API RSS before / peak / after (MB) | answers |")
    print("|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp, launch(Path(tmp), latency_ms=None) as dep:
        live = dep.upload(FIXTURES / "small.pdf").json()["job_id"]
        for name, jobs in (
            ("unknown jobs", [str(uuid.uuid4()) for _ in range(args.connections)]),
            ("one live job", [live] * args.connections),
        ):
            r = _flood(dep, jobs, size)
            print(
                f"| {name} | {args.connections} x {args.mb:g} MB | {r['rss_before_mb']} / "
                f"{r['rss_peak_mb']} / {r['rss_after_mb']} | {r['answers']} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
