"""Shared helpers for docservice's own tests: real launcher processes driven over HTTP.

``launch(...)`` starts ``python -m docservice up`` exactly as a user would, waits for its
ready file and stops it with SIGTERM afterwards (failing the test if anything is left).
Module-scoped fixtures share one deployment per test module where the tests do not
interfere; fault tests launch their own.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from docservice import statuses

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
#: token -> user; tests pick a user per purpose so per-user rate limits never interfere
USERS = ("alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "rate")
TOKENS = {f"tok-{u}": u for u in USERS}
WEBHOOK_SECRET = "docservice-test-webhook-secret"
HTTP_TIMEOUT = (3.0, 15.0)
READY_TIMEOUT_S = 60.0
# The service's own tests may use its status model directly (the smoke suite may not).
PIPELINE = list(statuses.PIPELINE)
TERMINAL = set(statuses.TERMINAL)


def auth(user: str = "alice") -> dict[str, str]:
    """Authorization header for one of the TOKENS users."""
    return {"Authorization": f"Bearer tok-{user}"}


@dataclass
class Deployment:
    """A running launcher and the helpers tests use to talk to it."""

    ready: dict[str, Any]
    proc: subprocess.Popen[bytes]
    data_dir: Path
    out_path: Path
    http: requests.Session = field(default_factory=requests.Session)

    @property
    def api(self) -> str:
        return self.ready["api_url"]

    def get(self, path: str, user: str | None = "alice", **kw: Any) -> requests.Response:
        headers = {**(auth(user) if user else {}), **kw.pop("headers", {})}
        return self.http.get(self.api + path, headers=headers, timeout=HTTP_TIMEOUT, **kw)

    def upload(
        self,
        content: bytes | Path,
        filename: str | None = None,
        user: str | None = "alice",
        headers: dict[str, str] | None = None,
    ) -> requests.Response:
        """POST /api/v2/upload with a fixture path or raw bytes."""
        if isinstance(content, Path):
            filename, content = filename or content.name, content.read_bytes()
        files = {"file": (filename or "doc.pdf", content, "application/pdf")}
        hdrs = {**(auth(user) if user else {}), **(headers or {})}
        return self.http.post(
            self.api + "/api/v2/upload", files=files, headers=hdrs, timeout=HTTP_TIMEOUT
        )

    def events(self, job_id: str, user: str = "alice") -> list[dict[str, Any]]:
        resp = self.get(f"/api/v2/jobs/{job_id}/events", user)
        assert resp.status_code == 200, resp.text
        return resp.json()["events"]

    def wait(
        self, job_id: str, user: str = "alice", until: set[str] | None = None, timeout: float = 30.0
    ) -> list[dict[str, Any]]:
        """Follow the job's event trail (works even when status is served empty) until its
        last status is in ``until`` (default: a terminal status); returns the events."""
        until = until or TERMINAL
        deadline = time.monotonic() + timeout
        events: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            events = self.events(job_id, user)
            if events and events[-1]["status"] in until:
                return events
            time.sleep(0.05)
        raise AssertionError(
            f"job {job_id} did not reach {sorted(until)} in {timeout} s; "
            f"statuses so far {[e['status'] for e in events]}\n{self.logs_tail()}"
        )

    def run(self, path: Path, user: str = "alice", **kw: Any) -> dict[str, Any]:
        """Upload a fixture and follow it to a terminal status; everything a test checks."""
        resp = self.upload(path, user=user, **kw)
        assert resp.status_code == 202, resp.text
        body = resp.json()
        events = self.wait(body["job_id"], user)
        job = self.get(f"/api/v2/jobs/{body['job_id']}", user).json()
        doc = self.get(f"/api/v2/documents/{body['document_id']}", user).json()
        return {"upload": body, "response": resp, "events": events, "job": job, "document": doc}

    def sign(self, job_id: str, body: bytes) -> str:
        """The signature the parser would send for this job's webhook."""
        job_secret = hmac.new(WEBHOOK_SECRET.encode(), job_id.encode(), hashlib.sha256).hexdigest()
        return hmac.new(job_secret.encode(), body, hashlib.sha256).hexdigest()

    def log_text(self, name: str) -> str:
        """The full log of one child (api, worker-1, parser, embeddings, postgres)."""
        path = self.data_dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs_tail(self, lines: int = 20) -> str:
        parts = []
        for path in sorted((self.data_dir / "logs").glob("*.log")):
            tail = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name}\n" + "\n".join(tail))
        return "\n".join(parts)

    def stop(self, timeout: float = 20.0) -> int:
        """SIGTERM the launcher and wait; SIGKILL its group only as a last resort (then fail)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
                raise AssertionError(f"launcher ignored SIGTERM for {timeout} s") from None
        self.http.close()
        return self.proc.returncode


def launcher_env(extra: dict[str, str] | None = None, secrets: bool = True) -> dict[str, str]:
    """The launcher's environment: test secrets (unless ``secrets=False``) plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOCSERVICE_")}
    if secrets:
        env["DOCSERVICE_API_TOKENS"] = ",".join(f"{t}={u}" for t, u in TOKENS.items())
        env["DOCSERVICE_WEBHOOK_SECRET"] = WEBHOOK_SECRET
    env.update(extra or {})
    return env


def start_launcher(
    base: Path,
    *,
    workers: int = 1,
    database: str = "sqlite",
    faults: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    latency_ms: float | None = 5,
    secrets: bool = True,
    data_dir: Path | None = None,
    args: tuple[str, ...] = (),
) -> tuple[subprocess.Popen[bytes], Path, Path, Path]:
    """Start a launcher without waiting; returns (process, ready file, data dir, output file)."""
    base.mkdir(parents=True, exist_ok=True)
    ready = base / "ready.json"
    data_dir = data_dir or base / "data"
    out_path = base / "launcher.out"
    argv = [sys.executable, "-m", "docservice", "up", "--ready-file", str(ready)]
    argv += ["--workers", str(workers), "--database", database, "--data-dir", str(data_dir)]
    if latency_ms is not None:
        argv += ["--latency-ms", str(latency_ms)]
    for fault in faults:
        argv += ["--fault", fault]
    argv += args
    with open(out_path, "ab") as out:
        proc = subprocess.Popen(
            argv,
            cwd=REPO,
            env=launcher_env(env, secrets),
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return proc, ready, data_dir, out_path


def wait_ready(
    proc: subprocess.Popen[bytes], ready: Path, data_dir: Path, out_path: Path
) -> Deployment:
    """Wait (bounded) for the ready file; fail with the launcher's output if it dies."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(
                f"launcher exited with {proc.returncode} before ready:\n{out_path.read_text()}"
            )
        if time.monotonic() > deadline:
            os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(
                f"launcher not ready in {READY_TIMEOUT_S} s:\n{out_path.read_text()}"
            )
        time.sleep(0.05)
    return Deployment(json.loads(ready.read_text()), proc, data_dir, out_path)


@contextmanager
def launch(base: Path, **kw: Any) -> Iterator[Deployment]:
    """A running deployment for the block; stopped with SIGTERM afterwards."""
    proc, ready, data_dir, out_path = start_launcher(base, **kw)
    try:
        dep = wait_ready(proc, ready, data_dir, out_path)
    except BaseException:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        raise
    try:
        yield dep
    finally:
        code = dep.stop()
        assert code == 0, f"launcher exit status {code}:\n{out_path.read_text()[-3000:]}"


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live processes whose environment contains ``DOCSERVICE_LAUNCH_ID=marker``."""
    needle = f"DOCSERVICE_LAUNCH_ID={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                status = (entry / "status").read_text()
                if "State:\tZ" not in status:
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def pid_alive(pid: int) -> bool:
    """True if ``pid`` exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status
