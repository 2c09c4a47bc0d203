"""Routes a file descriptor (1 or 2) through a pipe and a thread that transforms what passes.

Whatever the process writes to the descriptor (``print`` through ``sys.stdout``, ``os.write``,
a C library, a child process that inherited it) goes into the pipe; the thread reads it in
chunks, passes each through ``feed`` and writes the result where the descriptor pointed
before. :meth:`FdRelay.stop` points the descriptor back, and the thread ends once the last
writer has closed the pipe (passing ``end()``'s output on), or is left to run when a child
still holds it after ``timeout`` seconds.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable


class FdRelay:
    """``fd`` routed through ``feed`` until :meth:`stop`."""

    def __init__(self, fd: int, feed: Callable[[bytes], bytes], end: Callable[[], bytes]) -> None:
        self.fd = fd
        self._feed = feed
        self._end = end
        self._saved = os.dup(fd)
        read_end, write_end = os.pipe()
        self._pipe = os.fstat(write_end)
        os.dup2(write_end, fd)
        os.close(write_end)
        self._thread = threading.Thread(
            target=self._pump, args=(read_end,), name=f"deployverify-fd{fd}-relay", daemon=True
        )
        self._thread.start()

    def _pump(self, read_end: int) -> None:
        try:
            while chunk := os.read(read_end, 65536):
                _write_all(self._saved, self._feed(chunk))
            _write_all(self._saved, self._end())
        except OSError:
            pass  # where the output went is gone: nothing left to write it to
        finally:
            os.close(read_end)

    def stop(self, timeout: float) -> None:
        """Point ``fd`` back where it was (unless someone has pointed it elsewhere since) and
        wait up to ``timeout`` seconds for the thread to pass the rest on."""
        with contextlib.suppress(OSError):
            current = os.fstat(self.fd)
            if (current.st_dev, current.st_ino) == (self._pipe.st_dev, self._pipe.st_ino):
                os.dup2(self._saved, self.fd)
        self._thread.join(timeout)
        if not self._thread.is_alive():
            os.close(self._saved)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
