"""Atomic file writes: a reader (a release gate, a textfile collector, a concurrent xdist
worker) only ever sees the old content or the new, never a half-written file.

The text goes to a temporary file in the target's directory, is fsynced, renamed over the
target with ``os.replace``, and the directory is fsynced so the rename itself survives a crash.
A writer of many files in few directories (a recording: one baseline file per test) passes a
:class:`DirectorySync` and fsyncs each directory once, after its last rename: a crash before
that leaves each file old or new, never partial, as before.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import tempfile
from pathlib import Path

#: prefix of the temporary files; a crash can leave one behind, never a partial target
TMP_PREFIX = ".deployverify-tmp-"


class DirectorySync:
    """Directories with renames not yet made durable, fsynced together by :meth:`sync`.

    Each ``fsync`` of a directory costs as much as a small file's; a recording of thousands
    of tests wrote one per file (benchmarks/README.md, "Figures after the fifth issue-20
    session"). Also remembers the directories known to exist, so that each is made once.
    """

    def __init__(self) -> None:
        self._pending: set[Path] = set()
        self._made: set[Path] = set()

    def ensure(self, directory: Path) -> None:
        """Make ``directory`` unless this object made or saw it already."""
        if directory not in self._made:
            directory.mkdir(parents=True, exist_ok=True)
            self._made.add(directory)

    def written(self, directory: Path) -> None:
        """A file was renamed into ``directory``: fsync it at the next :meth:`sync`."""
        self._pending.add(directory)

    def sync(self) -> None:
        """fsync every directory written to since the last call (idempotent)."""
        pending, self._pending = self._pending, set()
        for directory in sorted(pending):
            _fsync_dir(directory)


def write_atomic(
    path: Path, text: str | bytes, *, mode: int = 0o644, dirs: DirectorySync | None = None
) -> Path:
    """Write ``text`` (a str is written as UTF-8 with ``\\n`` line ends) to ``path``
    atomically; returns ``path``.

    ``mode``: the file's permissions, exactly (not masked by the umask: reports are read by
    other users, e.g. a Prometheus textfile collector). ``dirs``: the directory's fsync is
    left to ``dirs.sync()`` (default: done before returning).
    """
    path = Path(path)
    replace_file(path, text.encode("utf-8") if isinstance(text, str) else text, mode, dirs)
    return path


def replace_file(
    path: Path, data: bytes, mode: int = 0o644, dirs: DirectorySync | None = None
) -> os.stat_result:
    """:func:`write_atomic` of bytes; returns the new file's status (a caller that caches
    what it wrote need not ``stat`` it again: a rename keeps the file's mtime and size).

    Through bare descriptors (``os.open`` with ``O_EXCL``, ``os.write``, ``fchmod``,
    ``fstat``): ``tempfile.mkstemp``'s random names, a text wrapper per file and a ``stat``
    afterwards cost a recording 327 thousand instructions per file (benchmarks/README.md,
    "Figures after the sixth issue-20 session")."""
    parent = path.parent
    if dirs is None:
        parent.mkdir(parents=True, exist_ok=True)
    else:
        dirs.ensure(parent)
    try:
        fd, tmp = _create_temporary(parent)
    except FileNotFoundError:  # removed since it was made: make it again
        parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temporary(parent)
    try:
        try:
            view = memoryview(data)
            while view:  # a short write (a signal, a nearly full disk): write the rest
                view = view[os.write(fd, view) :]
            if _FCHMOD:
                os.fchmod(fd, mode)
            os.fsync(fd)
            status = os.fstat(fd)
        finally:
            os.close(fd)
        if not _FCHMOD:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if dirs is None:
        _fsync_dir(parent)
    else:
        dirs.written(parent)
    return status


_FCHMOD = hasattr(os, "fchmod")  # not on Windows
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_CREATE |= getattr(os, "O_CLOEXEC", 0)
_serial = itertools.count()


def _create_temporary(parent: Path) -> tuple[int, str]:
    """A new temporary file in ``parent``, created exclusively (``O_EXCL``: never an existing
    file or a planted symlink), named by this process and a counter. A name left by a killed
    process of the same pid is skipped; after many, ``mkstemp``'s random names take over."""
    prefix = f"{parent}{os.sep}{TMP_PREFIX}{os.getpid()}-"
    for _ in range(100):
        tmp = f"{prefix}{next(_serial)}.tmp"
        try:
            return os.open(tmp, _CREATE, 0o600), tmp
        except FileExistsError:
            continue
    return tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".tmp", dir=parent)


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
