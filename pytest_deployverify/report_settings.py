"""The report part of the Settings: where every report file goes, and the correlation links.

Built once by :func:`pytest_deployverify.settings.build` from the options and
``[tool.deployverify.report]``; a bad link template is a :class:`ConfigError` naming the
option or key and showing a valid one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_deployverify.report.model import CorrelationLinks
from pytest_deployverify.settings_reader import ConfigError, OptionReader

PLACEHOLDER = "{correlation_id}"


@dataclass(frozen=True)
class ReportSettings:
    """Paths of every report file and the correlation link templates."""

    report_dir: Path
    summary: Path
    events: Path
    metrics: Path | None
    html: Path | None
    verdict_file: Path
    links: CorrelationLinks = field(default_factory=CorrelationLinks)
    #: the rootdir as seen from the directory pytest was started in ("" when the same), so
    #: a rerun hint names a test as the user would type it there
    rootdir_from_invocation: str = ""

    def paths(self) -> dict[str, str | None]:
        """Report paths for the verdict's ``reports`` block (strings, None when not written)."""
        return {
            "html": str(self.html) if self.html else None,
            "summary": str(self.summary),
            "events": str(self.events),
            "metrics": str(self.metrics) if self.metrics else None,
        }


def _validate_template(template: Any, source: str) -> str:
    if not isinstance(template, str) or PLACEHOLDER not in template:
        raise ConfigError(
            f"{source} = {template!r} is not a correlation URL template: it must be a string "
            f"containing {PLACEHOLDER}, e.g. https://logs.example.com/search?q={PLACEHOLDER}"
        )
    if not template.startswith(("http://", "https://")):
        raise ConfigError(
            f"{source} = {template!r} must be an http(s) URL so the report can link to it, "
            f"e.g. https://logs.example.com/search?q={PLACEHOLDER}"
        )
    return template


def _correlation_links(
    read: OptionReader, tool: Mapping[str, Any], pyproject: Path | None
) -> CorrelationLinks:
    """Templates from ``--correlation-url`` (label "logs") and
    ``[tool.deployverify.report] correlation_urls = {label = "...{correlation_id}"}``."""
    templates: dict[str, str] = {}
    report_table = tool.get("report", {})
    where = f"[tool.deployverify.report] in {pyproject}"
    if not isinstance(report_table, Mapping):
        raise ConfigError(f"{where} must be a table (correlation_urls = {{...}})")
    unknown = set(report_table) - {"correlation_urls"}
    if unknown:
        raise ConfigError(
            f"{where} has unknown key(s) {', '.join(sorted(unknown))}; the only key is "
            f'correlation_urls = {{logs = "https://.../{PLACEHOLDER}"}}'
        )
    urls = report_table.get("correlation_urls", {})
    if not isinstance(urls, Mapping):
        raise ConfigError(
            f"{where}: correlation_urls must be a table of label = template, e.g. "
            f'{{logs = "https://logs.example.com/search?q={PLACEHOLDER}"}}'
        )
    for label, template in urls.items():
        templates[str(label)] = _validate_template(template, f"{where}: correlation_urls.{label}")
    cli = read.value("deployverify_correlation_url")
    if cli:
        # The option wins over the pyproject template of the same label.
        templates["logs"] = _validate_template(cli, "--correlation-url")
    return CorrelationLinks(tuple(templates.items()))


def read_report_settings(
    read: OptionReader, tool: Mapping[str, Any], pyproject: Path | None
) -> ReportSettings:
    """Where every report file goes and the correlation link templates (``--report-dir``,
    ``--verdict-file``, ``--metrics-file``, pytest-html's ``--html``, ``--correlation-url``,
    ``[tool.deployverify.report]``)."""
    report_dir = read.path("deployverify_report_dir", "reports")
    assert report_dir is not None
    verdict_file = read.path("deployverify_verdict_file", None) or report_dir / "verdict.json"
    html_opt = read.config.getoption("htmlpath", default=None)
    # pytest-html resolves --html against the current directory; say the same path.
    html = (Path.cwd() / Path(html_opt).expanduser()) if html_opt else None
    return ReportSettings(
        report_dir=report_dir,
        summary=report_dir / "summary.md",
        events=report_dir / "events.jsonl",
        metrics=read.path("deployverify_metrics_file", None),
        html=html,
        verdict_file=verdict_file,
        links=_correlation_links(read, tool, pyproject),
        rootdir_from_invocation=_relative_rootdir(read.config),
    )


def _relative_rootdir(config: pytest.Config) -> str:
    try:
        shown = os.path.relpath(
            Path(config.rootpath).resolve(), Path(config.invocation_params.dir).resolve()
        )
    except ValueError:  # another drive (Windows)
        return Path(config.rootpath).as_posix()
    return "" if shown == "." else Path(shown).as_posix()
