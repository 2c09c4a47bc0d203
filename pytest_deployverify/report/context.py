"""What reports read: the redacted inputs of every renderer.

Where reports go is ``report_settings.ReportSettings``, resolved with every other setting at
configure time. ``ReportContext`` is what every renderer reads: the verdict dict and the
per-test evidence, both already passed through :mod:`pytest_deployverify.redact`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

from pytest_deployverify.clock import utc_timestamp
from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.report.model import CorrelationLinks


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


@dataclass
class ReportContext:
    """Everything a renderer reads, already redacted. Build with :func:`build_context`."""

    verdict: dict[str, Any]
    evidence: dict[str, dict[str, Any]] = field(default_factory=dict)
    links: CorrelationLinks = field(default_factory=CorrelationLinks)
    verdict_file: str | None = None
    verdict_sha256: str | None = None
    secrets: tuple[str, ...] = ()
    generated_at: str = field(default_factory=utc_timestamp)
    #: the rootdir as seen from the invocation directory ("" when the same)
    rootdir_from_invocation: str = ""
    #: the run's id (the verdict's, else the writer's: a run without a verdict has one too)
    run_id: str = ""

    def user_nodeid(self, nodeid: str) -> str:
        """``nodeid`` (rootdir-relative) as the user would type it where pytest was started."""
        if not self.rootdir_from_invocation:
            return nodeid
        import posixpath

        module, sep, rest = nodeid.partition("::")
        return posixpath.normpath(posixpath.join(self.rootdir_from_invocation, module)) + sep + rest

    def test_evidence(self, nodeid: str) -> dict[str, Any]:
        return self.evidence.get(nodeid) or {}


def build_context(
    verdict: Mapping[str, Any] | None,
    evidence: Mapping[str, TestEvidence | Mapping[str, Any]],
    *,
    secrets: Iterable[str] = (),
    links: CorrelationLinks | None = None,
    verdict_file: str | Path | None = None,
    rootdir_from_invocation: str = "",
    run_id: str = "",
    redacted: bool = False,
) -> ReportContext:
    """Redact the verdict and evidence once, and hash the verdict file, for the renderers.

    ``redacted``: both are already redacted with ``secrets`` (the session's verdict document
    and evidence, see ``SessionState.shown``): used as they are, not redacted again."""
    from pytest_deployverify.redact import redact_value

    secret_list = tuple(sorted({str(s) for s in secrets if s}, key=len, reverse=True))
    data = dict(verdict or {})
    evid: dict[str, dict[str, Any]] = {}
    for nodeid, item in evidence.items():
        as_dict = item.to_dict() if isinstance(item, TestEvidence) else dict(item)
        evid[str(nodeid)] = as_dict if redacted else redact_value(as_dict, secret_list)
    vf = verdict_file or (data.get("reports") or {}).get("verdict")
    return ReportContext(
        verdict=data if redacted else redact_value(data, secret_list),
        evidence=evid,
        links=links or CorrelationLinks(),
        verdict_file=str(vf) if vf else None,
        verdict_sha256=file_sha256(vf),
        secrets=secret_list,
        rootdir_from_invocation=rootdir_from_invocation,
        run_id=str(data.get("run_id") or run_id),
    )
