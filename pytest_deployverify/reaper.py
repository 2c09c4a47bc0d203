"""Reap what killed runs left: stale launch directories and their processes.

Normally a deployment stops itself when its launcher dies, and the watchdog removes the launch
directory (see :mod:`pytest_deployverify.lifeline`). When the watchdog died too (a whole
container or cgroup killed, a reboot of /tmp's contents survived), the next run that launches
finds the directory: its ``owner.json`` names a session that no longer runs and a watchdog that
no longer runs. Its leftover processes are stopped (SIGTERM, then SIGKILL), the directory is
removed, and the run says so. A directory without an owner record (being created right now,
or from an older plugin version) and one whose owner or watchdog still runs are left alone:
other sessions on the same machine are never touched.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from pytest_deployverify.lifeline import LAUNCH_DIR_PREFIX, LAUNCH_DIR_VAR, OwnerRecord
from pytest_deployverify.processes import alive, members, stop_all


def reap_stale(tmp_root: Path | None = None) -> list[str]:
    """Reap every stale launch directory under ``tmp_root`` (the temp dir); one line each."""
    root = tmp_root or Path(tempfile.gettempdir())
    lines: list[str] = []
    try:
        candidates = sorted(root.glob(LAUNCH_DIR_PREFIX + "*"))
    except OSError:
        return lines
    for launch_dir in candidates:
        line = _reap_one(launch_dir)
        if line:
            lines.append(line)
    return lines


def _reap_one(launch_dir: Path) -> str | None:
    try:
        if launch_dir.stat().st_uid != os.geteuid():
            return None
    except OSError:
        return None
    record = OwnerRecord.read(launch_dir)
    if record is None or alive(record.owner):
        return None
    if record.watchdog is not None and alive(record.watchdog):
        return None  # it is cleaning up right now, within its own bounds
    stopped = stop_all(lambda: members(record.marker, record.leader, LAUNCH_DIR_VAR), grace=0.0)
    shutil.rmtree(launch_dir, ignore_errors=True)
    what = f"; stopped {stopped} leftover process{'es' if stopped != 1 else ''}" if stopped else ""
    return (
        f"deployverify: reaped stale launch directory {launch_dir} of a run that is gone "
        f"(pid {record.owner.pid}){what}"
    )
