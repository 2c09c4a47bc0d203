"""Replay commands: one request the client sent, as a ``curl`` command a person can paste.

Pure: a :class:`SentRequest` (what the client put on the wire, kept in memory only) and a
:class:`ReplaySettings` (where the target's auth secret comes from, the known secret values,
the time bound) give a shell command. Nothing here knows a service's routes or fields.

What a replay carries and why:

* the method, the full URL, every header the request had (so the correlation ID is the same
  and the service's logs match), ``--max-time`` (a replay never hangs);
* the auth header as a reference to the environment variable the secret came from
  (``--oauth2-bearer "$VAR"`` or ``-H 'Name'": $VAR"``), never its value;
* the body: JSON, form fields, or ``-F field=@"path"`` with the real path of an uploaded file;
* with ``upload=``, the upload that created the document first: its answer is kept in a shell
  variable and each id the request uses is read out of it with ``python3`` (the request then
  uses ``"$VAR"`` where the URL had the deleted document's id).

Secrets: every part is redacted as it is built (:mod:`redact`, the target's known values and
credential-looking text), and the finished command is passed through :func:`redact_text`
once more. The command is built so that this last pass leaves it unchanged (a fixed point):
the reports redact again, and a replay must survive that intact. The auth reference is
written so no redaction pattern matches it (the header name and its colon are split by a
quote; ``--oauth2-bearer`` instead of an ``Authorization: Bearer`` header).
"""

from __future__ import annotations

import json
import math
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pytest_deployverify.redact import (
    REDACTED,
    is_secret_key,
    redact_text,
    redact_url,
    redact_value,
)

#: reads a dotted field (``data.file.id``; list items by index) out of the JSON on stdin
_EXTRACT = (
    "python3 -c 'import functools,json,sys; print(functools.reduce(lambda v,k: v[int(k)] "
    'if isinstance(v,list) else v[k], sys.argv[1].split("."), json.load(sys.stdin)))\''
)
#: the shell variable holding the re-upload's answer
UPLOAD_VARIABLE = "DV_UPLOAD"
_URL_TOKENS = re.compile(r"([/?&=#;])")


@dataclass(slots=True)
class SentRequest:
    """One request as the client sent it: in memory only, never serialised (it holds the auth
    header and the body as given). :func:`command` makes the redacted replay of it."""

    method: str
    #: the full URL, query included
    url: str
    #: every header sent (auth included: :class:`ReplaySettings` says which to leave out)
    headers: Mapping[str, str]
    json: Any = None
    data: Any = None
    files: Any = None
    #: form field -> the path on disk the uploaded file part came from
    file_paths: Mapping[str, str] = field(default_factory=dict)
    #: ids this request's (JSON) answer created: id value -> dotted field holding it; set by
    #: the caller that knows the answer's shape (the pipeline's profile)
    created: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AuthReference:
    """How the replay sends the target's auth: the header and the variable holding it."""

    #: "bearer" (``Authorization: Bearer``) or "header" (``header: value``)
    kind: str
    header: str
    #: the environment variable the secret came from
    variable: str
    #: the env file that holds ``variable`` when the process environment did not, else ""
    env_file: str = ""


@dataclass(frozen=True)
class ReplaySettings:
    auth: AuthReference | None = None
    #: lower-case names of the headers the target's auth sets (left out: ``auth`` adds them)
    auth_headers: frozenset[str] = frozenset()
    secrets: tuple[str, ...] = ()
    #: curl's ``--max-time``, seconds
    max_time: float = 30.0


def command(
    sent: SentRequest, settings: ReplaySettings, *, upload: SentRequest | None = None
) -> str:
    """The replay of ``sent``; with ``upload``, the upload that created its document first."""
    lines: list[str] = []
    if settings.auth is not None and settings.auth.env_file:
        env_file = shlex.quote(settings.auth.env_file)
        lines.append(
            f"# {settings.auth.variable} is read from {settings.auth.env_file}; "
            f"load it first with  set -a; . {env_file}; set +a"
        )
    variables: dict[str, str] = {}
    if upload is not None:
        used = {value: field for value, field in upload.created.items() if value in _tokens(sent)}
        if used:
            lines.append(
                "# the run deleted this document: upload it again first (this creates a new "
                "document; delete it when done)"
            )
            lines.append(f"{UPLOAD_VARIABLE}=$({_curl(upload, settings, {}, include=False)})")
            for value, dotted in used.items():
                name = variable_name(dotted, set(variables.values()))
                variables[value] = name
                lines.append(
                    f'{name}=$(printf %s "${UPLOAD_VARIABLE}" | {_EXTRACT} {shlex.quote(dotted)})'
                )
    lines.append(_curl(sent, settings, variables, include=True))
    text = "\n".join(lines)
    # the reports redact again; whatever this pass would change is gone already
    return redact_text(text, settings.secrets)


def variable_name(dotted: str, taken: set[str]) -> str:
    """A shell variable name for an id read from the field ``dotted`` (``data.file.id`` ->
    ``DATA_FILE_ID``), unique among ``taken``."""
    base = re.sub(r"[^A-Za-z0-9]+", "_", dotted).strip("_").upper() or "ID"
    if base[0].isdigit():
        base = "DV_" + base
    name, n = base, 2
    while name in taken or name == UPLOAD_VARIABLE:
        name, n = f"{base}_{n}", n + 1
    return name


def _tokens(sent: SentRequest) -> set[str]:
    return set(_URL_TOKENS.split(sent.url))


def _curl(
    sent: SentRequest, settings: ReplaySettings, variables: Mapping[str, str], *, include: bool
) -> str:
    secrets = settings.secrets
    words = ["curl", "-sS" + ("i" if include else ""), "--max-time", _seconds(settings.max_time)]
    method = sent.method.upper()
    body = _body(sent, secrets)
    if method == "HEAD":
        words.append("--head")
    elif method != "GET" or body:
        words += ["-X", shlex.quote(method)]
    for name, value in sent.headers.items():
        if name.lower() in settings.auth_headers:
            continue
        shown = REDACTED if is_secret_key(name) else redact_text(str(value), secrets)
        words += ["-H", shlex.quote(f"{name}: {shown}")]
    if settings.auth is not None:
        words += _auth(settings.auth)
    words += body
    words.append(_url(redact_url(sent.url, secrets), variables))
    return " ".join(words)


def _seconds(value: float) -> str:
    return str(max(1, math.ceil(value)))


def _auth(auth: AuthReference) -> list[str]:
    # "${VAR?...}": the shell stops with this message when the variable is not set, instead of
    # sending an empty credential; no ':' after the name, which redaction would take for a
    # "token: value" pair
    ref = f"${{{auth.variable}?export {auth.variable} first}}"
    if auth.kind == "bearer":
        return ["--oauth2-bearer", f'"{ref}"']
    # the quote between the header's name and its colon keeps "X-Api-Key: ..." from looking
    # like a credential pair to redaction
    name = "'" + auth.header.replace("'", "'\\''") + "'"
    return ["-H", f'{name}": {ref}"']


def _url(url: str, variables: Mapping[str, str]) -> str:
    if not variables:
        return shlex.quote(url)
    out: list[str] = []
    literal = ""
    for token in _URL_TOKENS.split(url):
        if token in variables:
            if literal:
                out.append(shlex.quote(literal))
                literal = ""
            out.append(f'"${variables[token]}"')
        else:
            literal += token
    if literal:
        out.append(shlex.quote(literal))
    return "".join(out)


def _body(sent: SentRequest, secrets: Sequence[str]) -> list[str]:
    words: list[str] = []
    if sent.files:
        for name, value in _pairs(sent.data, secrets):
            words += ["--form-string", shlex.quote(f"{name}={value}")]
        for name, part in _items(sent.files):
            spec = redact_text(_file_part(name, part, sent.file_paths), secrets)
            words += ["-F", shlex.quote(spec)]
        return words
    if sent.json is not None:
        text = json.dumps(redact_value(sent.json, secrets), separators=(",", ":"))
        return ["-H", "'Content-Type: application/json'", "--data-raw", shlex.quote(text)]
    data = sent.data
    if isinstance(data, (Mapping, list, tuple)):
        for name, value in _pairs(data, secrets):
            words += ["--data-urlencode", shlex.quote(f"{name}={value}")]
        return words
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            return ["--data-binary", shlex.quote("@PATH/TO/THE/BINARY/BODY")]
    if isinstance(data, str) and data:
        return ["--data-binary", shlex.quote(redact_text(data, secrets))]
    return []


def _items(value: Any) -> list[tuple[str, Any]]:
    if isinstance(value, Mapping):
        return [(str(k), v) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return [(str(k), v) for k, v in value]
    return []


def _pairs(data: Any, secrets: Sequence[str]) -> list[tuple[str, str]]:
    """Form fields as redacted name/value pairs (a list value: the field once per item)."""
    out: list[tuple[str, str]] = []
    for name, value in _items(data):
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            text = REDACTED if is_secret_key(name) and v else redact_text(_text(v), secrets)
            out.append((name, text))
    return out


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def _file_part(name: str, part: Any, paths: Mapping[str, str]) -> str:
    """``field=@"path";filename="name";type=ctype`` (curl's quoting for names with ``;``)."""
    filename: str | None = None
    ctype: str | None = None
    fileobj = part
    if isinstance(part, (list, tuple)):
        filename = part[0] if part and isinstance(part[0], str) else None
        fileobj = part[1] if len(part) > 1 else None
        ctype = part[2] if len(part) > 2 and isinstance(part[2], str) else None
    path = paths.get(name)
    if path is None:
        own = getattr(fileobj, "name", None)
        path = os.path.abspath(own) if isinstance(own, str) and own else None
        if path is not None and filename is None:
            filename = os.path.basename(path)  # what requests names a bare file part
    if path is None:
        path = "PATH/TO/" + (filename or "THE-FILE")
    spec = f"{name}=@{_curl_quoted(path)}"
    if filename is not None:
        spec += f";filename={_curl_quoted(filename)}"
    if ctype:
        spec += f";type={ctype}"
    return spec


def _curl_quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
