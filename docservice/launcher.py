"""``python -m docservice up``: a whole local deployment in the foreground.

Starts the two stand-ins (or, with `--real-services`, calls the parser and embeddings URLs
the environment names), PostgreSQL when asked, the API and the worker(s), each in its own
process group on loopback sockets this process bound first (handed over as file
descriptors, so two launchers can never race for a port). Once every part answers it writes
the ready file atomically; on SIGINT/SIGTERM (or SIGHUP) it stops every child - SIGTERM to
each process group, SIGKILL after a grace period - and removes what it created. Children
also get a parent-death signal, so even a SIGKILLed launcher leaves nothing running. Started
by pytest-deployverify, it also stops when the session that launched it is gone, however it
died (``DEPLOYVERIFY_PARENT_FD``, see docservice/lifeline.py).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docservice.faults import FaultError, Faults, parse_faults
from docservice.logs import log, setup_logging
from docservice.settings import REAL_PARSER_NAME, STANDIN_PARSER_NAME, git_revision
from docservice.supervisor import Supervisor

logger = logging.getLogger("docservice.launcher")
DEFAULT_LATENCY_MS = 20.0
#: What `up --real-services` needs from the environment instead of starting the stand-ins.
REAL_SERVICE_VARS = (
    "DOCSERVICE_PARSER_URL",
    "DOCSERVICE_PARSER_API_KEY",
    "DOCSERVICE_EMBEDDINGS_URL",
    "DOCSERVICE_EMBEDDINGS_API_KEY",
)
GRACE_S = 5.0


class LaunchError(RuntimeError):
    """The deployment could not be started; the message names the part and its log."""


@dataclass
class Child:
    """One started process (leader of its own process group)."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path
    argv: list[str] = field(default_factory=list)  # what started it, to start it again
    env: dict[str, str] = field(default_factory=dict, repr=False)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class Launch:
    """Everything one launcher run owns, so shutdown can undo all of it."""

    args: argparse.Namespace
    faults: Faults
    data_dir: Path
    own_data_dir: bool
    children: list[Child] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)
    pg: Any = None
    lock_file: Any = None
    ready_written: bool = False
    stopping: threading.Event = field(default_factory=threading.Event)


def _listen() -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock, f"http://127.0.0.1:{sock.getsockname()[1]}"


def _dead_url(launch: Launch) -> str:
    """A bound socket that never listens: connections are refused, and no other process can
    take the port while we run."""
    dead = socket.socket()
    dead.bind(("127.0.0.1", 0))
    launch.sockets.append(dead)
    return f"http://127.0.0.1:{dead.getsockname()[1]}"


def _child_preexec() -> None:
    from docservice.pg import _set_pdeathsig

    _set_pdeathsig(signal.SIGTERM)


def _spawn(
    launch: Launch, name: str, argv: list[str], env: dict[str, str], fd: int | None = None
) -> Child:
    log_path = launch.data_dir / "logs" / f"{name}.log"
    with open(log_path, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "docservice", *argv],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # own process group: stop() signals the whole group
            pass_fds=(fd,) if fd is not None else (),
            preexec_fn=_child_preexec,
        )
    child = Child(name, proc, log_path, argv, env)
    launch.children.append(child)
    return child


def _get(url: str, timeout: float = 1.0) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, None
    except (OSError, ValueError):
        return 0, None


def _secret_env(data_dir: Path) -> tuple[dict[str, str], bool]:
    """API tokens and webhook secret from the environment, or fresh random ones."""
    env: dict[str, str] = {}
    generated = False
    tokens = os.environ.get("DOCSERVICE_API_TOKENS", "").strip()
    secret = os.environ.get("DOCSERVICE_WEBHOOK_SECRET", "").strip()
    if not tokens:
        tokens, generated = f"{secrets.token_urlsafe(24)}=local", True
    if not secret:
        secret, generated = secrets.token_hex(32), True
    env["DOCSERVICE_API_TOKENS"], env["DOCSERVICE_WEBHOOK_SECRET"] = tokens, secret
    if generated:
        path = data_dir / "secrets.env"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(f"DOCSERVICE_API_TOKENS={tokens}\nDOCSERVICE_WEBHOOK_SECRET={secret}\n")
        log(
            logger,
            "no DOCSERVICE_API_TOKENS/DOCSERVICE_WEBHOOK_SECRET in the environment: "
            "generated random ones for this run (values not logged)",
            secrets_file=str(path),
        )
    return env, generated


def _write_ready(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(payload, indent=2))
    os.replace(tmp, path)


def _start(launch: Launch) -> dict[str, Any]:
    """Start every part and wait until it answers; returns the ready-file payload."""
    args, faults = launch.args, launch.faults
    started = time.monotonic()
    (launch.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    metrics_dir = launch.data_dir / "metrics"
    shutil.rmtree(metrics_dir, ignore_errors=True)  # counters start at zero for every run
    metrics_dir.mkdir()
    secret_env, generated = _secret_env(launch.data_dir)
    standin_key = secrets.token_urlsafe(24)  # between docservice and its stand-ins only

    api_sock, api_url = _listen()
    if args.real_services:
        # Wired to the real services by configuration alone (run_launcher checked the
        # variables): no stand-in runs, docservice calls the URLs with the keys it was given.
        parser_url = os.environ["DOCSERVICE_PARSER_URL"].strip().rstrip("/")
        emb_url = os.environ["DOCSERVICE_EMBEDDINGS_URL"].strip().rstrip("/")
        parser_key = os.environ["DOCSERVICE_PARSER_API_KEY"].strip()
        emb_key = os.environ["DOCSERVICE_EMBEDDINGS_API_KEY"].strip()
        listening = [api_sock]
    else:
        parser_sock, parser_url = _listen()
        emb_sock, emb_url = _listen()
        parser_key = emb_key = standin_key
        listening = [api_sock, parser_sock, emb_sock]
    launch.sockets += listening
    service_emb_url, service_parser_url = emb_url, parser_url
    if "health_lies" in faults:
        service_emb_url = _dead_url(launch)
    if "parser_down" in faults:
        service_parser_url = _dead_url(launch)

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_MULTIPROC")}
    latency = (
        args.latency_ms
        if args.latency_ms is not None
        else float(os.environ.get("DOCSERVICE_STANDIN_LATENCY_MS") or DEFAULT_LATENCY_MS)
    )
    launch_id = str(uuid.uuid4())
    common = {
        **base_env,
        "DOCSERVICE_FAULTS": faults.to_env(),
        "DOCSERVICE_LAUNCH_ID": launch_id,
        "DOCSERVICE_DATA_DIR": str(launch.data_dir),
        "PYTHONUNBUFFERED": "1",
    }
    standin_env = {
        **common,
        "DOCSERVICE_STANDIN_API_KEY": standin_key,
        "DOCSERVICE_STANDIN_LATENCY_MS": f"{latency:g}",
    }
    if not args.real_services:
        _spawn(
            launch,
            "parser",
            ["standin", "parser", "--fd", str(parser_sock.fileno())],
            standin_env,
            parser_sock.fileno(),
        )
        _spawn(
            launch,
            "embeddings",
            ["standin", "embeddings", "--fd", str(emb_sock.fileno())],
            standin_env,
            emb_sock.fileno(),
        )

    if args.database == "postgres":
        if args.database_url:
            db_url = args.database_url
        else:
            from docservice.pg import start_postgres

            launch.pg = start_postgres(args.pg_bin, launch.data_dir / "logs" / "postgres.log")
            db_url = launch.pg.url
            log(logger, "postgres started", port=launch.pg.port)
    else:
        db_url = f"sqlite:///{launch.data_dir / 'docservice.sqlite3'}"
    # Migrate here, once, before API and workers start (they would also cope on their own).
    from docservice.clock import Clock
    from docservice.db import DRIFT_SKIPPED, Database

    db = Database(db_url)
    schema = db.migrate(
        Clock().iso(), skip=DRIFT_SKIPPED if "schema_drift" in faults else frozenset()
    )
    db.close()

    service_env = {
        **common,
        **secret_env,
        "DOCSERVICE_DATABASE_URL": db_url,
        # Behind a proxy the webhook address differs from where the API binds.
        "DOCSERVICE_PUBLIC_URL": os.environ.get("DOCSERVICE_PUBLIC_URL") or api_url,
        "DOCSERVICE_PARSER_URL": service_parser_url,
        "DOCSERVICE_PARSER_API_KEY": parser_key,
        "DOCSERVICE_EMBEDDINGS_URL": service_emb_url,
        "DOCSERVICE_EMBEDDINGS_API_KEY": emb_key,
        "DOCSERVICE_GIT_REVISION": os.environ.get("DOCSERVICE_GIT_REVISION") or git_revision(),
        # /version says which parser the deployment is wired to, not a constant
        "DOCSERVICE_PARSER_NAME": os.environ.get("DOCSERVICE_PARSER_NAME")
        or (REAL_PARSER_NAME if args.real_services else STANDIN_PARSER_NAME),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    _spawn(launch, "api", ["api", "--fd", str(api_sock.fileno())], service_env, api_sock.fileno())
    workers = 0 if "worker_down" in faults else args.workers
    for n in range(1, workers + 1):
        _spawn(
            launch, f"worker-{n}", ["worker", "--id", f"worker-{n}-{launch_id[:8]}"], service_env
        )
    for sock in listening:
        sock.close()  # the children hold their own copies

    _wait_ready(launch, api_url, parser_url, emb_url, workers)
    extra: dict[str, Any] = {}
    if args.with_prometheus:
        extra["prometheus_url"] = _start_prometheus(launch, api_url, started, launch_id)
    pids: dict[str, Any] = {
        c.name: c.proc.pid for c in launch.children if not c.name.startswith("worker")
    }
    pids["workers"] = [c.proc.pid for c in launch.children if c.name.startswith("worker")]
    if launch.pg is not None:
        pids["postgres"] = launch.pg.proc.pid
        extra["postgres_dir"] = str(launch.pg.base_dir)
    return {
        "api_url": api_url,
        "parser_url": parser_url,
        "embeddings_url": emb_url,
        "database": args.database,
        "workers": workers,
        "faults": dict(faults.active),
        "pid": os.getpid(),
        "pids": pids,
        "launch_id": launch_id,
        "data_dir": str(launch.data_dir),
        "logs_dir": str(launch.data_dir / "logs"),
        "schema_version": schema,
        "latency_ms": latency,
        "real_services": bool(args.real_services),
        "secrets_generated": generated,
        "started_in_s": round(time.monotonic() - started, 3),
        **extra,
    }


def _wait_ready(launch: Launch, api_url: str, parser_url: str, emb_url: str, workers: int) -> None:
    deadline = time.monotonic() + launch.args.ready_timeout
    # Real services are not ours to wait for: /health reports whether they answer.
    pending = {"api", "workers"} | (
        set() if launch.args.real_services else {"parser", "embeddings"}
    )
    while pending:
        if launch.stopping.is_set():
            raise LaunchError("stopped by a signal before the deployment was ready")
        for child in launch.children:
            if not child.alive():
                raise LaunchError(
                    f"{child.name} exited with status {child.proc.returncode} during start-up; "
                    f"its log ({child.log_path}) ends with:\n{child.log_tail()}"
                )
        if "parser" in pending and _get(f"{parser_url}/health")[0] == 200:
            pending.discard("parser")
        if "embeddings" in pending and _get(f"{emb_url}/health")[0] == 200:
            pending.discard("embeddings")
        if "api" in pending and _get(f"{api_url}/version")[0] == 200:
            pending.discard("api")
        if "workers" in pending and "api" not in pending:
            status, body = _get(f"{api_url}/health", timeout=3.0)
            seen = (
                ((body or {}).get("dependencies") or {}).get("worker", {}).get("workers", 0)
                if status
                else 0
            )
            if seen >= workers:
                pending.discard("workers")
        if not pending:
            return
        if time.monotonic() > deadline:
            raise LaunchError(
                f"not ready after {launch.args.ready_timeout:g} s: {', '.join(sorted(pending))} "
                f"did not answer; logs in {launch.data_dir / 'logs'}"
            )
        launch.stopping.wait(0.05)


def _start_prometheus(launch: Launch, api_url: str, started: float, launch_id: str) -> str:
    """``--with-prometheus``: a Prometheus scraping the API every second with the alert rules,
    in a temporary directory of its own, stopped with the other children and its directory
    removed when the launcher exits (docservice/prometheus.py)."""
    import atexit

    from docservice.prometheus import start_prometheus

    args = launch.args
    log_path = launch.data_dir / "logs" / "prometheus.log"
    directory = Path(tempfile.mkdtemp(prefix="docservice-prometheus-"))
    atexit.register(shutil.rmtree, directory, True)
    server = start_prometheus(
        args.prometheus_bin,
        directory,
        api_url,
        args.prometheus_rules,
        log_path,
        _child_preexec,
        timeout_s=max(5.0, args.ready_timeout - (time.monotonic() - started)),
        stopping=launch.stopping.is_set,
        env={**os.environ, "DOCSERVICE_LAUNCH_ID": launch_id},
    )
    launch.children.append(Child("prometheus", server.proc, log_path))
    log(logger, "prometheus started", url=server.url, rules=str(args.prometheus_rules))
    return server.url


def _stop(launch: Launch) -> None:
    """SIGTERM every process group (workers first), SIGKILL after GRACE_S, then clean up."""
    order = sorted(
        launch.children, key=lambda c: (not c.name.startswith("worker"), c.name == "api")
    )
    for child in order:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + GRACE_S
    for child in order:
        try:
            child.proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            log(logger, "child ignored SIGTERM; killing it", logging.WARNING, child=child.name)
        # Whatever is left in the group (grandchildren included) goes now.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.proc.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.proc.wait(5)
    if launch.pg is not None:
        launch.pg.stop()
    for sock in launch.sockets:
        sock.close()
    if launch.ready_written:
        launch.args.ready_file.unlink(missing_ok=True)
    if launch.lock_file is not None:
        launch.lock_file.close()
    if launch.own_data_dir:
        shutil.rmtree(launch.data_dir, ignore_errors=True)


def _supervise_workers(
    launch: Launch, supervisor: Supervisor, payload: dict[str, Any], reported: set[str]
) -> None:
    """Start dead workers again with backoff (docservice.supervisor); the ready file's worker
    pids follow, and each restarted worker reports its restart count in its heartbeat."""
    changed = False
    for child in [c for c in launch.children if c.name.startswith("worker")]:
        if child.alive() or launch.stopping.is_set():
            continue
        delay = supervisor.died(child.name)
        if not supervisor.due(child.name):
            if child.name not in reported:
                log(
                    logger,
                    "worker died; restarting",
                    logging.ERROR,
                    child=child.name,
                    status=child.proc.returncode,
                    restart_in_s=round(delay, 3),
                )
            continue
        launch.children.remove(child)
        restarts = supervisor.started(child.name)
        env = {**child.env, "DOCSERVICE_WORKER_RESTARTS": str(restarts)}
        _spawn(launch, child.name, child.argv, env)
        reported.discard(child.name)
        log(logger, "worker restarted", child=child.name, restarts=restarts)
        changed = True
    if changed and launch.ready_written:
        workers = [c for c in launch.children if c.name.startswith("worker")]
        payload["pids"]["workers"] = [c.proc.pid for c in workers]
        payload["worker_restarts"] = sum(supervisor.restarts(c.name) for c in workers)
        _write_ready(launch.args.ready_file, payload)


def run_launcher(args: argparse.Namespace) -> int:
    """The ``up`` command: start, write the ready file, wait for a signal, stop. Exit status:
    0 after a clean stop, 1 if the deployment could not start, 2 for bad options."""
    setup_logging("launcher", os.environ.get("DOCSERVICE_LOG_LEVEL", "INFO"))
    try:
        faults = parse_faults(os.environ.get("DOCSERVICE_FAULTS"), *args.fault)
    except FaultError as exc:
        sys.stderr.write(f"docservice up: {exc}\n")
        return 2
    if args.workers < 1:
        sys.stderr.write(f"docservice up: --workers must be at least 1, got {args.workers}\n")
        return 2
    missing = [n for n in REAL_SERVICE_VARS if not os.environ.get(n, "").strip()]
    if args.real_services and missing:
        sys.stderr.write(
            f"docservice up --real-services: set {', '.join(missing)} (the real parser's and "
            "embeddings API's URLs and keys, see docs/docservice.md), or drop --real-services "
            "to run the stand-ins\n"
        )
        return 2
    if args.database_url and args.database != "postgres":
        sys.stderr.write("docservice up: --database-url needs --database postgres\n")
        return 2
    if args.prometheus_rules is not None and not args.with_prometheus:
        sys.stderr.write("docservice up: --prometheus-rules needs --with-prometheus\n")
        return 2
    if args.with_prometheus:
        from docservice.prometheus import DEFAULT_RULES, PrometheusError, check_rules, find_binary

        try:
            args.prometheus_bin = find_binary(args.prometheus_bin)
            args.prometheus_rules = check_rules(args.prometheus_rules or DEFAULT_RULES)
        except PrometheusError as exc:
            sys.stderr.write(f"docservice up: {exc}\n")
            return 2
    if args.data_dir is None:
        data_dir, own = Path(tempfile.mkdtemp(prefix="docservice-")), True
    else:
        data_dir, own = args.data_dir.resolve(), False
        data_dir.mkdir(parents=True, exist_ok=True)
    launch = Launch(args=args, faults=faults, data_dir=data_dir, own_data_dir=own)
    lock = open(data_dir / "launcher.lock", "w")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.close()
        sys.stderr.write(
            f"docservice up: data dir {data_dir} is in use by another launcher; "
            "pass another --data-dir or omit it for a temporary one\n"
        )
        return 2
    launch.lock_file = lock

    def on_signal(signum: int, _frame: Any) -> None:
        launch.stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, on_signal)
    from docservice.lifeline import watch_launcher

    watch_launcher(launch.stopping.set)  # a SIGKILLed pytest stops us like SIGTERM would
    status = 0
    try:
        payload = _start(launch)
        _write_ready(args.ready_file, payload)
        launch.ready_written = True
        log(
            logger,
            "ready",
            **{
                k: payload[k]
                for k in (
                    "api_url",
                    "parser_url",
                    "embeddings_url",
                    "database",
                    "workers",
                    "faults",
                    "started_in_s",
                )
            },
        )
        reported: set[str] = set()
        supervisor = Supervisor()
        while not launch.stopping.wait(0.1):
            _supervise_workers(launch, supervisor, payload, reported)
            for child in launch.children:
                if not child.alive() and child.name not in reported:
                    reported.add(child.name)
                    log(
                        logger,
                        "child exited",
                        logging.ERROR,
                        child=child.name,
                        status=child.proc.returncode,
                        log_file=str(child.log_path),
                    )
        log(logger, "stopping")
    except Exception as exc:  # LaunchError, PostgresError, DatabaseError, OSError
        if not launch.stopping.is_set():
            sys.stderr.write(f"docservice up: {exc}\n")
            status = 1
    finally:
        _stop(launch)
    log(logger, "stopped", status=status)
    return status
