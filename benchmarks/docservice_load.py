"""docservice under load, with and without a worker killed mid-load (issue 13).

    python benchmarks/docservice_load.py                     # SQLite and PostgreSQL, 2 workers
    python benchmarks/docservice_load.py --databases sqlite --uploads 50 --json out.json

For each database, two runs against a fresh `python -m docservice up --workers 2`: one
undisturbed, one where worker-1 is SIGKILLed once half of the uploads have been answered
(its supervisor restarts it; the other worker takes over its jobs). Each run uploads
``--uploads`` distinct PDFs (the small fixture with a unique trailer comment) from
``--threads`` threads, waits until every job is terminal (bounded by --timeout), and reports:

- throughput: documents completed per second, first upload sent -> last job complete;
- upload latency p50/p95 (client side, request sent -> answer);
- completion latency p50/p95/max (server timestamps: the job's `uploaded` event -> its
  `complete` event, so polling granularity does not enter);
- lost: accepted uploads whose job did not complete (failed, or not terminal at the deadline);
- duplicated: uploads answered `duplicate` although every file is distinct, and jobs whose
  event trail records a status twice (a stage applied by two workers).

The stand-ins keep their default 20 ms latency per call. Figures: benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
TERMINAL = {"complete", "failed_parse", "failed_chunking", "failed_embedding"}


@dataclass
class Result:
    """One run's figures."""

    database: str
    killed: bool
    uploads: int
    accepted: int
    completed: int
    lost: int
    duplicate_answers: int
    repeated_transitions: int
    throughput_docs_s: float
    upload_p50_ms: float
    upload_p95_ms: float
    completion_p50_s: float
    completion_p95_s: float
    completion_max_s: float
    worker_restarts: int | None
    wall_s: float


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def _parse_ts(value: str) -> float:
    from datetime import datetime

    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").timestamp()


class Deployment:
    """``python -m docservice up`` in its own process group, stopped with SIGTERM."""

    def __init__(self, database: str, workers: int, base: Path) -> None:
        self.ready_path = base / "ready.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSERVICE_")}
        env.update(
            DOCSERVICE_API_TOKENS=f"{TOKEN}=bench",
            DOCSERVICE_WEBHOOK_SECRET="bench-webhook-secret",
            DOCSERVICE_RATE_UPLOADS_PER_MIN="1000000",
            DOCSERVICE_RATE_POLLS_PER_S="1000000",
        )
        argv = [sys.executable, "-m", "docservice", "up", "--ready-file", str(self.ready_path)]
        argv += ["--workers", str(workers), "--database", database, "--data-dir", str(base / "d")]
        self.log = open(base / "launcher.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=self.log, stderr=self.log, start_new_session=True
        )
        deadline = time.monotonic() + 120
        while not self.ready_path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"docservice did not start; see {base / 'launcher.log'}")
            time.sleep(0.1)
        self.ready: dict[str, Any] = json.loads(self.ready_path.read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


def run_once(
    database: str, kill: bool, uploads: int, threads: int, workers: int, timeout: float
) -> Result:
    """One deployment, one load, the figures."""
    base_pdf = (REPO / "fixtures" / "small.pdf").read_bytes()
    tag = f"{database}-{'kill' if kill else 'calm'}-{time.time_ns()}"
    payloads = [base_pdf + f"\n% load {tag} {n}\n".encode() for n in range(uploads)]
    with tempfile.TemporaryDirectory(prefix="docservice-load-") as tmp:
        dep = Deployment(database, workers, Path(tmp))
        try:
            api = dep.ready["api_url"]
            headers = {"Authorization": f"Bearer {TOKEN}"}
            local = threading.local()
            answered = Counter[str]()
            lock = threading.Lock()
            kill_at = uploads // 2 if kill else None
            killed = threading.Event()

            def upload(n: int) -> tuple[float, dict[str, Any] | None, int]:
                session = getattr(local, "s", None) or requests.Session()
                local.s = session
                files = {"file": (f"load-{n}.pdf", payloads[n], "application/pdf")}
                started = time.perf_counter()
                resp = session.post(
                    f"{api}/api/v2/upload", files=files, headers=headers, timeout=60
                )
                elapsed = time.perf_counter() - started
                with lock:
                    answered["n"] += 1
                    if kill_at is not None and answered["n"] >= kill_at and not killed.is_set():
                        killed.set()
                        os.kill(dep.ready["pids"]["workers"][0], signal.SIGKILL)
                body = resp.json() if resp.status_code in (200, 202) else None
                return elapsed, body, resp.status_code

            t0 = time.time()
            with ThreadPoolExecutor(threads) as pool:
                answers = list(pool.map(upload, range(uploads)))
            upload_ms = [a[0] * 1000 for a in answers]
            bodies = [a[1] for a in answers if a[1] is not None]
            duplicate_answers = sum(1 for b in bodies if b["duplicate"])
            jobs = {b["job_id"] for b in bodies if not b["duplicate"]}
            session = requests.Session()
            pending = set(jobs)
            status: dict[str, str] = {}
            deadline = time.monotonic() + timeout
            while pending and time.monotonic() < deadline:
                for job in list(pending):
                    r = session.get(f"{api}/api/v2/jobs/{job}", headers=headers, timeout=30)
                    if r.status_code == 200 and r.json()["status"] in TERMINAL:
                        status[job] = r.json()["status"]
                        pending.discard(job)
                if pending:
                    time.sleep(0.25)
            completion_s, last_complete, repeated = [], t0, 0
            for job in jobs:
                r = session.get(f"{api}/api/v2/jobs/{job}/events", headers=headers, timeout=30)
                events = r.json()["events"] if r.status_code == 200 else []
                seen = Counter(e["status"] for e in events)
                repeated += any(c > 1 for c in seen.values())
                at = {e["status"]: _parse_ts(e["at"]) for e in events}
                if "complete" in at and "uploaded" in at:
                    completion_s.append(at["complete"] - at["uploaded"])
                    last_complete = max(last_complete, at["complete"])
            health = session.get(f"{api}/health", timeout=30).json()
            restarts = health.get("dependencies", {}).get("worker", {}).get("restarts")
            completed = sum(1 for s in status.values() if s == "complete")
            wall = max(last_complete - t0, 1e-9)
            return Result(
                database=database,
                killed=kill,
                uploads=uploads,
                accepted=len(jobs),
                completed=completed,
                lost=uploads - completed,
                duplicate_answers=duplicate_answers,
                repeated_transitions=repeated,
                throughput_docs_s=round(completed / wall, 2),
                upload_p50_ms=round(statistics.median(upload_ms), 1),
                upload_p95_ms=round(_pct(upload_ms, 0.95), 1),
                completion_p50_s=round(statistics.median(completion_s), 3)
                if completion_s
                else float("nan"),
                completion_p95_s=round(_pct(completion_s, 0.95), 3),
                completion_max_s=round(max(completion_s, default=float("nan")), 3),
                worker_restarts=restarts,
                wall_s=round(wall, 2),
            )
        finally:
            dep.stop()


def table(results: list[Result]) -> str:
    """The results as the markdown table benchmarks/README.md shows."""
    head = (
        "| database | worker killed | docs/s | upload p50 / p95 (ms) | completion p50 / p95 / max (s) "
        "| completed | lost | duplicated | restarts |\n|---|---|---|---|---|---|---|---|---|"
    )
    rows = [
        f"| {r.database} | {'yes' if r.killed else 'no'} | {r.throughput_docs_s} | "
        f"{r.upload_p50_ms} / {r.upload_p95_ms} | {r.completion_p50_s} / {r.completion_p95_s} / "
        f"{r.completion_max_s} | {r.completed}/{r.uploads} | {r.lost} | "
        f"{r.duplicate_answers + r.repeated_transitions} | {r.worker_restarts} |"
        for r in results
    ]
    return "\n".join([head, *rows])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--uploads", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds for all jobs")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args(argv)
    results = []
    for database in args.databases.split(","):
        for kill in (False, True):
            result = run_once(
                database, kill, args.uploads, args.threads, args.workers, args.timeout
            )
            print(json.dumps(asdict(result)), flush=True)
            results.append(result)
    print(table(results))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=2) + "\n")
    return 0 if all(r.lost == 0 and r.duplicate_answers == 0 for r in results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
