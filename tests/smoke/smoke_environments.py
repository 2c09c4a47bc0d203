"""The smoke suite's per-environment settings (``environments.toml`` next to this module).

Which service identities count as test doubles, and how close an embedding must stay to the
baseline's, depend on the environment being verified: a staging may run the stand-ins on
purpose, production must not. These are the suite's settings, not the plugin's: the plugin
only says which environment it verifies and whether it is protected.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

DEFAULT_FILE = Path(__file__).resolve().parent / "environments.toml"
_LISTS = ("test_doubles", "protected_test_doubles", "allowed_test_doubles")
KEYS = (*_LISTS, "embedding_min_cosine")


@dataclass(frozen=True)
class SmokeEnvironment:
    """What the suite holds one environment to (see ``environments.toml``)."""

    name: str
    protected: bool
    test_doubles: tuple[str, ...]
    protected_test_doubles: tuple[str, ...]
    allowed_test_doubles: tuple[str, ...]
    embedding_min_cosine: float
    source: str

    @property
    def doubles(self) -> tuple[str, ...]:
        """The markers that make an identity a test double on this environment."""
        extra = self.protected_test_doubles if self.protected else ()
        return tuple(dict.fromkeys(m.lower() for m in (*self.test_doubles, *extra)))

    def test_double(self, identity: str) -> str | None:
        """The marker that makes ``identity`` a test double here, or None.

        An identity containing an allowed entry (case-insensitive) is never a test double.
        """
        low = identity.lower()
        if any(a.lower() in low for a in self.allowed_test_doubles):
            return None
        return next((m for m in self.doubles if m in low), None)

    def rule(self) -> str:
        """The identity rule in words, for failure messages."""
        allowed = f", except {list(self.allowed_test_doubles)}" if self.allowed_test_doubles else ""
        where = "protected " if self.protected else ""
        return (
            f"on {where}environment {self.name!r} no identity may contain {list(self.doubles)}"
            f"{allowed} ({self.source})"
        )


def _error(path: Path, message: str) -> pytest.UsageError:
    return pytest.UsageError(f"smoke suite settings {path}: {message}")


def _check(path: Path, where: str, table: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise _error(path, f"[{where}] has unknown key(s) {unknown}; valid keys: {list(KEYS)}")
    out = dict(table)
    for key in _LISTS:
        if key in out and not (
            isinstance(out[key], list) and all(isinstance(x, str) and x for x in out[key])
        ):
            raise _error(path, f"[{where}] {key} must be a list of non-empty strings")
    if "embedding_min_cosine" in out:
        value = out["embedding_min_cosine"]
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not math.isfinite(value)
            or not -1.0 <= value <= 1.0
        ):
            raise _error(
                path, f"[{where}] embedding_min_cosine={value!r} must be a number in [-1, 1]"
            )
    return out


def load(name: str, protected: bool, path: Path | None = None) -> SmokeEnvironment:
    """The settings for environment ``name``: ``[defaults]`` with ``[envs.<name>]`` on top.

    ``path`` defaults to ``SMOKE_ENVIRONMENTS_FILE``, else ``environments.toml`` here. A file
    that cannot be read, or an unknown key or bad value, is a ``pytest.UsageError`` naming the
    file and the key.
    """
    if path is None:
        raw = os.environ.get("SMOKE_ENVIRONMENTS_FILE", "").strip()
        path = Path(raw) if raw else DEFAULT_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise _error(
            path, f"cannot be read: {exc}. Fix it or unset SMOKE_ENVIRONMENTS_FILE"
        ) from None
    unknown = sorted(set(data) - {"defaults", "envs"})
    if unknown:
        raise _error(path, f"unknown table(s) {unknown}; use [defaults] and [envs.NAME]")
    merged = _check(path, "defaults", data.get("defaults") or {})
    envs = data.get("envs") or {}
    if name in envs:
        merged.update(_check(path, f"envs.{name}", envs[name]))
    missing = [k for k in KEYS if k not in merged]
    if missing:
        raise _error(path, f"[defaults] must set {missing}")
    return SmokeEnvironment(
        name=name,
        protected=protected,
        test_doubles=tuple(merged["test_doubles"]),
        protected_test_doubles=tuple(merged["protected_test_doubles"]),
        allowed_test_doubles=tuple(merged["allowed_test_doubles"]),
        embedding_min_cosine=float(merged["embedding_min_cosine"]),
        source=path.name if path == DEFAULT_FILE else str(path),
    )
