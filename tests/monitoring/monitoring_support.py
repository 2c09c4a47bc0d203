"""What the monitoring tests share: where monitoring/ lives, the rules as data, promtool.

Nothing here starts a process; the tests do.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
MONITORING = REPO / "monitoring"
RULES = MONITORING / "prometheus" / "rules.yml"
RULE_TESTS = sorted((MONITORING / "prometheus" / "tests").glob("*.yml"))
DASHBOARDS = sorted((MONITORING / "grafana").glob("*.json"))
#: metric names the rules and dashboards may query: ours, plus Prometheus's own ``up``
_METRIC = re.compile(r"\b((?:docservice|deployverify)(?:_[a-z0-9]+)+|up)\b(?![:(])")
_RECORDED = re.compile(r"\b((?:docservice|deployverify):[a-z0-9_:]+)\b")


def load_yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def rules() -> list[dict[str, Any]]:
    """Every rule of rules.yml (alerting and recording), with its group name as ``group``."""
    return [
        {**rule, "group": group["name"]}
        for group in load_yaml(RULES)["groups"]
        for rule in group["rules"]
    ]


def alert_names() -> list[str]:
    return [r["alert"] for r in rules() if "alert" in r]


def metric_names(expr: str) -> set[str]:
    """Raw metric names an expression queries (recording-rule names excluded)."""
    return set(_METRIC.findall(expr))


def recorded_names(expr: str) -> set[str]:
    """Recording-rule names (``level:metric:operation``) an expression queries."""
    return set(_RECORDED.findall(expr))


def promtool() -> str:
    """The promtool binary, or a skip that says how to get it."""
    path = shutil.which("promtool")
    if path is None:
        pytest.skip(
            "promtool is not installed (Debian package 'prometheus'; scripts/ensure-system-deps.sh "
            "installs it where it can): the Prometheus rules could not be checked"
        )
    return path


def dashboard_queries(path: Path) -> list[str]:
    """Every PromQL expression a Grafana dashboard runs: panel targets and query variables."""
    import json

    data = json.loads(path.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in data["panels"] for t in p.get("targets", []) if t.get("expr")]
    for var in data.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = var["query"]
            exprs.append(query if isinstance(query, str) else query["query"])
    return exprs


def rule_queries() -> list[str]:
    return [str(r["expr"]) for r in rules()]


def sample_names(exposition: str) -> set[str]:
    """Sample names of a Prometheus text exposition (``_bucket``/``_total`` suffixes kept)."""
    return {
        re.split(r"[{ ]", line, maxsplit=1)[0]
        for line in exposition.splitlines()
        if line and not line.startswith("#")
    }


# ---------------------------------------------------------------- a real Prometheus

#: the JobStuck bound (s) in the fast rules: above any healthy wait of a small document
FAST_STUCK_S = 10


def prometheus_binary() -> str:
    """The prometheus binary, or a skip that says how to get it."""
    path = shutil.which("prometheus")
    if path is None:
        pytest.skip(
            "prometheus is not installed (Debian package 'prometheus'; scripts/ensure-system-deps.sh "
            "installs it where it can): the alerts could not be shown firing in a real Prometheus"
        )
    return path


def fast_rules(directory: Path) -> Path:
    """rules.yml with every ``for:`` read as seconds instead of minutes (``5m`` -> ``5s``) and
    the stuck-job bound at FAST_STUCK_S, so a test sees an alert within seconds. Thresholds
    and expressions are otherwise the shipped ones."""
    import yaml

    data = load_yaml(RULES)
    stuck = 0
    for group in data["groups"]:
        for rule in group["rules"]:
            if "for" in rule:
                minutes = re.fullmatch(r"(\d+)m", str(rule["for"]))
                assert minutes, f"{rule.get('alert')}: for {rule['for']!r} is not in minutes"
                rule["for"] = f"{minutes.group(1)}s"
            if rule.get("alert") == "DocserviceJobStuck":
                rule["expr"], n = re.subn(r"> 600$", f"> {FAST_STUCK_S}", str(rule["expr"]).strip())
                stuck += n
    assert stuck == 1, "DocserviceJobStuck no longer ends in '> 600': update fast_rules"
    path = directory / "fast-rules.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Launched:
    """A docservice deployment started by its launcher (through the plugin's launch API)."""

    api_url: str
    token: str
    data: dict[str, Any]
    http: Any

    @property
    def prometheus_url(self) -> str:
        return str(self.data["prometheus_url"])

    def upload(self, name: str = "small.pdf") -> str:
        """Upload a unique copy of a fixture (a new document each time); returns the job id."""
        import uuid

        pdf = (REPO / "fixtures" / name).read_bytes() + f"\n%{uuid.uuid4()}\n".encode()
        resp = self.http.post(
            f"{self.api_url}/api/v2/upload",
            files={"file": (name, pdf, "application/pdf")},
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=(3, 15),
        )
        assert resp.status_code == 202, resp.text
        return str(resp.json()["job_id"])

    def wait_job(self, job_id: str, statuses: set[str], timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        status = None
        while status not in statuses:
            assert time.monotonic() < deadline, f"job {job_id} at {status}, not {statuses}"
            resp = self.http.get(
                f"{self.api_url}/api/v2/jobs/{job_id}",
                headers={"Authorization": f"Bearer {self.token}"},
                timeout=(3, 15),
            )
            status = resp.json()["status"]
            time.sleep(0.05)
        return str(status)

    def prom(self, path: str, **params: str) -> Any:
        """GET a Prometheus API path; its ``data``."""
        resp = self.http.get(f"{self.prometheus_url}{path}", params=params, timeout=(3, 15))
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["status"] == "success", body
        return body["data"]


@contextmanager
def launched(*args: str, timeout: float = 120.0) -> Iterator[Launched]:
    """``python -m docservice up ARGS`` (stand-ins at 5 ms); stopped on exit."""
    import requests

    from pytest_deployverify import launch
    from pytest_deployverify.config import LaunchSpec

    spec = LaunchSpec(
        command=" ".join(
            ("{python} -m docservice up --ready-file {ready_file} --latency-ms 5", *args)
        ),
        secrets=(("DOCSERVICE_API_TOKENS", "api_token"),),
        cwd=str(REPO),
    )
    deployment = launch.start(spec, env_name="monitoring-test", timeout=timeout)
    try:
        with requests.Session() as http:
            yield Launched(
                api_url=deployment.api_url,
                token=deployment.secrets["api_token"].split("=", 1)[0],
                data=dict(deployment.data),
                http=http,
            )
    finally:
        deployment.stop()
