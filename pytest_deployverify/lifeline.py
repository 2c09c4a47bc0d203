"""The lifeline between a session and the deployment it launched.

The contract with any launch command (docs/configuration.md, "When the launcher dies"):

* ``DEPLOYVERIFY_PARENT_FD`` names an inherited file descriptor, the read end of a pipe whose
  only write end this process holds. Nothing is ever written to it: a read returns end-of-file
  once the launching pytest process is gone, however it died (SIGKILL, crash, OOM killer), or
  when it has stopped the deployment. The launch command should then stop everything it
  started, remove what it created, and exit within a few seconds.
* ``DEPLOYVERIFY_LAUNCH_DIR`` is the session's launch directory (ready file, output log); every
  process that inherits it is counted as part of the deployment.

Behind the contract, for launch commands that ignore it: a watchdog process
(:mod:`pytest_deployverify.watchdog`, in a session of its own) holds the same read end; at
end-of-file it gives the deployment a grace period, then SIGTERM, then SIGKILL, and removes
the launch directory. The launch directory's ``owner.json`` names the session, the launch
command and the watchdog, so the next run can reap what a killed watchdog left
(:mod:`pytest_deployverify.reaper`).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pytest_deployverify.processes import Proc, current

PARENT_FD_VAR = "DEPLOYVERIFY_PARENT_FD"
LAUNCH_DIR_VAR = "DEPLOYVERIFY_LAUNCH_DIR"
LAUNCH_DIR_PREFIX = "deployverify-launch-"
OWNER_FILE = "owner.json"
#: seconds a deployment has, after its launcher is gone, to stop before the watchdog signals it
WATCHDOG_GRACE_S = 5.0


@dataclass(frozen=True)
class OwnerRecord:
    """Who a launch directory belongs to (``owner.json``)."""

    #: the pytest process that launched (the xdist controller under xdist)
    owner: Proc
    #: the environment marker its processes carry (``DEPLOYVERIFY_LAUNCH_DIR`` value)
    marker: str
    leader: Proc | None = None
    watchdog: Proc | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "owner": self.owner.to_json(),
            "marker": self.marker,
            "leader": self.leader.to_json() if self.leader else None,
            "watchdog": self.watchdog.to_json() if self.watchdog else None,
        }

    @classmethod
    def read(cls, launch_dir: Path) -> OwnerRecord | None:
        """The record, None when absent (still being created, or an older plugin's) or
        unreadable."""
        try:
            data = json.loads((launch_dir / OWNER_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict):
            return None
        owner = Proc.from_json(data.get("owner"))
        marker = data.get("marker")
        if owner is None or not isinstance(marker, str) or not marker:
            return None
        return cls(
            owner=owner,
            marker=marker,
            leader=Proc.from_json(data.get("leader")),
            watchdog=Proc.from_json(data.get("watchdog")),
        )

    def write(self, launch_dir: Path) -> None:
        tmp = launch_dir / f".{OWNER_FILE}.tmp"
        tmp.write_text(json.dumps(self.to_json()), encoding="utf-8")
        os.replace(tmp, launch_dir / OWNER_FILE)


@dataclass
class Lifeline:
    """The pipe, the watchdog and the owner record of one launch directory."""

    launch_dir: Path
    read_fd: int
    write_fd: int
    record: OwnerRecord
    watchdog: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def open(cls, launch_dir: Path) -> Lifeline:
        """The pipe and a first owner record (before anything is started, so a run killed
        right now still leaves a directory the next run can reap)."""
        me = current(os.getpid()) or Proc(os.getpid(), 0)
        record = OwnerRecord(owner=me, marker=str(launch_dir))
        record.write(launch_dir)
        read_fd, write_fd = os.pipe()  # both close-on-exec: children get only what we pass
        return cls(launch_dir=launch_dir, read_fd=read_fd, write_fd=write_fd, record=record)

    def env(self) -> dict[str, str]:
        """What the launch command's environment gets."""
        return {PARENT_FD_VAR: str(self.read_fd), LAUNCH_DIR_VAR: self.record.marker}

    def attach(self, leader_pid: int) -> None:
        """After the launch command started: start the watchdog, complete the owner record,
        and drop this process's read end (from now on only children hold one)."""
        leader = current(leader_pid)
        env = {k: v for k, v in os.environ.items() if k not in (PARENT_FD_VAR, LAUNCH_DIR_VAR)}
        # the watchdog must import this package even when pytest found it through sys.path
        package_root = str(Path(__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
        argv = [
            sys.executable,
            "-m",
            "pytest_deployverify.watchdog",
            "--fd",
            str(self.read_fd),
            "--launch-dir",
            str(self.launch_dir),
            "--marker",
            self.record.marker,
            "--grace",
            f"{WATCHDOG_GRACE_S:g}",
        ]
        if leader is not None:
            argv += ["--leader", f"{leader.pid}:{leader.start}"]
        watchdog = None
        try:
            self.watchdog = subprocess.Popen(
                argv,
                cwd="/",
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(self.read_fd,),
                start_new_session=True,  # a CI job killing pytest's group must not take it
            )
            watchdog = current(self.watchdog.pid)
        except OSError:
            # The pipe contract still holds without it; the next run reaps what is left.
            self.watchdog = None
        self.record = OwnerRecord(
            owner=self.record.owner, marker=self.record.marker, leader=leader, watchdog=watchdog
        )
        with contextlib.suppress(OSError):
            self.record.write(self.launch_dir)
        self._close_read()

    def _close_read(self) -> None:
        if self.read_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.read_fd)
            self.read_fd = -1

    def cut(self, wait: float = 2.0) -> None:
        """Close the write end: the deployment and the watchdog see end-of-file. Idempotent.
        Waits up to ``wait`` s for the watchdog (it exits at once when nothing is left)."""
        self._close_read()
        if self.write_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.write_fd)
            self.write_fd = -1
        if self.watchdog is not None:
            # still running after ``wait``: it carries on alone, bounded by its own timeouts
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.watchdog.wait(timeout=wait)
