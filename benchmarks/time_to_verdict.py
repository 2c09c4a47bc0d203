"""Seconds from starting `pytest tests/smoke --target-env=prod` until its verdict, on a
deployment proven broken early, with --fail-fast off (before) and on (after).

    .venv/bin/python benchmarks/time_to_verdict.py [--runs 1] [--scenario stalled|hanging]
        [--modes off,on,on+lean] [--durations N]

Scenarios (each run is the whole pytest process, as a release pipeline runs it):

* stalled: docservice (SQLite) launched once with the fault ``stall_at=embeddings_stored``:
  every job stops before ``complete`` while health and the API look fine.
* hanging: a loopback server answering ``GET /health`` and hanging on everything else
  (every other request waits out the client's read timeout, 15 s by default).

Both run the production environment (``--target-env=prod``: DEPLOYVERIFY_PROD_URL and the
secrets from the environment) with the suite's default timeouts. Before and after alternate
within a run so machine load hits both alike. Prints one line per process and the medians.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


class _Hanging(BaseHTTPRequestHandler):
    release = threading.Event()

    def do_GET(self) -> None:
        if self.path == "/health":
            body = b'{"status": "ok", "dependencies": {}}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.release.wait(600)

    do_POST = do_GET
    do_DELETE = do_GET

    def log_message(self, *args: object) -> None:
        pass


#: "+lean": pytest started without the two entry-point plugins the dev extra installs that the
#: smoke suite does not use; with PYTHONDONTWRITEBYTECODE set (as in this environment and many
#: CI images) pytest assertion-rewrites and compiles every module of theirs at each start
LEAN = ("-p", "no:hypothesispytest", "-p", "no:schemathesis")


def _run_smoke(
    url: str, token: str, webhook: str, mode: str, durations: int = 0
) -> tuple[float, str]:
    fail_fast, _, variant = mode.partition("+")
    env = dict(os.environ)
    env.update(
        DEPLOYVERIFY_PROD_URL=url,
        DEPLOYVERIFY_API_TOKEN=token,
        DEPLOYVERIFY_WEBHOOK_SECRET=webhook,
    )
    with tempfile.TemporaryDirectory() as reports:
        started = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "tests/smoke",
                "--target-env=prod",
                f"--fail-fast={fail_fast}",
                f"--report-dir={reports}",
                f"--verdict-file={reports}/verdict.json",
                "-p",
                "no:cacheprovider",
                "-q",
                *([f"--durations={durations}", "--durations-min=0.5"] if durations else []),
                *(LEAN if variant == "lean" else ()),
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=1200,
        )
        elapsed = time.monotonic() - started
        if durations:  # where the time went: pytest's slowest phases, then the total
            lines = proc.stdout.splitlines()
            start = next((i for i, ln in enumerate(lines) if "slowest" in ln), len(lines))
            print("\n".join(lines[start : start + durations + 1]), flush=True)
        verdict = ""
        path = Path(reports) / "verdict.json"
        if path.exists():
            import json

            data = json.loads(path.read_text(encoding="utf-8"))
            verdict = f"{data['verdict']}: {data['reason'][:140]}"
        else:
            verdict = f"(no verdict file; exit {proc.returncode}) {proc.stdout[-300:]}"
    return elapsed, verdict


def _measure(
    name: str, url: str, token: str, webhook: str, runs: int, modes: list[str], durations: int
) -> None:
    seconds: dict[str, list[float]] = {mode: [] for mode in modes}
    for i in range(runs):
        for mode in modes:
            elapsed, verdict = _run_smoke(url, token, webhook, mode, durations)
            seconds[mode].append(elapsed)
            print(f"{name} run {i + 1} fail-fast={mode}: {elapsed:6.1f} s  {verdict}", flush=True)
    for mode in modes:
        print(f"{name} fail-fast={mode}: median {statistics.median(seconds[mode]):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--scenario", choices=("stalled", "hanging", "both"), default="both")
    parser.add_argument(
        "--modes",
        default="off,on",
        help="fail-fast modes to run, in order (default off,on); 'on+lean' = on, started "
        "without the hypothesis and schemathesis plugins",
    )
    parser.add_argument(
        "--durations", type=int, default=0, help="print pytest's N slowest phases per run"
    )
    args = parser.parse_args()
    modes = [m for m in args.modes.split(",") if m]

    if args.scenario in ("stalled", "both"):
        from pytest_deployverify import launch
        from pytest_deployverify.config import LaunchSpec

        spec = LaunchSpec(
            command="{python} -m docservice up --ready-file {ready_file} "
            "--fault stall_at=embeddings_stored",
            secrets=(
                ("DOCSERVICE_API_TOKENS", "api_token"),
                ("DOCSERVICE_WEBHOOK_SECRET", "webhook_secret"),
            ),
            cwd=str(ROOT),
        )
        deployment = launch.start(spec, env_name="time-to-verdict", timeout=120)
        try:
            _measure(
                "stalled",
                deployment.api_url,
                deployment.secrets["api_token"],
                deployment.secrets["webhook_secret"],
                args.runs,
                modes,
                args.durations,
            )
        finally:
            deployment.stop()

    if args.scenario in ("hanging", "both"):
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Hanging)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            url = f"http://127.0.0.1:{server.server_address[1]}"
            _measure(
                "hanging",
                url,
                "tok-" + "a" * 24,
                "whs-" + "b" * 24,
                args.runs,
                modes,
                args.durations,
            )
        finally:
            _Hanging.release.set()
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    main()
