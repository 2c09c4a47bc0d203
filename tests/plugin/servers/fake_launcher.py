"""A launch command for tests of the embedded-deployment path (not docservice).

    python fake_launcher.py --ready-file PATH [--mode ok|exit|hang|garbage] [--delay S]

``ok``: serves ``GET /health`` (echoing X-Correlation-ID, requiring the bearer token from
DEPLOYVERIFY_FAKE_TOKEN for everything else), starts a child process in its process group
(to prove the whole group is stopped), then writes the ready file atomically with
``api_url``, ``pid`` and ``child_pid``. ``exit``: prints a few lines (one containing the
secret token, which the plugin must redact) to stderr and exits 3. ``hang``: never becomes
ready. ``garbage``: writes a ready file without ``api_url`` and waits.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        token = os.environ.get("DEPLOYVERIFY_FAKE_TOKEN", "")
        ok = self.path == "/health" or self.headers.get("Authorization") == f"Bearer {token}"
        body = json.dumps({"status": "healthy" if ok else "unauthorized", "path": self.path})
        raw = body.encode()
        self.send_response(200 if ok else 401)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        cid = self.headers.get("X-Correlation-ID")
        if cid:
            self.send_header("X-Correlation-ID", cid)
        self.end_headers()
        self.wfile.write(raw)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--mode", default="ok")
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--prometheus-url", default="", help="name this in the ready file")
    args = parser.parse_args()
    # tests find the launcher through this file even when it never becomes ready
    with open("launcher.pids", "a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()}\n")
    token = os.environ.get("DEPLOYVERIFY_FAKE_TOKEN", "")
    if args.mode == "exit":
        print("starting fake deployment", file=sys.stderr)
        print(f"config: token={token} database=none", file=sys.stderr)
        print(f"fatal: cannot bind port (token was {token})", file=sys.stderr)
        return 3
    if args.mode == "hang":
        time.sleep(3600)
        return 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    time.sleep(args.delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(3600)"])
    data = {
        "api_url": f"http://127.0.0.1:{server.server_address[1]}",
        "pid": os.getpid(),
        "child_pid": child.pid,
        "database": "none",
        "workers": 1,
        "faults": {},
    }
    if args.prometheus_url:
        data["prometheus_url"] = args.prometheus_url
    if args.mode == "garbage":
        data = {"pid": os.getpid()}
    tmp = args.ready_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    os.replace(tmp, args.ready_file)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    sys.exit(main())
