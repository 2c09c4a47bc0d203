"""A launch command that is not docservice, for the launcher-death tests.

    python lifeline_server.py --ready-file PATH --state-dir DIR [--ignore-lifeline]

Serves ``GET /health`` on loopback, starts one helper child in its process group and creates
``DIR/server-<pid>`` as its own state, then writes the ready file (``api_url``, ``pid``,
``child_pid``, ``state``). It honours the lifeline contract the way docs/configuration.md
shows: when ``DEPLOYVERIFY_PARENT_FD`` reaches end-of-file it writes ``DIR/lifeline-eof``,
stops its child, removes its state and exits; SIGTERM does the same. With
``--ignore-lifeline`` it never reads the descriptor (a command that breaks the contract: only
the plugin's watchdog or the next run's reaper stop it).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class Health(BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        body = b'{"status": "healthy"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ready-file", required=True)
    parser.add_argument("--state-dir", required=True, type=Path)
    parser.add_argument("--ignore-lifeline", action="store_true")
    args = parser.parse_args()
    state = args.state_dir / f"server-{os.getpid()}"
    state.mkdir(parents=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    # The contract: block on the inherited descriptor; end-of-file means the launcher is gone.
    fd = os.environ.get("DEPLOYVERIFY_PARENT_FD")
    if fd and not args.ignore_lifeline:

        def watch() -> None:
            while os.read(int(fd), 1024):
                pass
            (args.state_dir / "lifeline-eof").write_text(str(os.getpid()))
            stop.set()

        threading.Thread(target=watch, daemon=True).start()

    ready = {
        "api_url": f"http://127.0.0.1:{server.server_address[1]}",
        "pid": os.getpid(),
        "child_pid": child.pid,
        "state": str(state),
    }
    tmp = f"{args.ready_file}.tmp"
    Path(tmp).write_text(json.dumps(ready))
    os.replace(tmp, args.ready_file)
    stop.wait()
    child.terminate()
    child.wait()
    shutil.rmtree(state)
    Path(args.ready_file).unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
