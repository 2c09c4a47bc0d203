"""Where configuration is read from: the option/ini reader and the ``[tool.deployverify]`` table.

:mod:`settings` builds the typed :class:`~pytest_deployverify.settings.Settings` from what
these return; nothing else reads options, ini keys or pyproject.toml.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from pytest_deployverify import options

#: A configuration mistake, reported once before any test runs (pytest prints the message
#: without a traceback and exits with its usage-error status, 4).
ConfigError = pytest.UsageError


def pyproject_path(config: pytest.Config) -> Path:
    """The pyproject.toml pytest was configured from, else the rootdir's."""
    inipath = config.inipath
    if inipath is not None and inipath.name == "pyproject.toml":
        return Path(inipath)
    return Path(config.rootpath) / "pyproject.toml"


def read_tool_table(path: Path) -> tuple[dict[str, Any], Path | None]:
    """``[tool.deployverify]`` of ``path`` (empty, None when the file does not exist)."""
    if not path.is_file():
        return {}, None
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}. Fix the TOML syntax.") from None
    section = data.get("tool", {}).get("deployverify", {})
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: [tool.deployverify] must be a table")
    return section, path


class OptionReader:
    """Option values in precedence order: command line, ini key, table default."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    def cli(self, dest: str) -> Any:
        value = self.config.getoption(dest, default=None)
        return None if value is False else value

    def ini(self, dest: str) -> Any:
        opt = options.by_dest(dest)
        if not opt.ini:
            return None
        try:
            raw = self.config.getini(dest)
        except ValueError:  # the option table was not registered (plugin loaded late)
            return None
        if raw in (None, "", []):
            return None
        if opt.action == "store_true":
            return bool(raw)
        try:
            return opt.type(raw) if opt.type else raw
        except (TypeError, ValueError):
            raise ConfigError(
                f"ini key {dest} = {raw!r} is not a valid {opt.type.__name__}; "
                f"set it like the option {opt.flag} (see pytest --help)."
            ) from None

    def value(self, dest: str) -> Any:
        cli = self.cli(dest)
        if cli is not None:
            return cli
        ini = self.ini(dest)
        return ini if ini is not None else options.by_dest(dest).default

    def path(self, dest: str, fallback: str | None) -> Path | None:
        """A path option: a command-line value is relative to the invocation directory, an
        ini value or the fallback to the rootdir."""
        cli = self.cli(dest)
        raw = cli if cli is not None else (self.ini(dest) or fallback)
        if not raw:
            return None
        path = Path(str(raw)).expanduser()
        if path.is_absolute():
            return path
        base = self.config.invocation_params.dir if cli is not None else self.config.rootpath
        return Path(base) / path


def positive(value: Any, flag: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{flag} = {value!r} must be a positive number of seconds.")
    return float(value)
