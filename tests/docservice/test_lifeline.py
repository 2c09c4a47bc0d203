"""``docservice up`` stops when its launcher's lifeline (DEPLOYVERIFY_PARENT_FD) closes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from docservice_support import REPO, launcher_env, processes_with_marker

from docservice.lifeline import PARENT_FD_VAR, watch_launcher


def test_end_of_file_calls_back_and_children_never_see_the_variable(monkeypatch):
    read_fd, write_fd = os.pipe()
    gone = threading.Event()
    monkeypatch.setenv(PARENT_FD_VAR, str(read_fd))
    assert watch_launcher(gone.set) is True
    assert PARENT_FD_VAR not in os.environ
    assert not os.get_inheritable(read_fd)
    assert not gone.wait(0.2)  # the launcher still holds its end
    os.close(write_fd)
    assert gone.wait(10)


@pytest.mark.parametrize("value", ["", "not-a-number", "987"])
def test_nothing_to_watch_is_not_an_error(monkeypatch, value):
    monkeypatch.setenv(PARENT_FD_VAR, value)
    assert watch_launcher(lambda: pytest.fail("called back")) is False
    assert PARENT_FD_VAR not in os.environ


def test_docservice_up_cleans_up_when_its_launcher_is_gone(tmp_path: Path) -> None:
    """No plugin, no watchdog, no signal: only the pipe closes. docservice removes its data
    dir (a temp dir it created), its ready file and every process, and exits 0."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    ready = tmp_path / "ready.json"
    out = tmp_path / "launcher.out"
    read_fd, write_fd = os.pipe()
    env = launcher_env({PARENT_FD_VAR: str(read_fd), "TMPDIR": str(tmp)})
    with out.open("wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "docservice", "up", "--ready-file", str(ready)],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            pass_fds=(read_fd,),
        )
    os.close(read_fd)
    try:
        deadline = time.monotonic() + 90
        while not ready.exists():
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        data = json.loads(ready.read_text())
        assert Path(data["data_dir"]).parent == tmp
        assert proc.poll() is None  # the pipe is open: it keeps running
        os.close(write_fd)
        assert proc.wait(timeout=30) == 0, out.read_text()
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
    assert not ready.exists()
    assert list(tmp.iterdir()) == []  # its data dir and anything else it created
    assert processes_with_marker(data["launch_id"]) == []
    assert "launcher gone (its lifeline closed): stopping" in out.read_text()
