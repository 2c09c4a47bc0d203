"""A throwaway Prometheus for ``up --with-prometheus``: scrapes the deployment every second
and evaluates the repository's alert rules (monitoring/prometheus/rules.yml).

It runs the machine's own ``prometheus`` binary (Debian package ``prometheus``), listening on
127.0.0.1 only, with its configuration and TSDB in a temporary directory the launcher removes
when it exits. The launcher stops it with the rest of the deployment; it also gets the
parent-death signal every child gets.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: the rules the repository ships, next to the docservice package in a checkout
DEFAULT_RULES = Path(__file__).resolve().parents[1] / "monitoring" / "prometheus" / "rules.yml"
#: the scrape job name the rules select on (``up{job="docservice"}``)
JOB = "docservice"
SCRAPE_INTERVAL = "1s"


class PrometheusError(RuntimeError):
    """Prometheus could not be started; the message says what to fix."""


@dataclass
class PrometheusServer:
    """A started Prometheus process and where it answers."""

    proc: subprocess.Popen[bytes]
    url: str
    config_path: Path


def find_binary(binary: str) -> str:
    """The prometheus executable, or a PrometheusError saying how to get one."""
    path = shutil.which(binary)
    if path is None:
        raise PrometheusError(
            f"--with-prometheus needs the prometheus binary, and {binary!r} is not on PATH; "
            "install the Debian package 'prometheus' (scripts/ensure-system-deps.sh does) or "
            "pass --prometheus-bin PATH"
        )
    return path


def check_rules(rules: Path) -> Path:
    """The rules file, resolved, or a PrometheusError naming the missing path."""
    if not rules.is_file():
        raise PrometheusError(
            f"alert rules {rules} not found; pass --prometheus-rules FILE "
            f"(the repository's are at monitoring/prometheus/rules.yml)"
        )
    return rules.resolve()


def write_config(directory: Path, api_url: str, rules: Path) -> Path:
    """prometheus.yml: scrape ``api_url``/metrics as job docservice every second, with ``rules``."""
    host = api_url.split("://", 1)[1].rstrip("/")
    config = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "evaluation_interval": SCRAPE_INTERVAL},
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": JOB,
                "scrape_timeout": SCRAPE_INTERVAL,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [host]}],
            }
        ],
    }
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "prometheus.yml"
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as resp:
            body = resp.read()
            return resp.status, json.loads(body) if body.startswith(b"{") else None
    except urllib.error.HTTPError as exc:
        return exc.code, None
    except (OSError, ValueError):
        return 0, None


def _scraping(url: str) -> bool:
    """Ready, rules loaded, and the docservice target scraped successfully at least once."""
    status, rules = _get(f"{url}/api/v1/rules")
    if status != 200 or not (rules or {}).get("data", {}).get("groups"):
        return False
    status, targets = _get(f"{url}/api/v1/targets?state=active")
    active = (targets or {}).get("data", {}).get("activeTargets", [])
    return any(t.get("labels", {}).get("job") == JOB and t.get("health") == "up" for t in active)


def start_prometheus(
    binary: str,
    directory: Path,
    api_url: str,
    rules: Path,
    log_path: Path,
    preexec: Callable[[], None],
    timeout_s: float,
    stopping: Callable[[], bool],
    env: dict[str, str] | None = None,
) -> PrometheusServer:
    """Start Prometheus and wait (bounded) until it has scraped the API once with the rules
    loaded. Retries on another port when the probed one was taken meanwhile."""
    config = write_config(directory, api_url, rules)
    last = ""
    for _attempt in range(3):
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [
                    binary,
                    f"--config.file={config}",
                    f"--storage.tsdb.path={directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{port}",
                    "--storage.tsdb.retention.time=1d",
                ],
                stdin=subprocess.DEVNULL,
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
                preexec_fn=preexec,
            )
        server = PrometheusServer(proc, url, config)
        deadline = time.monotonic() + timeout_s
        while proc.poll() is None and time.monotonic() < deadline and not stopping():
            if _scraping(url):
                return server
            time.sleep(0.1)
        if proc.poll() is None:
            stop_prometheus(server)
            raise PrometheusError(
                f"prometheus at {url} had not scraped {api_url}/metrics with the rules loaded "
                f"within {timeout_s:g} s; see {log_path}"
            )
        last = _tail(log_path)
        if "address already in use" not in last:
            break
    raise PrometheusError(
        f"prometheus exited with status {proc.returncode} during start-up; "
        f"its log ({log_path}) ends with:\n{last}"
    )


def stop_prometheus(server: PrometheusServer, grace_s: float = 5.0) -> None:
    """SIGTERM (Prometheus shuts down cleanly), SIGKILL after ``grace_s``."""
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(grace_s)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(5)


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
