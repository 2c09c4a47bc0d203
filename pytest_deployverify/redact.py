"""The one place that knows what a secret looks like.

Every writer (exchange log, evidence, baseline, report, alert, error message) passes text or
data through here before it leaves the process. Two kinds of secret are removed:

* values we *know* are secret: the target's configured secrets (API tokens, webhook secrets)
  passed in as ``secrets``;
* values that *look* like credentials wherever they come from: bearer tokens, JWTs,
  ``sk-...`` API keys, credential query parameters, and the value of any mapping key named like
  a credential (``Authorization``, ``Cookie``, ``X-Api-Key``, ``password``, ...).

Public API (used by the baseline and report components too):

    redact_text(text, secrets=()) -> str
    redact_value(obj, secrets=()) -> obj       deep copy with secrets replaced
    redacted_view(obj, secrets=()) -> obj      the same, copying only what changed (final data)
    redact_headers(headers, secrets=()) -> dict
    redact_url(url, secrets=()) -> str
    response_error(response, secrets) -> obj   a failed response's status and body, redacted
    SECRET_KEY_PATTERN                          matches key/header names whose value is secret
    REDACTED                                    the replacement marker
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    import requests

T = TypeVar("T")
REDACTED = "[REDACTED]"

#: Key or header names whose (string) value is a secret. Matched with ``search`` on the whole
#: name, case-insensitively. Kept tight on purpose: ``prompt_tokens`` (a count) or ``sha256``
#: must survive, so only string values are replaced and ``tokens`` plural is not a key match.
SECRET_KEY_PATTERN = re.compile(
    r"(?i)^(?:.*[-_])?(?:authorization|proxy-authorization|cookie|set-cookie|api[-_]?key|"
    r"apikey|token|access[-_]?token|refresh[-_]?token|id[-_]?token|auth[-_]?token|secret|"
    r"client[-_]?secret|webhook[-_]?secret|signing[-_]?secret|password|passwd|pwd|"
    r"signature|private[-_]?key|credentials?|session[-_]?id|api[-_]?tokens)$"
)

#: Query parameter names whose value is a secret (``?token=...&sig=...``).
_SECRET_PARAM = (
    r"(?i)^(?:.*[-_])?(?:token|key|api[-_]?key|secret|password|passwd|pwd|signature|sig|"
    r"access[-_]?token|auth|code|credential|x-amz-signature|x-amz-credential)$"
)


@cache
def _secret_param() -> re.Pattern[str]:
    # compiled on first use, as the text patterns below: most runs redact no query string
    return re.compile(_SECRET_PARAM)


@cache
def _text_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    """Patterns for things that look like credentials in free text, with their replacements.

    Order matters: the structured forms (headers, key=value) first so their whole value goes.
    Compiled on the first text that :func:`could_hold_credential` lets through (12 million
    instructions at start-up otherwise, in every run: benchmarks/README.md, "Figures after
    the tenth issue-20 session"); most runs never see one.
    """
    return (
        # "Authorization: Bearer abc", "Bearer abc", "Basic abc=="
        (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 " + REDACTED),
        # header lines / JSON-ish pairs: "X-Api-Key: abc", '"password": "abc"', "secret=abc";
        # a placeholder the user must replace ("TOKEN=<your token>") is an instruction, kept
        (
            re.compile(
                r"(?i)((?:authorization|cookie|set-cookie|x-api-key|api[-_]?key|access[-_]?token|"
                r"refresh[-_]?token|client[-_]?secret|webhook[-_]?secret|secret|password|passwd|"
                r"token|signature|sig)[\"']?\s*[:=]\s*[\"']?)(?!\[REDACTED\]|<[^<>\n]{1,60}>)"
                r"([^\s\"'&,;}]{3,})"
            ),
            r"\1" + REDACTED,
        ),
        # JWTs: three base64url segments, the first two starting with eyJ ({")
        (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
        # OpenAI/Stripe-style keys, GitHub tokens, Slack tokens, AWS access key ids
        (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}"), REDACTED),
        (re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}"), REDACTED),
        (re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,}"), REDACTED),
        (re.compile(r"\bAKIA[0-9A-Z]{16}\b"), REDACTED),
        # user:password@ in URLs
        (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^/\s@]+@"), r"\1:" + REDACTED + "@"),
    )


# Every substring the text patterns above can match contains one of these. Checked on the
# lower-cased text with str.find (C speed); a regex only runs at the few places a keyword
# occurs, never across the whole text.
_SUBSTRINGS = ("bearer", "basic", "eyj", "akia", "xox")
_KEYWORDS = (
    "authorization",
    "cookie",
    "key",
    "token",
    "secret",
    "password",
    "passwd",
    "pwd",
    "signature",
    "sig",
)
_KEY_VALUE_TAIL = re.compile(r"[\"']?\s*[:=]")


def _occurrences(text: str, needle: str) -> Iterator[int]:
    i = text.find(needle)
    while i >= 0:
        yield i
        i = text.find(needle, i + 1)


def could_hold_credential(text: str) -> bool:
    """A fast superset test of the text patterns: False means no pattern can match ``text``
    (checked by tests/plugin/test_baseline_redaction.py), so the regex pass can be skipped."""
    # short texts are remembered: the same check names, outcomes, rules and node ids recur in
    # every test's evidence, event and report
    return _short_answer(text) if len(text) <= 200 else _could_hold_credential(text)


def _could_hold_credential(text: str) -> bool:
    lower = text.lower()
    # Each step first asks `in` (one C-speed scan) and walks occurrences only on a hit: most
    # values (ids, statuses, file names) hold none of these, and this runs on every string
    # that leaves the process.
    for m in _SUBSTRINGS:
        if m in lower:
            return True
    # user:password@ in a URL: a plain base URL ("https://host:8443/") holds no "@"
    if "://" in lower and "@" in lower:
        return True
    # sk- / pk- / rk- keys and gh?_ tokens
    if "k-" in lower and any(i > 0 and lower[i - 1] in "spr" for i in _occurrences(lower, "k-")):
        return True
    if "gh" in lower and any(
        lower[i + 2 : i + 3] in ("p", "o", "u", "s", "r") and lower[i + 3 : i + 4] == "_"
        for i in _occurrences(lower, "gh")
    ):
        return True
    # credential key/value pairs: "password: ...", "token=..."; most texts hold no keyword,
    # found by a plain loop (the generator below costs a frame per keyword)
    for k in _KEYWORDS:
        if k in lower:
            break
    else:
        return False
    return any(
        _KEY_VALUE_TAIL.match(lower, i + len(k))
        for k in _KEYWORDS
        if k in lower
        for i in _occurrences(lower, k)
    )


_short_answer = lru_cache(maxsize=8192)(_could_hold_credential)


#: Known secret values shorter than this are not replaced in free text: replacing "a" or
#: "123" everywhere would shred the text and leak the value by its absence anyway.
MIN_SECRET_LENGTH = 4


def _secret_values(secrets: Iterable[str] | Mapping[str, str] | None) -> list[str]:
    if not secrets:
        return []
    values = secrets.values() if isinstance(secrets, Mapping) else secrets
    # Longest first so a secret that contains another is replaced whole.
    return sorted(
        {str(v) for v in values if v and len(str(v)) >= MIN_SECRET_LENGTH}, key=len, reverse=True
    )


def redact_text(text: str, secrets: Iterable[str] | Mapping[str, str] | None = ()) -> str:
    """``text`` with known secret values and credential-looking substrings replaced."""
    if not text:
        return text
    return _redact_text(str(text), _secret_values(secrets))


def redact_texts(
    texts: Iterable[str], secrets: Iterable[str] | Mapping[str, str] | None = ()
) -> list[str]:
    """``redact_text`` of each of ``texts``, the secrets prepared once for all of them."""
    values = _secret_values(secrets)
    return [_redact_text(str(text), values) if text else text for text in texts]


def _redact_text(out: str, values: list[str]) -> str:
    """``redact_text`` with the secret values already prepared (``_secret_values``): a walk
    over a whole document prepares them once, not once per string."""
    for value in values:
        out = out.replace(value, REDACTED)
    if not could_hold_credential(out):  # the common case: no pattern can match
        return out
    for pattern, replacement in _text_patterns():
        out = pattern.sub(replacement, out)
    return out


def is_secret_key(name: str) -> bool:
    """Whether a mapping key or header called ``name`` holds a secret value."""
    return _secret_key(str(name))


@lru_cache(maxsize=4096)
def _secret_key(name: str) -> bool:
    # the same few dozen keys recur in every test's evidence: match each once per process
    return bool(SECRET_KEY_PATTERN.match(name))


def redact_value(obj: T, secrets: Iterable[str] | Mapping[str, str] | None = ()) -> T:
    """A deep copy of ``obj`` (dicts, lists, tuples, strings) with secrets replaced.

    String values under a credential-named key become ``REDACTED``; every other string goes
    through :func:`redact_text`. Numbers, booleans and None are returned unchanged.
    """
    values = _secret_values(secrets)
    redacted: T = _redact(obj, values)  # same shape as obj, strings replaced
    return redacted


#: values that hold no text: returned as they are (checked by exact type, the common case)
_SCALARS = frozenset({int, float, bool, type(None)})


def _redact(obj: Any, values: list[str]) -> Any:
    # exact type checks first: this walk runs over every value that leaves the process, and
    # nearly all of them are plain str/dict/list/number (subclasses take the slower path)
    cls = type(obj)
    if cls is str:
        return _redact_text(obj, values) if obj else obj
    if cls in _SCALARS:
        return obj
    if cls is not dict:
        # lists (and the evidence's shared empty lists, a list subclass) before the Mapping
        # ABC's isinstance, the slowest check here: a test's evidence holds six of them
        if isinstance(obj, list):
            return [_redact(v, values) for v in obj]
        if not isinstance(obj, Mapping):
            if isinstance(obj, tuple):
                return tuple(_redact(v, values) for v in obj)
            if isinstance(obj, str):
                return _redact_text(str(obj), values) if obj else obj
            return obj
    out: dict[Any, Any] = {}
    for key, val in obj.items():
        vcls = type(val)
        if vcls in _SCALARS:
            out[key] = val
        elif vcls is str:
            if val:
                out[key] = REDACTED if is_secret_key(str(key)) else _redact_text(val, values)
            else:
                out[key] = val
        elif not val and (vcls is list or vcls is dict):
            out[key] = vcls()  # most of a record's lists are empty: no walk
        elif isinstance(val, str) and val and is_secret_key(str(key)):
            out[key] = REDACTED
        else:
            out[key] = _redact(val, values)
    return out


def redacted_view(obj: T, secrets: Iterable[str] | Mapping[str, str] | None = ()) -> T:
    """:func:`redact_value`'s result without its copies: ``obj`` itself when nothing in it
    needed redacting, otherwise a container copied only where something inside it changed,
    sharing the rest with ``obj``. Only for data that is final (a finished test's evidence):
    neither ``obj`` nor the result may be changed afterwards. Equal to ``redact_value(obj,
    secrets)``, except that an unchanged list subclass or tuple is kept as it is
    (tests/plugin/test_redact.py).

    A session keeps every test's evidence as its outputs will show it; copying each one, when
    nearly all hold nothing to redact, doubled what a session keeps per test (issue 20)."""
    values = _secret_values(secrets)
    shown: T = _view(obj, values)  # same shape as obj
    return shown


def _view(obj: Any, values: list[str]) -> Any:
    cls = type(obj)
    if cls is str:
        return _changed_text(obj, values)
    if cls in _SCALARS:
        return obj
    if cls is dict:
        out: dict[Any, Any] | None = None
        for key, val in obj.items():
            vcls = type(val)
            if vcls in _SCALARS or not val:
                continue
            if vcls is str:
                new = REDACTED if is_secret_key(str(key)) else _changed_text(val, values)
            elif isinstance(val, str) and is_secret_key(str(key)):
                new = REDACTED
            else:
                new = _view(val, values)
            if new is not val:
                if out is None:
                    out = dict(obj)
                out[key] = new
        return obj if out is None else out
    if isinstance(obj, list):
        copied: list[Any] | None = None
        for i, val in enumerate(obj):
            new = _view(val, values)
            if new is not val:
                if copied is None:
                    copied = list(obj)
                copied[i] = new
        return obj if copied is None else copied
    if isinstance(obj, tuple):
        items = tuple(_view(v, values) for v in obj)
        return obj if all(a is b for a, b in zip(items, obj, strict=True)) else items
    # the rest (a mapping that is not a dict, a str subclass) as redact_value shows it
    return _redact(obj, values)


def _changed_text(text: str, values: list[str]) -> str:
    """``text`` itself when redaction leaves it as it is (the substitutions may return an
    equal new string)."""
    if not text:
        return text
    out = _redact_text(text, values)
    return text if out == text else out


def redact_headers(
    headers: Mapping[str, str] | None, secrets: Iterable[str] | Mapping[str, str] | None = ()
) -> dict[str, str]:
    """Headers with credential headers (Authorization, Cookie, X-Api-Key, ...) replaced."""
    values = _secret_values(secrets)
    return {
        k: (REDACTED if is_secret_key(k) else _redact_text(str(v), values))
        for k, v in (headers or {}).items()
    }


def redact_url(url: str, secrets: Iterable[str] | Mapping[str, str] | None = ()) -> str:
    """``url`` with credential query parameters and user:password removed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url, secrets)
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode(
            [(k, REDACTED if _secret_param().match(k) and v else v) for k, v in pairs], safe="[]"
        )
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + netloc.rsplit("@", 1)[1]
    rebuilt = urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    return redact_text(rebuilt, secrets)


def response_error(response: requests.Response, secrets: list[str]) -> Any:
    """A failed response's status and body (JSON when it parses), with secrets removed."""
    try:
        body = response.json()
    except ValueError:
        body = response.text[:500]
    return redact_value({"status": response.status_code, "body": body}, secrets)
