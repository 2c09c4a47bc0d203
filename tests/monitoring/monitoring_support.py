"""What the monitoring tests share: where monitoring/ lives, the rules as data, promtool.

Nothing here starts a process; the tests do.
"""

from __future__ import annotations

import re
import shutil
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
