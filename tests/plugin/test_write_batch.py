"""``atomic.WriteBatch``: files staged in temporaries and put in place together (how a
recording writes its baseline files), and ``atomic.sync_filesystems``."""

from __future__ import annotations

import ctypes
import os
from pathlib import Path

import pytest

from pytest_deployverify import atomic
from pytest_deployverify.atomic import TMP_PREFIX, WriteBatch

needs_batch_sync = pytest.mark.skipif(
    not atomic.BATCH_SYNC, reason="files are synced together on Linux only"
)


def _temporaries(root: Path) -> list[Path]:
    return sorted(root.rglob(f"{TMP_PREFIX}*"))


def test_a_staged_file_is_in_place_only_once_published(tmp_path: Path) -> None:
    old, new = tmp_path / "a" / "old.json", tmp_path / "b" / "new.json"
    old.parent.mkdir()
    old.write_text("old\n")
    batch = WriteBatch()
    status = batch.stage(old, b"replaced\n")
    batch.stage(new, b"new\n", mode=0o600)
    assert old.read_text() == "old\n" and not new.exists()
    assert len(_temporaries(tmp_path)) == 2
    assert batch.publish() == []
    assert (old.read_text(), new.read_text()) == ("replaced\n", "new\n")
    now = os.stat(old)
    # the status staging returned is the file's (a rename keeps inode, size and mtime)
    assert (status.st_ino, status.st_size, status.st_mtime_ns) == (
        now.st_ino,
        now.st_size,
        now.st_mtime_ns,
    )
    if os.name == "posix":
        assert (old.stat().st_mode & 0o777, new.stat().st_mode & 0o777) == (0o644, 0o600)
    assert _temporaries(tmp_path) == []
    assert batch.publish() == []  # nothing staged: nothing to do


def test_staging_a_file_again_replaces_its_temporary(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    batch = WriteBatch()
    batch.stage(path, b"first\n")
    batch.stage(path, b"second\n")
    assert len(_temporaries(tmp_path)) == 1
    assert batch.publish() == []
    assert path.read_text() == "second\n"
    assert _temporaries(tmp_path) == []


@needs_batch_sync
def test_files_are_synced_once_together_not_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsynced: list[str] = []
    synced: list[set[Path]] = []
    real_fsync = os.fsync
    monkeypatch.setattr(
        atomic.os,
        "fsync",
        lambda fd: (fsynced.append(os.readlink(f"/proc/self/fd/{fd}")), real_fsync(fd))[1],
    )
    monkeypatch.setattr(atomic, "sync_filesystems", synced.append)
    batch = WriteBatch()
    for name in ("x/a.json", "x/b.json", "y/c.json"):
        batch.stage(tmp_path / name, b"{}\n")
    assert fsynced == [] and synced == []  # staging syncs nothing
    assert batch.publish() == []
    assert synced == [{tmp_path / "x", tmp_path / "y"}]  # one sync, before the renames
    # then each directory once, for its renames
    assert sorted(fsynced) == [str(tmp_path / "x"), str(tmp_path / "y")]


def test_without_batch_sync_each_file_is_fsynced_when_staged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fsynced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(atomic, "BATCH_SYNC", False)
    monkeypatch.setattr(atomic.os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd))[1])

    def never(directories: set[Path]) -> None:
        raise AssertionError("no filesystem sync without batch sync")

    monkeypatch.setattr(atomic, "sync_filesystems", never)
    batch = WriteBatch()
    batch.stage(tmp_path / "a.json", b"a\n")
    batch.stage(tmp_path / "b.json", b"b\n")
    assert len(fsynced) == 2
    assert batch.publish() == []
    assert (tmp_path / "b.json").read_text() == "b\n"


@needs_batch_sync
def test_a_failed_filesystem_sync_puts_nothing_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.json"
    path.write_text("old\n")
    batch = WriteBatch()
    batch.stage(path, b"new\n")
    batch.stage(tmp_path / "other.json", b"other\n")
    error = OSError(5, "Input/output error")

    def failing(directories: set[Path]) -> None:
        raise error

    monkeypatch.setattr(atomic, "sync_filesystems", failing)
    assert batch.publish() == [(path, error), (tmp_path / "other.json", error)]
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


@needs_batch_sync
def test_an_interrupted_filesystem_sync_puts_nothing_in_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.json"
    path.write_text("old\n")
    batch = WriteBatch()
    batch.stage(path, b"new\n")

    def ctrl_c(directories: set[Path]) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "sync_filesystems", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        batch.publish()
    assert path.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.json"]


def test_a_failed_rename_leaves_its_target_and_the_others_land(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked.json"
    (blocked / "inside").mkdir(parents=True)  # a non-empty directory: no file renames over it
    batch = WriteBatch()
    batch.stage(blocked, b"never\n")
    batch.stage(tmp_path / "fine.json", b"fine\n")
    failed = batch.publish()
    assert [path for path, _ in failed] == [blocked]
    assert isinstance(failed[0][1], OSError)
    assert blocked.is_dir() and (tmp_path / "fine.json").read_text() == "fine\n"
    assert _temporaries(tmp_path) == []


def test_an_interrupted_publication_leaves_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_replace = os.replace
    calls: list[str] = []

    def ctrl_c_at_the_second(src: str, dst: Path) -> None:
        calls.append(str(dst))
        if len(calls) == 2:
            raise KeyboardInterrupt
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", ctrl_c_at_the_second)
    batch = WriteBatch()
    for name in ("a", "b", "c"):
        batch.stage(tmp_path / f"{name}.json", f"{name}\n".encode())
    with pytest.raises(KeyboardInterrupt):
        batch.publish()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


@needs_batch_sync
def test_sync_filesystems_syncs_each_filesystem_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    atomic.sync_filesystems({tmp_path / "a", tmp_path / "b"})  # the real call

    calls: list[int] = []

    class Libc:
        def syncfs(self, fd: int) -> int:
            calls.append(fd)
            return 0

    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: Libc())
    atomic.sync_filesystems({tmp_path / "a", tmp_path / "b"})
    assert len(calls) == 1  # one filesystem holds both


@needs_batch_sync
def test_a_failed_syncfs_is_an_os_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    class Libc:
        def syncfs(self, fd: int) -> int:
            ctypes.set_errno(5)
            return -1

    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: Libc())
    with pytest.raises(OSError, match="syncfs: Input/output error") as caught:
        atomic.sync_filesystems({tmp_path})
    assert caught.value.errno == 5


def test_without_syncfs_the_whole_system_is_synced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[bool] = []
    monkeypatch.setattr(ctypes, "CDLL", lambda *a, **k: object())  # a C library without syncfs
    monkeypatch.setattr(atomic.os, "sync", lambda: synced.append(True), raising=False)
    atomic.sync_filesystems({tmp_path})
    assert synced == [True]
