"""``python -m pytest_deployverify.watchdog``: stop a deployment whose launcher is gone.

Started by :mod:`pytest_deployverify.lifeline` next to every launch command, in a session
of its own, holding the read end of the session's lifeline pipe. It blocks on that pipe; at
end-of-file (the session stopped the deployment, or died) it gives the deployment's
processes ``--grace`` seconds to exit on their own, as the contract asks; then the launch
command gets SIGTERM and 10 s to stop (what a normal session end gives it), then whatever is
left gets SIGTERM and SIGKILL. Then it removes the launch directory and exits. After a normal stop nothing
is left and it exits at once.

Standard library only, and no pytest: it must start fast and outlive the session.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from pytest_deployverify.lifeline import LAUNCH_DIR_VAR
from pytest_deployverify.processes import Proc, members, stop_all


def _wait_for_eof(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass  # nobody writes; data would not mean anything
    except OSError:
        pass  # a broken descriptor means the same: stop waiting


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pytest_deployverify.watchdog")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--launch-dir", type=Path, required=True)
    parser.add_argument("--marker", required=True)
    parser.add_argument("--grace", type=float, default=5.0)
    parser.add_argument("--leader", default=None, help="PID:START of the launch command")
    args = parser.parse_args(argv)
    leader = None
    if args.leader:
        pid, start = args.leader.split(":")
        leader = Proc(int(pid), int(start))
    _wait_for_eof(args.fd)
    os.close(args.fd)
    stop_all(lambda: members(args.marker, leader, LAUNCH_DIR_VAR), grace=args.grace, leader=leader)
    shutil.rmtree(args.launch_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
