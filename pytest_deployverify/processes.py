"""The processes of a launched deployment: found, and stopped, without touching anyone else's.

A deployment's processes are those whose environment carries its marker
(``DEPLOYVERIFY_LAUNCH_DIR=<launch dir>``, inherited by everything the launch command starts
unless it scrubs its children's environment), plus, while the launch command itself lives,
the members of its process group, plus the descendants of all of these (PostgreSQL, for one,
overwrites its children's environment with their process titles). A process is named by ``(pid, start time)``, so a recycled
pid is never signalled. Linux reads ``/proc``; elsewhere only the launch command is known.

Standard library only: the watchdog (``python -m pytest_deployverify.watchdog``) imports this.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")
#: how often a wait looks at one known process (one small read)
POLL_S = 0.05
#: how often a wait re-reads the whole process table: under load a scan takes CPU time from
#: the very clean-up it waits for
SCAN_POLL_S = 0.25


@dataclass(frozen=True)
class Proc:
    """One process, named so that a later process reusing its pid is a different one."""

    pid: int
    #: clock ticks after boot (``/proc/PID/stat`` field 22); 0 where ``/proc`` is missing
    start: int

    def to_json(self) -> dict[str, int]:
        return {"pid": self.pid, "start": self.start}

    @classmethod
    def from_json(cls, data: object) -> Proc | None:
        if not isinstance(data, dict):
            return None
        pid, start = data.get("pid"), data.get("start")
        if isinstance(pid, int) and isinstance(start, int) and pid > 0:
            return cls(pid, start)
        return None


@dataclass(frozen=True)
class _Stat:
    state: str
    parent: int
    group: int
    start: int


def _stat(pid: int) -> _Stat | None:
    """``/proc/PID/stat`` of ``pid``; None when it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    # the command name (field 2) may hold spaces and parentheses: split after the last ')'
    rest = text.rsplit(")", 1)[-1].split()
    try:
        return _Stat(rest[0], int(rest[1]), int(rest[2]), int(rest[19]))
    except (IndexError, ValueError):
        return None


def current(pid: int) -> Proc | None:
    """``pid`` as it is now, None when no such process runs (a zombie has stopped running)."""
    if not PROC.is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return Proc(pid, 0)
    stat = _stat(pid)
    if stat is None or stat.state in ("Z", "X"):
        return None
    return Proc(pid, stat.start)


def alive(proc: Proc) -> bool:
    """Whether this very process still runs (not merely one with the same pid)."""
    now = current(proc.pid)
    return now is not None and (proc.start == 0 or now.start == proc.start)


def members(marker: str, leader: Proc | None, var: str) -> list[Proc]:
    """The running processes of one deployment: environment ``var=marker``, the live
    ``leader``'s process group, and their descendants. Never this process itself."""
    leader_alive = leader is not None and alive(leader)
    if not PROC.is_dir():
        return [leader] if leader is not None and leader_alive else []
    needle = b"\0" + f"{var}={marker}".encode() + b"\0"
    running: dict[int, _Stat] = {}
    found: set[int] = set()
    me = os.getpid()
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        pid = int(entry.name)
        stat = _stat(pid)
        if stat is None or stat.state in ("Z", "X"):
            continue
        running[pid] = stat
        if leader_alive and leader is not None and stat.group == leader.pid:
            found.add(pid)
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:  # another user's process, or gone meanwhile
            continue
        if needle in b"\0" + environ:
            found.add(pid)
    children: dict[int, list[int]] = {}
    for pid, stat in running.items():
        children.setdefault(stat.parent, []).append(pid)
    todo = list(found)
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:
                found.add(child)
                todo.append(child)
    return [Proc(pid, running[pid].start) for pid in sorted(found)]


def send(procs: list[Proc], sig: int) -> None:
    """Signal each process that is still the one named (a recycled pid is left alone)."""
    for proc in procs:
        if alive(proc):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(proc.pid, sig)


def wait_gone(
    find: Callable[[], list[Proc]], timeout: float, poll: float = SCAN_POLL_S
) -> list[Proc]:
    """Re-read ``find()`` until it is empty or ``timeout`` s passed; what is left."""
    deadline = time.monotonic() + timeout
    while True:
        left = find()
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(poll)


def _wait_leader_then_all(
    find: Callable[[], list[Proc]], leader: Proc | None, timeout: float
) -> list[Proc]:
    """:func:`wait_gone`, watching only ``leader`` while it runs (cheap), then everyone."""
    deadline = time.monotonic() + timeout
    if leader is not None:
        wait_gone(lambda: [leader] if alive(leader) else [], timeout, poll=POLL_S)
    return wait_gone(find, max(0.0, deadline - time.monotonic()))


def stop_all(
    find: Callable[[], list[Proc]],
    *,
    grace: float,
    leader: Proc | None = None,
    leader_wait: float = 10.0,
    term_wait: float = 3.0,
) -> int:
    """Give the processes ``find()`` names ``grace`` s to exit on their own. A ``leader`` (the
    launch command) still running then gets what a normal session end gives it: SIGTERM, and
    ``leader_wait`` s to stop its own children and clean up, undisturbed. Whatever is left
    then gets SIGTERM, and SIGKILL after ``term_wait`` s. Returns how many were signalled."""
    left = _wait_leader_then_all(find, leader, grace)
    if not left:
        return 0
    signalled: set[Proc] = set()
    if leader is not None and leader in left:
        signalled.add(leader)
        send([leader], signal.SIGTERM)
        wait_gone(lambda: [leader] if alive(leader) else [], leader_wait, poll=POLL_S)
        left = find()
        if not left:
            return len(signalled)
    signalled.update(left)
    send(left, signal.SIGTERM)
    left = wait_gone(find, term_wait)
    if left:
        signalled.update(left)
        send(left, signal.SIGKILL)
        wait_gone(find, 2.0)
    return len(signalled)
