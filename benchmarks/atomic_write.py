"""One small file written atomically, three ways, the same bytes into the same directories:
``atomic.replace_file`` (fsynced and renamed one by one), the way it was written before that
(``tempfile.mkstemp``, a text wrapper, ``chmod`` by name, and a ``stat`` afterwards for the
baseline cache), and ``atomic.WriteBatch`` (staged one by one, synced together and renamed at
the end: how a recording writes since the eighth issue-20 session).

One command, from the repository root::

    .venv/bin/python benchmarks/atomic_write.py [--files 2000] [--rounds 5] [--no-fsync]

Prints the CPU time (user + system of this process) and the wall time per file, the median of
``--rounds`` interleaved rounds. A recording writes one such file per test
(benchmarks/README.md, "Figures after the sixth issue-20 session" and "... the eighth").
``--no-fsync`` replaces ``os.fsync`` and the filesystem sync with no-ops, to show what the rest
costs.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pytest_deployverify import atomic
from pytest_deployverify.atomic import TMP_PREFIX, WriteBatch, replace_file

#: a small baseline file's size
TEXT = '{\n  "a": 1,\n  "b": "' + "x" * 800 + '"\n}\n'


def mkstemp_and_wrapper(path: Path, text: str, dirs: WriteBatch) -> os.stat_result:
    """The alternative: how ``write_atomic`` wrote a file before commit 7629a64."""
    parent = path.parent
    dirs.ensure(parent)
    fd, tmp = tempfile.mkstemp(prefix=TMP_PREFIX, suffix=".tmp", dir=parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dirs.written(parent)
    return os.stat(path)  # what the recording's cache needed afterwards


def descriptor(path: Path, text: str, dirs: WriteBatch) -> os.stat_result:
    """Ours: the text encoded once (a recording already has the bytes for its digest)."""
    return replace_file(path, text.encode("utf-8"), dirs=dirs)


def staged(path: Path, text: str, dirs: WriteBatch) -> os.stat_result:
    """A recording since the eighth issue-20 session: staged now, and every file made durable
    by one filesystem sync when ``one_round`` publishes the batch (on Linux)."""
    return dirs.stage(path, text.encode("utf-8"))


def one_round(
    write: Callable[[Path, str, WriteBatch], os.stat_result], root: Path, files: int
) -> tuple[float, float]:
    folder = Path(tempfile.mkdtemp(dir=root))
    dirs = WriteBatch()
    cpu, wall = time.process_time(), time.perf_counter()
    for i in range(files):
        write(folder / f"module{i % 50}" / f"test_{i}.json", TEXT, dirs)
    failed = dirs.publish()  # the staged files go in place; every variant's directories synced
    if failed:
        raise SystemExit(f"not written: {failed[0]}")
    return (time.process_time() - cpu) / files, (time.perf_counter() - wall) / files


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args()
    if args.no_fsync:
        os.fsync = lambda fd: None
        atomic.sync_filesystems = lambda directories: None
    variants = {
        "mkstemp + text wrapper + stat": mkstemp_and_wrapper,
        "replace_file": descriptor,
        "WriteBatch.stage + publish": staged,
    }
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory(prefix="dv-atomic-", dir=Path.cwd()) as tmp:
        for _ in range(args.rounds):
            for name, write in variants.items():
                figures[name].append(one_round(write, Path(tmp), args.files))
    print(f"{args.files} files per round, median of {args.rounds} rounds, per file:")
    for name, rows in figures.items():
        cpu = statistics.median(r[0] for r in rows) * 1e6
        wall = statistics.median(r[1] for r in rows) * 1e6
        print(f"  {name:32s} CPU {cpu:7.1f} us   wall {wall:7.1f} us")


if __name__ == "__main__":
    main()
