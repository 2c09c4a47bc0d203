"""Atomic file writes: a reader (a release gate, a textfile collector, a concurrent xdist
worker) only ever sees the old content or the new, never a half-written file.

The text goes to a temporary file in the target's directory, is fsynced, renamed over the
target with ``os.replace``, and the directory is fsynced so the rename itself survives a crash.

A writer of many small files (a recording: one baseline file per test) uses a
:class:`WriteBatch` instead: each file goes to its temporary when it is ready, and
:meth:`WriteBatch.publish` makes them all durable at once (one ``syncfs`` per filesystem on
Linux, where an fsync per file cost more than the rest of the write), renames each over its
target, and fsyncs each directory once. Until then every target holds its old content; a
crash leaves old files and temporaries that are never read, never a partial target.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
import tempfile
from pathlib import Path

#: prefix of the temporary files; a crash can leave one behind, never a partial target
TMP_PREFIX = ".deployverify-tmp-"


class WriteBatch:
    """Files staged now and put in place together by :meth:`publish`, and directories with
    renames not yet made durable, fsynced together by :meth:`sync`.

    Each ``fsync`` costs as much as writing a small file: a recording of thousands of tests
    paid one per file and one per directory (benchmarks/README.md, "Figures after the fifth
    issue-20 session" and "... the eighth"). Also remembers the directories known to exist,
    so that each is made once.
    """

    def __init__(self) -> None:
        self._pending: set[Path] = set()
        self._made: set[Path] = set()
        #: target -> its staged temporary, in the order staged
        self._staged: dict[Path, str] = {}

    def ensure(self, directory: Path) -> None:
        """Make ``directory`` unless this object made or saw it already."""
        if directory not in self._made:
            directory.mkdir(parents=True, exist_ok=True)
            self._made.add(directory)

    def written(self, directory: Path) -> None:
        """A file was renamed into ``directory``: fsync it at the next :meth:`sync`."""
        self._pending.add(directory)

    def stage(self, path: Path, data: bytes, mode: int = 0o644) -> os.stat_result:
        """Write ``data`` to a temporary beside ``path``, to replace it at :meth:`publish`;
        returns the temporary's status (a rename keeps its mtime and size). ``path`` keeps
        its old content until then; staging it again replaces the earlier temporary."""
        parent = path.parent
        self.ensure(parent)
        tmp, status = _write_temporary(parent, data, mode, fsync=not BATCH_SYNC)
        earlier = self._staged.pop(path, None)
        if earlier is not None:
            _unlink(earlier)
        self._staged[path] = tmp
        return status

    def publish(self) -> list[tuple[Path, OSError]]:
        """Make every staged temporary durable, rename each over its target, then
        :meth:`sync` the directories; returns the targets not put in place, each with its
        error. A failed filesystem sync renames nothing and removes the temporaries (every
        target keeps its old content); a failed rename removes its temporary and the others
        still land; an interrupted one removes the temporaries not yet renamed."""
        staged, self._staged = self._staged, {}
        if staged and BATCH_SYNC:
            try:
                sync_filesystems({Path(tmp).parent for tmp in staged.values()})
            except BaseException as exc:
                for tmp in staged.values():
                    _unlink(tmp)
                if isinstance(exc, OSError):
                    return [(path, exc) for path in staged]
                raise
        failed: list[tuple[Path, OSError]] = []
        remaining, tmp = iter(staged.items()), ""
        try:
            for path, tmp in remaining:
                try:
                    os.replace(tmp, path)
                except OSError as exc:
                    _unlink(tmp)
                    failed.append((path, exc))
                    continue
                self._pending.add(path.parent)
        except BaseException:  # interrupted: what is not in place is not left behind either
            _unlink(tmp)
            for _, rest in remaining:
                _unlink(rest)
            raise
        self.sync()
        return failed

    def sync(self) -> None:
        """fsync every directory written to since the last call (idempotent)."""
        pending, self._pending = self._pending, set()
        for directory in sorted(pending):
            _fsync_dir(directory)


def write_atomic(
    path: Path, text: str | bytes, *, mode: int = 0o644, dirs: WriteBatch | None = None
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
    path: Path, data: bytes, mode: int = 0o644, dirs: WriteBatch | None = None
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
    tmp, status = _write_temporary(parent, data, mode, fsync=True)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink(tmp)
        raise
    if dirs is None:
        _fsync_dir(parent)
    else:
        dirs.written(parent)
    return status


_FCHMOD = hasattr(os, "fchmod")  # not on Windows
#: whether a :class:`WriteBatch` syncs its files together (``syncfs``) rather than one by one
BATCH_SYNC = sys.platform.startswith("linux")
_CREATE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
_CREATE |= getattr(os, "O_CLOEXEC", 0)
_serial = itertools.count()


def _write_temporary(
    parent: Path, data: bytes, mode: int, *, fsync: bool
) -> tuple[str, os.stat_result]:
    """A new temporary in ``parent`` holding ``data`` with permissions ``mode``, fsynced
    when ``fsync``: its name and status."""
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
            if fsync:
                os.fsync(fd)
            status = os.fstat(fd)
        finally:
            os.close(fd)
        if not _FCHMOD:
            os.chmod(tmp, mode)
    except BaseException:
        _unlink(tmp)
        raise
    return tmp, status


def _unlink(tmp: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def sync_filesystems(directories: set[Path]) -> None:
    """Flush every filesystem holding one of ``directories`` to disk, and wait: ``syncfs``
    once per filesystem (``sync`` where the C library has no ``syncfs``). Raises ``OSError``
    when the kernel reports a failed write."""
    import ctypes

    devices: dict[int, Path] = {}
    for directory in directories:
        devices.setdefault(os.stat(directory).st_dev, directory)
    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if syncfs is None:
        os.sync()
        return
    for directory in devices.values():
        fd = os.open(directory, os.O_RDONLY)
        try:
            if syncfs(fd) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"syncfs: {os.strerror(err)}", str(directory))
        finally:
            os.close(fd)


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
