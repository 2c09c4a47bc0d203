"""Embedded deployments: start the launch command, wait for its ready file, stop it.

The launch command (``[tool.deployverify.envs.NAME] launch``) runs in its own process group
with per-session random secrets in its environment (``launch_secrets``). It signals readiness
by writing a JSON ready file (atomically) with at least ``api_url``. At session end the group
gets SIGTERM, then SIGKILL after a grace period, so no process outlives the session. If the
session dies without stopping it, the lifeline (:mod:`pytest_deployverify.lifeline`) tells
the launch command, and a watchdog stops whatever ignores that; the next launch reaps what
even the watchdog left (:mod:`pytest_deployverify.reaper`).

Only the controller launches (a non-xdist run counts as one); xdist workers get the ready-file
data and the secrets through ``workerinput``.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets as secrets_mod
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_deployverify.config import LaunchSpec
from pytest_deployverify.lifeline import LAUNCH_DIR_PREFIX, Lifeline
from pytest_deployverify.redact import redact_text
from pytest_deployverify.settings import ConfigError

#: stderr lines shown when a launch fails
TAIL_LINES = 15


#: The embedded deployment did not start; the message carries the launcher's stderr tail.
LaunchError = ConfigError


def generate_secrets(spec: LaunchSpec) -> dict[str, str]:
    """A fresh random value for every secret the launch command needs (name -> value)."""
    return {secret_name: secrets_mod.token_urlsafe(24) for _, secret_name in spec.secrets}


def build_command(spec: LaunchSpec, *, ready_file: Path, python: str | None = None) -> list[str]:
    """The argv: split the template first, then fill the placeholders, so paths with spaces
    stay one argument."""
    values = {
        "python": python or sys.executable,
        "ready_file": str(ready_file),
        "rootdir": spec.cwd or os.getcwd(),
    }
    try:
        return [part.format(**values) for part in shlex.split(spec.command)]
    except (KeyError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"launch command {spec.command!r} is not valid ({exc}); it may use the placeholders "
            f"{{python}}, {{ready_file}} and {{rootdir}} only."
        ) from None


@dataclass
class Deployment:
    """A running embedded deployment started by this session."""

    process: subprocess.Popen[bytes]
    workdir: Path
    ready_file: Path
    log_file: Path
    data: dict[str, Any] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict, repr=False)
    stopped: bool = False
    lifeline: Lifeline | None = field(default=None, repr=False)

    @property
    def api_url(self) -> str:
        return str(self.data["api_url"]).rstrip("/")

    @property
    def pid(self) -> int:
        return self.process.pid

    def log_tail(self, lines: int = TAIL_LINES) -> str:
        """The launcher's last output lines, redacted."""
        try:
            text = self.log_file.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        tail = "\n".join(text.rstrip().splitlines()[-lines:])
        return redact_text(tail, list(self.secrets.values()))

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM the process group, SIGKILL it after ``grace`` seconds; idempotent."""
        if self.stopped:
            return self.process.returncode
        self.stopped = True
        _signal_group(self.process, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=grace)
        # the launcher may be gone while children it started in its group linger
        _signal_group(self.process, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        shutil.rmtree(self.workdir, ignore_errors=True)
        if self.lifeline is not None:
            self.lifeline.cut()
        return self.process.returncode


def _signal_group(process: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def start(
    spec: LaunchSpec,
    *,
    env_name: str,
    timeout: float = 60.0,
    python: str | None = None,
    environ: dict[str, str] | None = None,
    notify: Callable[[str], None] | None = None,
) -> Deployment:
    """Start ``spec`` and wait (at most ``timeout`` s) until its ready file names ``api_url``.

    Raises :class:`LaunchError` (a ``pytest.UsageError``) with the launcher's redacted stderr
    tail when it exits early, times out or writes an unusable ready file; the process group is
    stopped before raising. ``notify`` gets one line per stale launch directory reaped first.
    """
    from pytest_deployverify.reaper import reap_stale

    for line in reap_stale():
        (notify or _stderr_line)(line)
    workdir = Path(tempfile.mkdtemp(prefix=LAUNCH_DIR_PREFIX))
    lifeline = Lifeline.open(workdir)
    ready_file = workdir / "ready.json"
    log_file = workdir / "launch.log"
    argv = build_command(spec, ready_file=ready_file, python=python)
    generated = generate_secrets(spec)
    env = dict(os.environ if environ is None else environ)
    env.update(dict(spec.env))
    for var, secret_name in spec.secrets:
        env[var] = generated[secret_name]
    env.update(lifeline.env())
    log = log_file.open("wb")
    try:
        process = subprocess.Popen(
            argv,
            cwd=spec.cwd or None,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches its children
            pass_fds=(lifeline.read_fd,),
        )
    except OSError as exc:
        log.close()
        lifeline.cut()
        shutil.rmtree(workdir, ignore_errors=True)
        raise LaunchError(
            f"could not start the embedded deployment for target {env_name!r}: {argv[0]!r}: "
            f"{exc.strerror or exc}. Check the launch command in "
            f"[tool.deployverify.envs.{env_name}]."
        ) from None
    finally:
        if not log.closed:
            log.close()
    lifeline.attach(process.pid)
    deployment = Deployment(
        process=process,
        workdir=workdir,
        ready_file=ready_file,
        log_file=log_file,
        secrets=generated,
        lifeline=lifeline,
    )
    try:
        deployment.data = _wait_ready(deployment, timeout=timeout, env_name=env_name)
    except BaseException:
        deployment.stop(grace=3.0)
        raise
    return deployment


def _wait_ready(deployment: Deployment, *, timeout: float, env_name: str) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        if deployment.ready_file.exists():
            try:
                data = json.loads(deployment.ready_file.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None  # written non-atomically and caught half-way: read again
            if isinstance(data, dict) and data.get("api_url"):
                return data
        code = deployment.process.poll()
        if code is not None:
            raise LaunchError(
                f"the embedded deployment for target {env_name!r} exited with status {code} "
                f"before it was ready. Last launcher output:\n{_indent(deployment.log_tail())}\n"
                f"Fix the launch command in [tool.deployverify.envs.{env_name}] or its "
                f"environment."
            )
        if time.monotonic() > deadline:
            raise LaunchError(
                f"the embedded deployment for target {env_name!r} was not ready within "
                f"{timeout:g} s (no api_url in its ready file). Last launcher output:\n"
                f"{_indent(deployment.log_tail())}\nRaise --launch-timeout or fix the launch "
                f"command."
            )
        time.sleep(delay)
        delay = min(delay * 1.5, 0.2)


def _stderr_line(line: str) -> None:
    sys.stderr.write(line + "\n")


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in (text or "(no output)").splitlines())
