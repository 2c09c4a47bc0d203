"""Atomic file writes: a reader (a release gate, a textfile collector, a concurrent xdist
worker) only ever sees the old content or the new, never a half-written file.

The text goes to a temporary file in the target's directory, is fsynced, renamed over the
target with ``os.replace``, and the directory is fsynced so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

#: prefix of the temporary files; a crash can leave one behind, never a partial target
TMP_PREFIX = ".deployverify-tmp-"


def write_atomic(path: Path, text: str, *, mode: int = 0o644) -> Path:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` atomically; returns ``path``.

    ``mode``: the file's permissions (mkstemp creates 0600; reports are read by other users,
    e.g. a Prometheus textfile collector).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(path.parent)
    return path


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable on POSIX; directories cannot be opened on Windows.
    if os.name != "posix":
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
