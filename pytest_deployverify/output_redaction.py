"""Redacts pytest's own output: the test reports pytest prints, logs and writes to junitxml.

Reports and logs we write go through :mod:`pytest_deployverify.redact` already; pytest's
terminal output does not. A target that echoes the token in a response body ends up in an
assertion message, in ``-l`` locals, in captured output or in a traceback. Every one of those
reaches the terminal, ``--junitxml`` and xdist's controller through the :class:`TestReport`,
so rewriting the report as it is made covers them all. pytest's failure representation is a
tree of small dataclasses; its strings are rewritten in place, so the layout, colours and the
short summary's crash line survive. Should a secret still show after that (a representation
this walk does not know), the whole representation becomes its redacted text.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import pytest

from pytest_deployverify.redact import MIN_SECRET_LENGTH, REDACTED, redact_text

#: pytest shortens long values in assertion messages to "head...tail": fragments this long
#: next to the ellipsis are taken for the secret's ends
_MIN_FRAGMENT = 4


def redact_report(report: pytest.TestReport, secrets: Sequence[str]) -> None:
    """Rewrite ``report`` in place: longrepr, captured sections and user properties without
    secrets. Run it after every other ``pytest_runtest_makereport`` wrapper added to them."""
    clean = _Cleaner(secrets)
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, lineno, reason)
        path, lineno, reason = longrepr
        report.longrepr = (path, lineno, clean(reason))
    elif isinstance(longrepr, str):
        report.longrepr = clean(longrepr)
    elif longrepr is not None:
        text = str(longrepr)
        if clean(text) != text:
            _walk(longrepr, clean, depth=0)
            text = str(longrepr)
            if clean(text) != text:
                report.longrepr = clean(text)
    report.sections = [(title, clean(content)) for title, content in report.sections]
    # junitxml writes these as <properties>; ours carry observed response values
    report.user_properties = [
        (name, clean(value) if isinstance(value, str) else value)
        for name, value in report.user_properties
    ]


class _Cleaner:
    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = [s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH]
        patterns = []
        for secret in self.secrets:
            if len(secret) < 2 * _MIN_FRAGMENT:
                continue
            heads = "|".join(
                re.escape(secret[:k]) for k in range(len(secret) - 1, _MIN_FRAGMENT - 1, -1)
            )
            tails = "|".join(
                re.escape(secret[-k:]) for k in range(len(secret) - 1, _MIN_FRAGMENT - 1, -1)
            )
            patterns.append(f"(?:{heads})(?=\\.\\.\\.)")
            patterns.append(f"(?<=\\.\\.\\.)(?:{tails})")
        self.fragments = re.compile("|".join(patterns)) if patterns else None

    def __call__(self, text: str) -> str:
        out = redact_text(text, self.secrets)
        if self.fragments is not None:
            out = self.fragments.sub(REDACTED, out)
        return out


def _walk(node: Any, clean: _Cleaner, depth: int) -> Any:
    """``node`` with every string cleaned; dataclasses (pytest's reprs) are changed in place."""
    if depth > 50:
        return node
    if isinstance(node, str):
        return clean(node)
    if isinstance(node, list):
        node[:] = [_walk(item, clean, depth + 1) for item in node]
        return node
    if isinstance(node, tuple):
        return tuple(_walk(item, clean, depth + 1) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            cleaned = _walk(value, clean, depth + 1)
            if cleaned is not value:
                object.__setattr__(node, f.name, cleaned)
    return node
