"""Stop when whoever launched ``docservice up`` is gone.

pytest-deployverify (or any launcher following the same documented contract) passes the read
end of a pipe as an inherited file descriptor named by ``DEPLOYVERIFY_PARENT_FD`` and keeps the
only write end. Nothing is ever written: end-of-file means the launcher exited, was killed
(SIGKILL, OOM) or closed it on purpose. The launcher then stops like on SIGTERM: every child,
the PostgreSQL server, temp directories, the ready file.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from docservice.logs import log

PARENT_FD_VAR = "DEPLOYVERIFY_PARENT_FD"
logger = logging.getLogger("docservice.launcher")


def watch_launcher(on_gone: Callable[[], None]) -> bool:
    """Call ``on_gone`` (from a daemon thread) once the launcher's pipe reaches end-of-file.

    Removes the variable from this process's environment first: children must not read a
    descriptor number that means nothing to them. False when there is nothing to watch.
    """
    raw = os.environ.pop(PARENT_FD_VAR, "").strip()
    if not raw:
        return False
    try:
        fd = int(raw)
        os.fstat(fd)
        os.set_inheritable(fd, False)  # only this process watches; children need no copy
    except (ValueError, OSError) as exc:
        log(
            logger,
            f"{PARENT_FD_VAR} is set but unusable; not watching the launcher",
            logging.WARNING,
            value=raw,
            error=str(exc),
        )
        return False

    def wait() -> None:
        try:
            while os.read(fd, 4096):
                pass
        except OSError:
            pass
        log(logger, "launcher gone (its lifeline closed): stopping", logging.WARNING)
        on_gone()

    threading.Thread(target=wait, name="launcher-lifeline", daemon=True).start()
    return True
