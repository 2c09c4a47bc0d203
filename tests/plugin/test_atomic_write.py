"""``atomic.write_atomic`` / ``replace_file``: the exact mode, exclusive temporaries (a
leftover or a planted symlink is never written through), the status it returns."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from pytest_deployverify import atomic
from pytest_deployverify.atomic import TMP_PREFIX, WriteBatch, replace_file, write_atomic

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and symlinks")


@pytest.fixture
def serial_from_zero(monkeypatch: pytest.MonkeyPatch) -> str:
    """The temporary names' counter restarted, so a test knows the next names; returns the
    names' common prefix (this process's)."""
    monkeypatch.setattr(atomic, "_serial", itertools.count())
    return f"{TMP_PREFIX}{os.getpid()}-"


@posix_only
def test_mode_is_exact_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        report = write_atomic(tmp_path / "metrics.prom", "up 1\n")
        private = write_atomic(tmp_path / "private.json", b"{}\n", mode=0o600)
    finally:
        os.umask(old)
    assert report.stat().st_mode & 0o777 == 0o644
    assert private.stat().st_mode & 0o777 == 0o600
    assert report.read_bytes() == b"up 1\n"


def test_text_is_utf8_with_its_own_line_ends(tmp_path: Path) -> None:
    path = write_atomic(tmp_path / "a.txt", "naïve\nline\r\n")
    assert path.read_bytes() == "naïve\nline\r\n".encode()


def test_a_leftover_temporary_is_skipped_not_overwritten(
    tmp_path: Path, serial_from_zero: str
) -> None:
    leftovers = [tmp_path / f"{serial_from_zero}{i}.tmp" for i in range(3)]
    for n, leftover in enumerate(leftovers):
        leftover.write_text(f"left by a killed run {n}")
    write_atomic(tmp_path / "baseline.json", "{}\n")
    assert (tmp_path / "baseline.json").read_text() == "{}\n"
    assert [p.read_text() for p in leftovers] == [f"left by a killed run {n}" for n in range(3)]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["baseline.json", *(p.name for p in leftovers)]
    )


@posix_only
def test_a_planted_symlink_is_never_written_through(tmp_path: Path, serial_from_zero: str) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    folder = tmp_path / "baselines"
    folder.mkdir()
    (folder / f"{serial_from_zero}0.tmp").symlink_to(outside)
    write_atomic(folder / "t.json", "{}\n")
    assert outside.read_text() == "precious"
    assert (folder / "t.json").read_text() == "{}\n"
    assert (folder / f"{serial_from_zero}0.tmp").is_symlink()


def test_many_leftovers_fall_back_to_random_names(tmp_path: Path, serial_from_zero: str) -> None:
    for i in range(100):
        (tmp_path / f"{serial_from_zero}{i}.tmp").write_text("x")
    write_atomic(tmp_path / "t.json", "{}\n")
    assert (tmp_path / "t.json").read_text() == "{}\n"
    names = {p.name for p in tmp_path.iterdir()}
    assert len(names) == 101  # the 100 leftovers, untouched, and the file: no temporary left


def test_replace_file_returns_the_written_files_status(tmp_path: Path) -> None:
    dirs = WriteBatch()
    path = tmp_path / "deep" / "t.json"
    old = replace_file(path, b'{"v": 1}\n', dirs=dirs)
    new = replace_file(path, b'{"v": 22}\n', dirs=dirs)
    dirs.sync()
    now = os.stat(path)
    assert (new.st_ino, new.st_size, new.st_mtime_ns) == (now.st_ino, now.st_size, now.st_mtime_ns)
    assert old.st_ino != new.st_ino  # a new file renamed over the old one, not rewritten
    assert path.read_bytes() == b'{"v": 22}\n'


def test_a_failed_write_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "t.json"
    write_atomic(path, "old\n")

    def full_disk(fd: int, data: object) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(atomic.os, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(path, "new\n")
    monkeypatch.undo()
    assert path.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_a_short_write_is_finished(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_write = os.write

    def two_bytes_at_a_time(fd: int, data: bytes) -> int:
        return real_write(fd, bytes(data[:2]))

    monkeypatch.setattr(atomic.os, "write", two_bytes_at_a_time)
    path = write_atomic(tmp_path / "t.json", '{"a": [1, 2, 3]}\n')
    monkeypatch.undo()
    assert path.read_text() == '{"a": [1, 2, 3]}\n'
