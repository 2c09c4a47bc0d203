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
from itertools import chain, compress, repeat
from operator import is_
from typing import Any
from uuid import UUID

#: Response headers kept by default: what a client depends on. Others (Date, Server,
#: Content-Length, ...) differ between deployments without meaning anything.
DEFAULT_HEADERS = ("content-type",)


class NormaliseError(TypeError):
    """A value that cannot be stored in a baseline."""


class _Unstorable(Exception):
    """Raised inside the walk; collects the path on the way out (no path strings built
    for the values that are fine, which keeps a 20,000-record document cheap)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str | int] = []


def normalise(value: Any, *, headers: Iterable[str] | None = None) -> Any:
    """The plain-data form of ``value`` that is compared with, and stored in, a baseline.

    Plain JSON data is returned as is (not copied); anything else is converted into a new
    structure.
    """
    try:
        if hasattr(value, "to_observation") and callable(value.to_observation):
            value = value.to_observation()
        elif _is_response(value):
            return response_observation(value, headers=headers)
        if is_plain(value):
            return value
        return _plain(value)
    except _Unstorable as exc:
        from pytest_deployverify.baseline.paths import format_path

        raise NormaliseError(f"{format_path(reversed(exc.path))}: {exc.reason}") from None


def is_plain(value: Any) -> bool:
    """Whether ``value`` is already JSON data (str keys, finite floats, dicts and lists)."""
    t = type(value)
    if t is dict:
        for k, v in value.items():
            if type(k) is not str:
                return False
            tv = type(v)
            if tv is str or tv is int or tv is bool or v is None:
                continue
            if tv is float:
                if v != v or v in _INFINITIES:
                    return False
                continue
            if not is_plain(v):
                return False
        return True
    if t is list:
        settled = _flat_list_plain(value)
        if settled is not None:
            return settled
        for v in value:
            tv = type(v)
            if tv is str or tv is int or tv is bool or v is None:
                continue
            if tv is float:
                if v != v or v in _INFINITIES:
                    return False
                continue
            if not is_plain(v):
                return False
        return True
    if t is str or t is int or t is bool or value is None:
        return True
    if t is float:
        return not (value != value or value in _INFINITIES)
    return False


_INFINITIES = (math.inf, -math.inf)
_ATOMS = frozenset({str, int, bool, type(None)})
_ATOMS_AND_FLOAT = _ATOMS | {float}


def copy_plain(value: Any) -> Any:
    """A copy of plain data (what :func:`normalise` returns) sharing no dict or list with it.

    ``copy.deepcopy``'s memo and reduction protocol are not needed for JSON data: this is a
    quarter of its cost on a small record, and a recording copies every value it keeps.
    """
    t = type(value)
    if t is dict:
        return {
            k: copy_plain(v) if type(v) is dict or type(v) is list else v for k, v in value.items()
        }
    if t is list:
        return [copy_plain(v) if type(v) is dict or type(v) is list else v for v in value]
    return value


def _flat_list_plain(items: list[Any]) -> bool | None:
    """``is_plain`` of a list of scalars or of flat records, decided at C speed (no Python
    loop per item: the chunk list of a large document summary); None when it holds nested
    containers or anything else, which the item-by-item walk then decides."""
    types = set(map(type, items))
    records = types == {dict}
    if records:
        if not set(map(type, chain.from_iterable(items))) <= {str}:
            return False  # a non-string key
        types = set(map(type, chain.from_iterable(map(dict.values, items))))
    if types <= _ATOMS:
        return True
    if types <= _ATOMS_AND_FLOAT:
        # NaN and infinities are not JSON
        values = list(chain.from_iterable(map(dict.values, items))) if records else items
        return all(map(math.isfinite, compress(values, map(is_, map(type, values), repeat(float)))))
    return None


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
            body = response.json()
            body = body if is_plain(body) else _plain(body)
        except ValueError:
            text = getattr(response, "text", None)
            body = text if isinstance(text, str) else None
    return {"status": int(response.status_code), "headers": selected, "body": body}


def _plain(value: Any) -> Any:
    t = type(value)
    if t is str or t is int or t is bool or value is None:
        return value
    if t is float:
        if math.isnan(value) or math.isinf(value):
            raise _Unstorable(f"{value!r} cannot be stored in JSON")
        return value
    if t is dict or isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            try:
                out[k if type(k) is str else _key(k)] = _plain(v)
            except _Unstorable as exc:
                exc.path.append(str(k))
                raise
        return out
    if t is list or t is tuple:
        return _plain_items(value)
    if isinstance(value, enum.Enum):
        return _plain(value.value)
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, float):
        return _plain(float(value))
    if isinstance(value, Decimal):
        return _plain(int(value) if value == value.to_integral_value() else float(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return "sha256:" + hashlib.sha256(bytes(value)).hexdigest()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _plain(dataclasses.asdict(value))
    if hasattr(value, "to_observation") and callable(value.to_observation):
        return _plain(value.to_observation())
    if _is_response(value):
        return response_observation(value)
    if isinstance(value, set | frozenset):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, Iterable):
        return _plain_items(list(value))
    raise _Unstorable(
        f"a {type(value).__name__} cannot be stored in a baseline; pass JSON-like data "
        "(dict, list, str, number, bool, None), a response, or an object with to_observation()"
    )


def _plain_items(items: Any) -> list[Any]:
    out = []
    for i, v in enumerate(items):
        try:
            out.append(_plain(v))
        except _Unstorable as exc:
            exc.path.append(i)
            raise
    return out


def _key(key: Any) -> str:
    if isinstance(key, str | int | float | bool) or key is None:
        return str(key)
    if isinstance(key, enum.Enum):
        return str(key.value)
    raise _Unstorable(f"dict key {key!r} is not a string")
