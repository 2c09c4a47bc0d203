"""A worker that dies is restarted and its jobs finish (issue 13): with the default single
worker a SIGKILL mid-load loses no job, /health counts the restart; with two workers a
frozen worker's leased jobs are taken over long before the lease would expire.

The tests read the deployment's SQLite file (read-only) to see which worker holds which
job, so the kill or freeze provably lands while a job is leased.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest
from docservice_support import FIXTURES, Deployment, launch

SMALL = FIXTURES / "small.pdf"
BOUND_S = 90.0  # generous: far below the 600 s lease the tests configure


def _claims(dep: Deployment) -> dict[str, str]:
    """job_id -> claimed_by for every currently leased job."""
    db = sqlite3.connect(
        f"file:{dep.data_dir / 'docservice.sqlite3'}?mode=ro", uri=True, timeout=15
    )
    try:
        rows = db.execute("SELECT job_id, claimed_by FROM jobs WHERE claimed_by IS NOT NULL")
        return dict(rows.fetchall())
    finally:
        db.close()


def _upload_many(dep: Deployment, n: int, tag: str) -> list[str]:
    base = SMALL.read_bytes()
    jobs = []
    for i in range(n):
        resp = dep.upload(base + f"\n% {tag} {i}\n".encode(), filename=f"{tag}-{i}.pdf")
        assert resp.status_code == 202, resp.text
        jobs.append(resp.json()["job_id"])
    return jobs


def _wait_until(what: str, check: object, bound: float = BOUND_S) -> None:
    deadline = time.monotonic() + bound
    while not check():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {bound} s: {what}")
        time.sleep(0.02)


def test_killed_single_worker_is_restarted_and_every_job_completes(tmp_path: Path) -> None:
    """Finding: SIGKILL of the only worker left 69 of 100 jobs unfinished forever."""
    env = {"DOCSERVICE_LEASE_S": "600", "DOCSERVICE_STANDIN_LATENCY_MS": "30"}
    with launch(tmp_path, env=env, latency_ms=30) as dep:
        old_pid = dep.ready["pids"]["workers"][0]
        jobs = _upload_many(dep, 8, "kill")
        _wait_until("the worker holds a job", lambda: bool(_claims(dep)))
        os.kill(old_pid, signal.SIGKILL)
        for job in jobs:
            assert dep.wait(job, timeout=BOUND_S)[-1]["status"] == "complete"
        health = dep.get("/health", None)
        assert health.status_code == 200, health.text
        worker = health.json()["dependencies"]["worker"]
        assert worker["restarts"] == 1 and worker["workers"] == 1
        ready = json.loads((tmp_path / "ready.json").read_text())
        assert ready["pids"]["workers"] != [old_pid] and ready["worker_restarts"] == 1
        assert "worker restarted" in (tmp_path / "launcher.out").read_text()


def test_frozen_worker_jobs_are_taken_over_before_the_lease_expires(tmp_path: Path) -> None:
    """With two workers a stuck job waited for the whole 30 s lease; now a worker whose
    heartbeat is stale loses its jobs to the other one."""
    env = {
        "DOCSERVICE_LEASE_S": "600",
        "DOCSERVICE_HEARTBEAT_S": "0.2",
        "DOCSERVICE_HEARTBEAT_STALE_S": "1.5",
    }
    with launch(tmp_path, env=env, workers=2, latency_ms=30) as dep:
        first = f"worker-1-{dep.ready['launch_id'][:8]}"
        pid = dep.ready["pids"]["workers"][0]
        jobs = _upload_many(dep, 10, "freeze")
        held: list[str] = []
        deadline = time.monotonic() + BOUND_S
        while not held:  # freeze it at a moment it holds a job (it may be between jobs)
            os.kill(pid, signal.SIGSTOP)
            held = [j for j, w in _claims(dep).items() if w == first]
            if not held:
                os.kill(pid, signal.SIGCONT)
                assert time.monotonic() < deadline, "worker-1 never held a job"
                time.sleep(0.01)
        try:
            for job in held:  # finished by worker-2 while worker-1 is still frozen
                assert dep.wait(job, timeout=BOUND_S)[-1]["status"] == "complete"
            for job in jobs:
                assert dep.wait(job, timeout=BOUND_S)[-1]["status"] == "complete"
        finally:
            os.kill(pid, signal.SIGCONT)


class _Clock:
    """A clock the test moves by hand, so the backoff policy is checked without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_restart_backoff_doubles_on_quick_deaths_and_resets_after_a_stable_life() -> None:
    """The supervisor's policy: a worker dying again at once waits 0.25, 0.5, 1, ... s (capped
    at 30 s) before its restart; one that lived 30 s starts from 0.25 s again."""
    from docservice.supervisor import Supervisor

    clock = _Clock()
    sup = Supervisor(clock=clock)
    assert sup.started("worker-1") == 0
    delays = []
    for restarts in range(1, 10):
        clock.now += 0.1  # dies right after (re)starting
        delay = sup.died("worker-1")
        assert sup.died("worker-1") == delay  # asking again does not move the restart time
        assert not sup.due("worker-1")  # not before its backoff
        clock.now += delay
        assert sup.due("worker-1")
        assert sup.started("worker-1") == restarts
        delays.append(delay)
    assert delays == pytest.approx([0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0])
    assert sup.restarts("worker-1") == 9 and not sup.due("worker-1")  # alive: nothing due
    clock.now += 30.0  # a stable life
    assert sup.died("worker-1") == pytest.approx(0.25)
    assert sup.restarts("worker-2") == 0 and not sup.due("worker-2")  # never seen
