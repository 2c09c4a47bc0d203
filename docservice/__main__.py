"""``python -m docservice {up,api,worker,standin,migrate}``: the service's command line.

``up`` is the launcher (a whole local deployment); the others run one component each and
are what the launcher starts. Heavy imports happen inside each command.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any


def _prepare(service: str, metrics: bool = True) -> Any:
    """Settings from the environment, JSON logging, and the shared metrics directory."""
    from docservice.faults import FaultError
    from docservice.logs import setup_logging
    from docservice.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except (FaultError, SettingsError) as exc:
        sys.stderr.write(f"docservice {service}: {exc}\n")
        raise SystemExit(2) from None
    # Must be set before prometheus_client is first imported (it reads it at import).
    if metrics:
        metrics_dir = Path(
            os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(settings.data_dir / "metrics"))
        )
        metrics_dir.mkdir(parents=True, exist_ok=True)
    setup_logging(service, settings.log_level)
    return settings


def _serve(app: Any, host: str, port: int, fd: int | None) -> None:
    """Run ``app`` under uvicorn, on an inherited listening socket when ``fd`` is given."""
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=3,
        timeout_keep_alive=5,
    )
    server = uvicorn.Server(config)
    if fd is not None:
        # The launcher bound (and listens on) this socket, so the port is ours before any
        # other process can take it: two launchers never race for a port.
        server.run(sockets=[socket.socket(fileno=fd)])
    else:
        server.run()


def _migrate(settings: Any) -> int:
    from docservice.clock import Clock
    from docservice.db import DRIFT_SKIPPED, Database

    skip = DRIFT_SKIPPED if "schema_drift" in settings.faults else frozenset()
    db = Database(settings.database_url)
    try:
        return db.migrate(Clock().iso(), skip=skip)
    finally:
        db.close()


def cmd_api(args: argparse.Namespace) -> int:
    settings = _prepare("api")
    _migrate(settings)
    from docservice.api import create_app

    _serve(create_app(settings), args.host, args.port, args.fd)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _prepare("worker")
    from docservice.worker import Worker

    worker = Worker(settings, args.id or f"worker-{socket.gethostname()}-{os.getpid()}")

    def _stop(signum: int, _frame: Any) -> None:
        worker.stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    worker.run()
    return 0


def cmd_standin(args: argparse.Namespace) -> int:
    from docservice.logs import setup_logging
    from docservice.standins import create_app
    from docservice.standins._common import StandinConfigError

    setup_logging(f"standin-{args.which}", os.environ.get("DOCSERVICE_LOG_LEVEL", "INFO"))
    try:
        app = create_app(args.which)
    except (StandinConfigError, ValueError) as exc:
        sys.stderr.write(f"docservice stand-in {args.which}: {exc}\n")
        return 2
    _serve(app, args.host, args.port, args.fd)
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = _prepare("migrate", metrics=False)
    version = _migrate(settings)
    print(f"schema version {version}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from docservice.launcher import run_launcher

    return run_launcher(args)


def build_parser() -> argparse.ArgumentParser:
    """The CLI: one sub-command per component plus ``up`` for a whole deployment."""
    parser = argparse.ArgumentParser(prog="python -m docservice", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start a whole local deployment in the foreground")
    up.add_argument(
        "--ready-file", required=True, type=Path, help="write the URLs here (JSON) once ready"
    )
    up.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    up.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    up.add_argument(
        "--database-url", default=None, help="use this PostgreSQL instead of starting one"
    )
    up.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME[=VALUE]",
        help="fault switch (repeatable)",
    )
    up.add_argument(
        "--real-services",
        action="store_true",
        help="start no stand-ins: call DOCSERVICE_PARSER_URL and DOCSERVICE_EMBEDDINGS_URL with "
        "DOCSERVICE_PARSER_API_KEY / DOCSERVICE_EMBEDDINGS_API_KEY (the real LlamaParse/OpenAI)",
    )
    up.add_argument(
        "--latency-ms", type=float, default=None, help="stand-in base latency per call (default 20)"
    )
    up.add_argument(
        "--data-dir", type=Path, default=None, help="default: a temporary directory removed on exit"
    )
    up.add_argument(
        "--ready-timeout", type=float, default=60.0, help="seconds to wait for every part to answer"
    )
    up.add_argument(
        "--pg-bin",
        default="/usr/lib/postgresql/15/bin",
        help="PostgreSQL binaries for --database postgres",
    )
    up.add_argument(
        "--with-prometheus",
        action="store_true",
        help="also start a Prometheus (loopback) scraping the API every second with the alert "
        "rules; its URL goes in the ready file as prometheus_url",
    )
    up.add_argument(
        "--prometheus-rules",
        type=Path,
        default=None,
        help="rules file for --with-prometheus (default: monitoring/prometheus/rules.yml)",
    )
    up.add_argument(
        "--prometheus-bin", default="prometheus", help="the prometheus binary (default: on PATH)"
    )
    up.set_defaults(func=cmd_up)

    for name, func, helptext in (
        ("api", cmd_api, "serve the HTTP API (migrates the database first)"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        p.add_argument(
            "--fd", type=int, default=None, help="serve on this inherited listening socket"
        )
        p.set_defaults(func=func)

    w = sub.add_parser("worker", help="run one BaseWorker process")
    w.add_argument("--id", default=None, help="worker id shown in heartbeats (default host-pid)")
    w.set_defaults(func=cmd_worker)

    s = sub.add_parser("standin", help="run a stand-in external service")
    s.add_argument("which", choices=("parser", "embeddings"))
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--fd", type=int, default=None, help="serve on this inherited listening socket")
    s.set_defaults(func=cmd_standin)

    m = sub.add_parser("migrate", help="apply the database migrations and exit")
    m.set_defaults(func=cmd_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; configuration and database errors end in one line, not a traceback."""
    from docservice.db import DatabaseError

    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except DatabaseError as exc:
        sys.stderr.write(f"docservice {args.command}: {exc}\n")
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
