"""Redaction of observations before they are compared, stored or shown.

``pytest_deployverify/redact.py`` is the one place that knows what a secret looks like; this
module only applies it to an observation efficiently. A document summary holds tens of
thousands of ids and hashes, so strings that cannot contain a credential (no known secret
value, no marker any of redact.py's patterns needs) skip the regex pass. That the marker test
is a superset of redact.py's patterns is checked by tests/plugin/test_baseline_redaction.py.

Same result as ``redact.redact_value``: string values under credential-named keys become
``[REDACTED]``; every other string has secret values and credential-looking parts replaced.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from pytest_deployverify import redact
from pytest_deployverify.redact import could_hold_credential

REDACTED = redact.REDACTED


def redact_observation(value: Any, secrets: Iterable[str] = ()) -> Any:
    """``value`` with every secret redacted (see module docstring).

    One walk collects the strings and looks for credential-named keys; one regex scan over
    all strings at once (separated by NUL, which no marker can span) finds the few that need
    ``redact.py``. When nothing does, ``value`` itself is returned (no copy).
    """
    known = sorted(
        {s for s in secrets if s and len(s) >= redact.MIN_SECRET_LENGTH}, key=len, reverse=True
    )
    strings: list[str] = []
    if not _collect(value, strings):
        return _walk(value, known)  # a credential-named key: rebuild
    joined = "\x00".join(strings)
    if any(secret in joined for secret in known) or could_hold_credential(joined):
        return _walk(value, known)
    return value


def _collect(value: Any, out: list[str]) -> bool:
    """Append every string in ``value`` to ``out``; False at the first credential-named key
    holding a string (the caller then rebuilds the value anyway)."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            tv = type(v)
            if tv is str:
                if v and _secret_key(k):
                    return False
                out.append(v)
            elif (tv is dict or tv is list) and not _collect(v, out):
                return False
        return True
    if t is list:
        for v in value:
            tv = type(v)
            if tv is str:
                out.append(v)
            elif (tv is dict or tv is list) and not _collect(v, out):
                return False
        return True
    if t is str:
        out.append(value)
    return True


def _walk(value: Any, secrets: list[str]) -> Any:
    t = type(value)
    if t is str:
        return _text(value, secrets)
    if t is dict:
        out = {}
        for k, v in value.items():
            if type(v) is str and v and _secret_key(k):
                out[k] = REDACTED
            else:
                out[k] = _walk(v, secrets)
        return out
    if t is list:
        return [_walk(v, secrets) for v in value]
    return value


class Redactor:
    """Redacts single values as they are reported (compare mode redacts lazily: a value
    equal to its baseline, which was redacted when recorded, holds nothing to hide)."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted(
            {s for s in secrets if s and len(s) >= redact.MIN_SECRET_LENGTH}, key=len, reverse=True
        )

    def value(self, value: Any, key: str | None) -> Any:
        """``value`` redacted as it would be inside the whole observation under ``key``
        (a credential-named key redacts its string value)."""
        if key is not None:
            return _walk({key: value}, self.secrets)[key]
        return _walk(value, self.secrets)

    def text(self, text: str) -> str:
        return _text(text, self.secrets)


@lru_cache(maxsize=4096)
def _secret_key(name: str) -> bool:
    # key names repeat across thousands of records: decide each once
    return redact.is_secret_key(name)


def _text(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret in text:
            return redact.redact_text(text, secrets)
    if could_hold_credential(text):
        return redact.redact_text(text, secrets)
    return text
