"""A throwaway PostgreSQL server from the machine's own binaries, for ``up --database postgres``.

initdb refuses to run as root, so when we are root the cluster belongs to the ``postgres``
user (setuid in the child). Everything lives in a private temp dir (data + unix socket)
that is removed on stop; the server listens on 127.0.0.1 only, on a free port.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


class PostgresError(RuntimeError):
    """PostgreSQL could not be started; the message says what to fix."""


@dataclass
class PgServer:
    """A running throwaway server; :meth:`stop` removes every trace of it."""

    proc: subprocess.Popen[bytes]
    base_dir: Path
    port: int
    url: str

    def stop(self, grace_s: float = 10.0) -> None:
        """Immediate shutdown (SIGQUIT: no shutdown checkpoint, the files are deleted next),
        then SIGKILL of the process group, then delete the files."""
        if self.proc.poll() is None:
            _signal_group(self.proc.pid, signal.SIGQUIT)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                _signal_group(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        _signal_group(self.proc.pid, signal.SIGKILL)  # stray backends, if any
        shutil.rmtree(self.base_dir, ignore_errors=True)


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _demote(uid: int | None, gid: int | None, deathsig: int) -> Callable[[], None]:
    def run() -> None:
        if gid is not None:
            os.setgroups([])
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)
        # After setuid: changing credentials clears the parent-death signal.
        _set_pdeathsig(deathsig)

    return run


def _set_pdeathsig(sig: int) -> None:
    """Linux: have the kernel send ``sig`` to this process when its parent dies."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, sig)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_postgres(bin_dir: str, log_path: Path, timeout_s: float = 30.0) -> PgServer:
    """initdb + start a server; returns once it accepts connections and has a database."""
    bin_path = Path(bin_dir)
    for tool in ("initdb", "postgres"):
        if not (bin_path / tool).exists():
            raise PostgresError(
                f"{bin_path / tool} not found; install PostgreSQL server binaries or pass "
                "--pg-bin DIR (or use --database-url / --database sqlite)"
            )
    uid = gid = None
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            raise PostgresError(
                "running as root but there is no 'postgres' user to own the cluster "
                "(initdb refuses root); create one or run the launcher as a normal user"
            ) from None
        uid, gid = pw.pw_uid, pw.pw_gid
    base = Path(tempfile.mkdtemp(prefix="docservice-pg-"))
    (base / "sock").mkdir()
    if uid is not None:
        for p in (base, base / "sock"):
            os.chown(p, uid, gid)  # type: ignore[arg-type]
    log = open(log_path, "ab")  # noqa: SIM115 - handed to the children, closed below
    try:
        init = subprocess.run(
            [str(bin_path / "initdb"), "-D", str(base / "data"), "-A", "trust", "-U", "postgres",
             "--no-sync", "-E", "UTF8", "--locale=C"],
            stdout=log, stderr=log, preexec_fn=_demote(uid, gid, signal.SIGKILL),
            timeout=120, check=False,
        )  # fmt: skip
        if init.returncode != 0:
            shutil.rmtree(base, ignore_errors=True)
            raise PostgresError(f"initdb failed (exit {init.returncode}); see {log_path}")
        last_error = ""
        for _attempt in range(3):  # a port taken between probe and bind: try another
            port = free_port()
            proc = subprocess.Popen(
                [str(bin_path / "postgres"), "-D", str(base / "data"), "-p", str(port),
                 "-k", str(base / "sock"), "-c", "listen_addresses=127.0.0.1",
                 "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
                 "-c", "max_connections=60"],
                stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True,
                preexec_fn=_demote(uid, gid, signal.SIGQUIT),
            )  # fmt: skip
            url = f"postgresql://postgres@127.0.0.1:{port}/postgres"
            server = PgServer(proc, base, port, url)
            error = _wait_ready(server, timeout_s)
            if error is None:
                server.url = _create_database(url, "docservice")
                return server
            last_error = error
            if proc.poll() is None:
                server.stop()
                raise PostgresError(
                    f"PostgreSQL did not accept connections: {error}; see {log_path}"
                )
        shutil.rmtree(base, ignore_errors=True)
        raise PostgresError(f"PostgreSQL did not start: {last_error}; see {log_path}")
    finally:
        log.close()


def _wait_ready(server: PgServer, timeout_s: float) -> str | None:
    import psycopg

    deadline = time.monotonic() + timeout_s
    error = "timed out"
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            return f"postgres exited with {server.proc.returncode}"
        try:
            with psycopg.connect(server.url, connect_timeout=2):
                return None
        except psycopg.OperationalError as exc:
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else "not ready"
        time.sleep(0.1)
    return error


def _create_database(url: str, name: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.rsplit("/", 1)[0] + f"/{name}"
