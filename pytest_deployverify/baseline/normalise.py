"""Turn what a test observed into plain JSON data: dicts, lists, str, int, float, bool, None.

Accepted: JSON-like values, dataclasses, objects with ``to_observation()`` (``PipelineRun``),
and HTTP responses (anything with ``status_code``, ``headers`` and ``json()``, e.g.
``requests.Response``), which become ``{"status", "headers", "body"}``.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import math
from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any
from uuid import UUID

#: Response headers kept by default: what a client depends on. Others (Date, Server,
#: Content-Length, ...) differ between deployments without meaning anything.
DEFAULT_HEADERS = ("content-type",)


class NormaliseError(TypeError):
    """A value that cannot be stored in a baseline."""


def normalise(value: Any, *, headers: Iterable[str] | None = None) -> Any:
    """The plain-data form of ``value`` that is compared with, and stored in, a baseline."""
    if hasattr(value, "to_observation") and callable(value.to_observation):
        return _plain(value.to_observation(), "$")
    if _is_response(value):
        return response_observation(value, headers=headers)
    return _plain(value, "$")


def _is_response(value: Any) -> bool:
    return (
        hasattr(value, "status_code")
        and hasattr(value, "headers")
        and callable(getattr(value, "json", None))
    )


def response_observation(response: Any, *, headers: Iterable[str] | None = None) -> dict[str, Any]:
    """``{"status": 200, "headers": {...selected...}, "body": <JSON or text>}``."""
    wanted = [h.lower() for h in (DEFAULT_HEADERS if headers is None else headers)]
    raw_headers = {str(k).lower(): str(v) for k, v in dict(response.headers).items()}
    selected: dict[str, Any] = {}
    for name in wanted:
        if name in raw_headers:
            val = raw_headers[name]
            if name == "content-type":
                # the media type is the contract; charset spelling differs between servers
                val = val.split(";", 1)[0].strip().lower()
            selected[name] = val
    body: Any
    content = getattr(response, "content", None)
    if content is not None and len(content) == 0:
        body = None
    else:
        try:
            body = _plain(response.json(), "$.body")
        except ValueError:
            text = getattr(response, "text", None)
            body = text if isinstance(text, str) else None
    return {"status": int(response.status_code), "headers": selected, "body": body}


def _plain(value: Any, where: str) -> Any:
    # Fast exits for the common JSON types keep large documents cheap.
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if math.isnan(value) or math.isinf(value):
            raise NormaliseError(f"{where}: {value!r} cannot be stored in JSON")
        return value
    if t is dict:
        return {
            (k if type(k) is str else _key(k, where)): _plain(v, f"{where}.{k}")
            for k, v in value.items()
        }
    if t is list or t is tuple:
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, enum.Enum):
        return _plain(value.value, where)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return _plain(float(value), where)
    if isinstance(value, Decimal):
        return _plain(int(value) if value == value.to_integral_value() else float(value), where)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value), where)
    if hasattr(value, "to_observation") and callable(value.to_observation):
        return _plain(value.to_observation(), where)
    if _is_response(value):
        return response_observation(value)
    if isinstance(value, Mapping):
        return _plain(dict(value), where)
    if isinstance(value, set | frozenset):
        return sorted((_plain(v, where) for v in value), key=repr)
    if isinstance(value, Iterable):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise NormaliseError(
        f"{where}: a {type(value).__name__} cannot be stored in a baseline; pass JSON-like data "
        "(dict, list, str, number, bool, None), a response, or an object with to_observation()"
    )


def _key(key: Any, where: str) -> str:
    if isinstance(key, str | int | float | bool) or key is None:
        return str(key)
    if isinstance(key, enum.Enum):
        return str(key.value)
    raise NormaliseError(f"{where}: dict key {key!r} is not a string")
