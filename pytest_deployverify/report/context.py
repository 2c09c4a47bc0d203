"""Where reports go and what they read: settings from options, and the redacted inputs.

``ReportSettings`` is resolved once at configure time, so a bad option (a correlation URL
template without ``{correlation_id}``) stops the run before any test with one clear message.
``ReportContext`` is what every renderer reads: the verdict dict and the per-test evidence,
both already passed through :mod:`pytest_deployverify.redact`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from pytest_deployverify.report.model import CorrelationLinks

PLACEHOLDER = "{correlation_id}"


@dataclass(frozen=True)
class ReportSettings:
    """Paths of every report file and the correlation link templates."""

    report_dir: Path
    summary: Path
    events: Path
    metrics: Path | None
    html: Path | None
    links: CorrelationLinks = field(default_factory=CorrelationLinks)

    def paths(self) -> dict[str, str | None]:
        """Report paths for the verdict's ``reports`` block (strings, None when not written)."""
        return {
            "html": str(self.html) if self.html else None,
            "summary": str(self.summary),
            "events": str(self.events),
            "metrics": str(self.metrics) if self.metrics else None,
        }


def _resolve(config: pytest.Config, raw: str, from_cli: bool) -> Path:
    path = Path(raw).expanduser()
    if path.is_absolute():
        return path
    # A path typed on the command line means "from where I ran pytest"; one from ini or the
    # default means "from the project root".
    base = config.invocation_params.dir if from_cli else config.rootpath
    return Path(base) / path


def _validate_template(template: Any, source: str) -> str:
    if not isinstance(template, str) or PLACEHOLDER not in template:
        raise pytest.UsageError(
            f"{source} = {template!r} is not a correlation URL template: it must be a string "
            f"containing {PLACEHOLDER}, e.g. https://logs.example.com/search?q={PLACEHOLDER}"
        )
    if not template.startswith(("http://", "https://")):
        raise pytest.UsageError(
            f"{source} = {template!r} must be an http(s) URL so the report can link to it, "
            f"e.g. https://logs.example.com/search?q={PLACEHOLDER}"
        )
    return template


def correlation_links(config: pytest.Config) -> CorrelationLinks:
    """Templates from ``--correlation-url`` (label "logs") and
    ``[tool.deployverify.report] correlation_urls = {label = "...{correlation_id}"}``."""
    from pytest_deployverify import options
    from pytest_deployverify.config import load_tool_config

    templates: dict[str, str] = {}
    tool, pyproject = load_tool_config(config.rootpath)
    report_table = tool.get("report", {})
    where = f"[tool.deployverify.report] in {pyproject}"
    if not isinstance(report_table, Mapping):
        raise pytest.UsageError(f"{where} must be a table (correlation_urls = {{...}})")
    unknown = set(report_table) - {"correlation_urls"}
    if unknown:
        raise pytest.UsageError(
            f"{where} has unknown key(s) {', '.join(sorted(unknown))}; the only key is "
            f'correlation_urls = {{logs = "https://.../{PLACEHOLDER}"}}'
        )
    urls = report_table.get("correlation_urls", {})
    if not isinstance(urls, Mapping):
        raise pytest.UsageError(
            f"{where}: correlation_urls must be a table of label = template, e.g. "
            f'{{logs = "https://logs.example.com/search?q={PLACEHOLDER}"}}'
        )
    for label, template in urls.items():
        templates[str(label)] = _validate_template(template, f"{where}: correlation_urls.{label}")
    cli = options.value(config, "deployverify_correlation_url")
    if cli:
        # The option wins over the pyproject template of the same label.
        templates["logs"] = _validate_template(cli, "--correlation-url")
    return CorrelationLinks(tuple(templates.items()))


def settings_from_config(config: pytest.Config) -> ReportSettings:
    """Resolve report paths and link templates; raises ``pytest.UsageError`` on bad input."""
    from pytest_deployverify import options

    cli_dir = config.getoption("deployverify_report_dir", default=None)
    raw_dir = options.value(config, "deployverify_report_dir") or "reports"
    report_dir = _resolve(config, raw_dir, from_cli=bool(cli_dir))
    cli_metrics = config.getoption("deployverify_metrics_file", default=None)
    raw_metrics = options.value(config, "deployverify_metrics_file")
    metrics = _resolve(config, raw_metrics, from_cli=bool(cli_metrics)) if raw_metrics else None
    html_opt = config.getoption("htmlpath", default=None)
    # pytest-html resolves --html against the current directory; say the same path.
    html = (Path.cwd() / Path(html_opt).expanduser()) if html_opt else None
    return ReportSettings(
        report_dir=report_dir,
        summary=report_dir / "summary.md",
        events=report_dir / "events.jsonl",
        metrics=metrics,
        html=html,
        links=correlation_links(config),
    )


def session_secrets(state: Any) -> list[str]:
    """Every secret value this session knows (target secrets, launched deployment's)."""
    values: list[str] = []
    for holder in (getattr(state, "target", None), getattr(state, "deployment", None)):
        getter = getattr(holder, "secret_values", None)
        if callable(getter):
            values.extend(str(v) for v in getter() if v)
        secrets = getattr(holder, "secrets", None)
        if isinstance(secrets, Mapping):
            values.extend(str(v) for v in secrets.values() if v)
    return sorted(set(values), key=len, reverse=True)


def scrub_known(text: str, secrets: Iterable[str]) -> str:
    """Last line of defence on a rendered document: replace known secret values, also in
    their HTML-escaped and URL-quoted spellings. Pattern-based redaction is applied to the
    data before rendering (it would mangle markup if run on the finished page)."""
    from html import escape

    from pytest_deployverify.redact import MIN_SECRET_LENGTH, REDACTED

    for value in sorted({str(s) for s in secrets if s}, key=len, reverse=True):
        if len(value) < MIN_SECRET_LENGTH:
            continue
        for spelling in {value, escape(value), quote(value, safe="")}:
            text = text.replace(spelling, REDACTED)
    return text


def file_sha256(path: str | Path | None) -> str | None:
    """Hex SHA-256 of a file's bytes, None when there is no such file."""
    if not path:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


def utc_now() -> str:
    """Current time, ISO 8601 UTC with ``Z``, as the verdict spells timestamps."""
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class ReportContext:
    """Everything a renderer reads, already redacted. Build with :func:`build_context`."""

    verdict: dict[str, Any]
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: CorrelationLinks = field(default_factory=CorrelationLinks)
    verdict_file: str | None = None
    verdict_sha256: str | None = None
    secrets: tuple[str, ...] = ()
    generated_at: str = field(default_factory=utc_now)

    def test_evidence(self, nodeid: str) -> dict[str, Any]:
        return self.evidence.get(nodeid) or {}


def verdict_as_dict(verdict: Any) -> dict[str, Any]:
    """The verdict as the JSON contract's dict, whatever object the verdict component stores."""
    if verdict is None:
        return {}
    if isinstance(verdict, Mapping):
        return dict(verdict)
    for name in ("to_dict", "as_dict", "to_json_dict"):
        method = getattr(verdict, name, None)
        if callable(method):
            return dict(method())
    from dataclasses import asdict, is_dataclass

    if is_dataclass(verdict) and not isinstance(verdict, type):
        return asdict(verdict)
    raise TypeError(f"cannot read the verdict ({type(verdict).__name__}) as a dict")


def build_context(
    verdict: Any,
    evidence: Mapping[str, Any],
    *,
    secrets: Iterable[str] = (),
    links: CorrelationLinks | None = None,
    verdict_file: str | Path | None = None,
) -> ReportContext:
    """Redact the verdict and evidence once, and hash the verdict file, for the renderers."""
    from pytest_deployverify.redact import redact_value

    secret_list = tuple(sorted({str(s) for s in secrets if s}, key=len, reverse=True))
    data = verdict_as_dict(verdict)
    evid: dict[str, dict[str, Any]] = {}
    for nodeid, item in evidence.items():
        as_dict = item.to_dict() if hasattr(item, "to_dict") else dict(item)
        evid[str(nodeid)] = redact_value(as_dict, secret_list)
    vf = verdict_file or (data.get("reports") or {}).get("verdict")
    return ReportContext(
        verdict=redact_value(data, secret_list),
        evidence=evid,
        links=links or CorrelationLinks(),
        verdict_file=str(vf) if vf else None,
        verdict_sha256=file_sha256(vf),
        secrets=secret_list,
    )
