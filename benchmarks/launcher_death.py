"""How long a launched deployment outlives a SIGKILLed pytest session (issue 18).

    .venv/bin/python benchmarks/launcher_death.py [--runs 3] [--postgres]

Each trial starts ``pytest --target-env=...`` in a throwaway project (its own TMPDIR), waits
until its one test holds the embedded deployment, SIGKILLs pytest, and measures the time until
no process of the deployment remains (every process whose environment carries the launch
directory, their descendants, the pids of the ready file, the watchdog) and no launch, data
or PostgreSQL directory is left. Scenarios, in the same run:

* docservice on SQLite (and on PostgreSQL with ``--postgres``): follows the lifeline itself;
* a script server following the lifeline (tests/plugin/servers/lifeline_server.py);
* the same server ignoring it: the named alternative, only the watchdog stops it
  (5 s grace, then SIGTERM) - what any launch command that ignores the contract gets.

Also: the watchdog's own start-up cost (``python -m pytest_deployverify.watchdog --help``).
Prints one line per scenario (median and max seconds). Exit status 1 when a trial leaves
anything behind after 30 s.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SERVER = REPO / "tests" / "plugin" / "servers" / "lifeline_server.py"
HOLD = """
import json, os, time
from pathlib import Path

def test_hold(target):
    hold = Path(os.environ["DV_HOLD_DIR"])
    (hold / "d.tmp").write_text(json.dumps(dict(target.deployment)))
    os.replace(hold / "d.tmp", hold / "deployment.json")
    parent = os.getppid()
    while os.getppid() == parent:
        time.sleep(0.05)
"""
SECRETS = '{ DOCSERVICE_API_TOKENS = "api_token", DOCSERVICE_WEBHOOK_SECRET = "webhook_secret" }'


def _envs(state: Path) -> dict[str, str]:
    server = f"{{python}} {SERVER} --ready-file {{ready_file}} --state-dir {state}"
    return {
        "sqlite": f'launch = "{{python}} -m docservice up --ready-file {{ready_file}}"\n'
        f'launch_secrets = {SECRETS}\nauth = "bearer:api_token"',
        "postgres": f'launch = "{{python}} -m docservice up --ready-file {{ready_file}} '
        f'--database postgres --workers 2"\nlaunch_secrets = {SECRETS}\nauth = "bearer:api_token"',
        "script": f'launch = "{server}"\nversion_path = ""',
        "ignoring": f'launch = "{server} --ignore-lifeline"\nversion_path = ""',
    }


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _marked(marker: str) -> set[int]:
    needle = b"\0DEPLOYVERIFY_LAUNCH_DIR=" + marker.encode() + b"\0"
    found: set[int] = set()
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or not _running(int(entry.name)):
            continue
        try:
            parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if needle in b"\0" + (entry / "environ").read_bytes():
                found.add(int(entry.name))
        except (OSError, IndexError, ValueError):
            continue
    while grown := {pid for pid, ppid in parent.items() if ppid in found} - found:
        found |= grown
    return found


def _leftovers(root: Path, launch_dir: Path, deployment: dict, watchdog: int) -> list[str]:
    pids = {deployment["pid"], watchdog, *_marked(str(launch_dir))}
    for name, value in (deployment.get("pids") or {}).items():
        pids.update(value if name == "workers" else [value])
    left = [f"pid {p}" for p in sorted(pids) if _running(p)]
    left += [p.name for p in root.iterdir() if p.name.startswith(("deployverify-", "docservice-"))]
    return left


def trial(env: str) -> float:
    """Seconds from SIGKILL until everything of the deployment is gone."""
    root = Path(tempfile.mkdtemp(prefix="dv-bench-"))
    root.chmod(0o755)  # PostgreSQL runs as the postgres user when we are root
    try:
        project, hold, state = root / "project", root / "hold", root / "state"
        project.mkdir()
        hold.mkdir()
        (project / "pyproject.toml").write_text(
            f"[tool.deployverify.envs.{env}]\n{_envs(state)[env]}\n"
        )
        (project / "test_hold.py").write_text(textwrap.dedent(HOLD))
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        environ.update(TMPDIR=str(root), DV_HOLD_DIR=str(hold))
        proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", f"--target-env={env}"],
            cwd=project,
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 180
        while not (hold / "deployment.json").exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{env}: the session never held its deployment")
            time.sleep(0.05)
        deployment = json.loads((hold / "deployment.json").read_text())
        (launch_dir,) = root.glob("deployverify-launch-*")
        watchdog = json.loads((launch_dir / "owner.json").read_text())["watchdog"]["pid"]
        started = time.monotonic()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        while left := _leftovers(root, launch_dir, deployment, watchdog):
            if time.monotonic() - started > 30:
                raise SystemExit(f"{env}: still there after 30 s: {left}")
            time.sleep(0.02)
        return time.monotonic() - started
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--postgres", action="store_true", help="also docservice on PostgreSQL")
    args = parser.parse_args()
    started = time.monotonic()
    subprocess.run([sys.executable, "-m", "pytest_deployverify.watchdog", "--help"], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    print(f"watchdog start-up (python -m ... --help): {time.monotonic() - started:.3f} s")
    envs = ["sqlite", *(["postgres"] if args.postgres else []), "script", "ignoring"]
    for env in envs:
        times = [trial(env) for _ in range(args.runs)]
        print(
            f"{env:9s} gone after SIGKILL: median {statistics.median(times):.2f} s, "
            f"max {max(times):.2f} s ({args.runs} runs)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
