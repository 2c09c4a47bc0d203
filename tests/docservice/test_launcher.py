"""The launcher: clean stop with no stray process, no collisions, secrets, bad options."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from docservice_support import (
    FIXTURES,
    PIPELINE,
    REPO,
    launch,
    launcher_env,
    processes_with_marker,
    start_launcher,
    wait_ready,
)


def _wait_gone(marker: str, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    left = processes_with_marker(marker)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = processes_with_marker(marker)
    return left


def test_sigterm_stops_every_process_and_generated_secrets_stay_secret(tmp_path: Path) -> None:
    proc, ready, data_dir, out = start_launcher(tmp_path, workers=2, secrets=False)
    dep = wait_ready(proc, ready, data_dir, out)
    try:
        assert dep.ready["secrets_generated"] is True
        secrets_file = data_dir / "secrets.env"
        assert secrets_file.stat().st_mode & 0o777 == 0o600
        values = dict(line.split("=", 1) for line in secrets_file.read_text().splitlines())
        token = values["DOCSERVICE_API_TOKENS"].split("=")[0]
        webhook_secret = values["DOCSERVICE_WEBHOOK_SECRET"]
        resp = dep.http.post(
            f"{dep.api}/api/v2/upload",
            files={"file": ("small.pdf", (FIXTURES / "small.pdf").read_bytes(), "application/pdf")},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert resp.status_code == 202
        children = processes_with_marker(dep.ready["launch_id"])
        pids = dep.ready["pids"]
        expected = {pids["api"], pids["parser"], pids["embeddings"], *pids["workers"]}
        assert expected <= set(children)
        assert len(pids["workers"]) == 2
        assert ready.read_text().count(token) == 0 and webhook_secret not in ready.read_text()
    finally:
        code = dep.stop()
    assert code == 0
    assert _wait_gone(dep.ready["launch_id"], timeout=2) == []
    assert not ready.exists(), "the ready file must not outlive the deployment"
    for log in [out, *(data_dir / "logs").glob("*.log")]:
        text = log.read_text(errors="replace")
        assert token not in text and webhook_secret not in text, log.name


def test_sigkilled_launcher_takes_its_children_with_it(tmp_path: Path) -> None:
    proc, ready, data_dir, out = start_launcher(tmp_path)
    dep = wait_ready(proc, ready, data_dir, out)
    assert processes_with_marker(dep.ready["launch_id"])
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: the parent-death signal must
    proc.wait(5)
    assert _wait_gone(dep.ready["launch_id"]) == []


def test_two_launchers_do_not_collide(tmp_path: Path) -> None:
    a = start_launcher(tmp_path / "a")
    b = start_launcher(tmp_path / "b")
    dep_a = wait_ready(*a)
    try:
        dep_b = wait_ready(*b)
        try:
            urls_a = {dep_a.ready[k] for k in ("api_url", "parser_url", "embeddings_url")}
            urls_b = {dep_b.ready[k] for k in ("api_url", "parser_url", "embeddings_url")}
            assert not urls_a & urls_b and len(urls_a) == len(urls_b) == 3
            assert dep_a.ready["data_dir"] != dep_b.ready["data_dir"]
            run_a = dep_a.run(FIXTURES / "small.pdf")
            run_b = dep_b.run(FIXTURES / "medium.pdf")
            assert run_a["job"]["status"] == run_b["job"]["status"] == "complete"
            assert dep_b.get(f"/api/v2/jobs/{run_a['upload']['job_id']}").status_code == 404
            # A third launcher on a data dir in use is refused instead of sharing it.
            third = subprocess.run(
                [sys.executable, "-m", "docservice", "up", "--ready-file", str(tmp_path / "c.json"),
                 "--data-dir", dep_a.ready["data_dir"]],
                cwd=REPO, env=launcher_env(), capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert third.returncode == 2
            assert "in use by another launcher" in third.stderr
            assert not (tmp_path / "c.json").exists()
        finally:
            assert dep_b.stop() == 0
    finally:
        assert dep_a.stop() == 0


def test_bad_options_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    cases = {
        ("--fault", "no_such_fault"): "unknown fault 'no_such_fault'",
        ("--fault", "stall_at=nowhere"): "is not a status",
        ("--fault", "slow"): "needs a value",
        ("--workers", "0"): "--workers must be at least 1",
    }
    for extra, message in cases.items():
        result = subprocess.run(
            [sys.executable, "-m", "docservice", "up", "--ready-file", str(tmp_path / "r.json"), *extra],
            cwd=REPO, env=launcher_env(), capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        assert result.returncode == 2, result.stderr
        assert message in result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "r.json").exists()


def test_parse_falls_back_to_polling_when_no_webhook_arrives(tmp_path: Path) -> None:
    import socket

    with socket.socket() as dead:  # bound, never listening: the webhook cannot be delivered
        dead.bind(("127.0.0.1", 0))
        env = {
            "DOCSERVICE_PUBLIC_URL": f"http://127.0.0.1:{dead.getsockname()[1]}",
            "DOCSERVICE_PARSE_POLL_AFTER_S": "0.3",
        }
        with launch(tmp_path, env=env) as dep:
            run = dep.run(FIXTURES / "small.pdf")
    assert [e["status"] for e in run["events"]] == PIPELINE
    parsed = next(e for e in run["events"] if e["status"] == "parsed")
    assert parsed["detail"]["via"] == "poll"
    assert run["document"]["parser"]["name"] == "llamaparse-standin"
    assert run["document"]["vector_count"] == run["document"]["chunk_count"] > 0


def test_health_goes_503_when_the_worker_hangs(tmp_path: Path) -> None:
    # A frozen worker (alive, so its supervisor has nothing to restart) stops beating; a
    # killed one is restarted (tests/docservice/test_supervision.py).
    env = {"DOCSERVICE_HEARTBEAT_S": "0.2", "DOCSERVICE_HEARTBEAT_STALE_S": "1.0"}
    with launch(tmp_path, env=env) as dep:
        assert dep.get("/health", None).status_code == 200
        worker = dep.ready["pids"]["workers"][0]
        os.kill(worker, signal.SIGSTOP)  # no goodbye, no cleanup
        try:
            deadline = time.monotonic() + 60  # exits as soon as it is 503
            health = dep.get("/health", None)
            while health.status_code == 200 and time.monotonic() < deadline:
                time.sleep(0.1)
                health = dep.get("/health", None)
        finally:
            os.kill(worker, signal.SIGCONT)
        assert health.status_code == 503
        worker_dep = health.json()["dependencies"]["worker"]
        assert worker_dep["status"] == "down" and worker_dep["workers"] == 0
        assert worker_dep["heartbeat_age_s"] > 1.0  # a real, stale heartbeat - not configuration
