"""The selected environment's dotenv file, read once at configure time.

``[tool.deployverify.envs.NAME] env_file`` (default ``.env.NAME``, relative to the rootdir) is
read when the :class:`~pytest_deployverify.settings.Settings` are built, like every other
configuration source; its values are not exported to ``os.environ``. Only the selected
environment's file is read, and a file that cannot be read is not an error yet: the reason is
kept and raised when the session resolves its target, so a project that merely defines
environments (or has the plugin installed) never fails because of one.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class EnvFile:
    """One dotenv file as read at configure time."""

    #: as configured (``env_file``, default ``.env.NAME``): what messages tell the user to edit
    name: str
    path: Path
    #: its key/value pairs; None when the file does not exist or could not be read
    values: Mapping[str, str] | None = field(default=None, repr=False)
    #: why it could not be read (one paragraph naming the file and the fix), else None
    error: str | None = None

    @property
    def used(self) -> bool:
        return self.values is not None


def read_env_file(rootpath: Path, env: Mapping[str, Any] | None, name: str, where: str) -> EnvFile:
    """Read environment ``name``'s env file (``env``: its table, None when not defined)."""
    configured = str((env or {}).get("env_file") or f".env.{name}")
    path = Path(configured) if Path(configured).is_absolute() else rootpath / configured
    if not path.exists():
        return EnvFile(configured, path)
    try:
        # read it ourselves first so an unreadable file is an error, not silently empty
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return EnvFile(
            configured,
            path,
            error=(
                f"env file {path} (from {where}) cannot be read: {exc.__class__.__name__}: "
                f"{getattr(exc, 'strerror', None) or exc}. Make it a readable UTF-8 dotenv "
                f"file or remove env_file."
            ),
        )
    from dotenv import dotenv_values

    values = {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}
    return EnvFile(configured, path, values)
