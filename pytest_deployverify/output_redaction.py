"""Redacts pytest's own output: the test reports pytest prints, logs and writes to junitxml.

Reports and logs we write go through :mod:`pytest_deployverify.redact` already; pytest's
terminal output does not. A target that echoes the token in a response body ends up in an
assertion message, in ``-l`` locals, in captured output or in a traceback. Every one of those
reaches the terminal, ``--junitxml`` and xdist's controller through the :class:`TestReport`,
so rewriting the report as it is made covers them all. pytest's failure representation is a
tree of small dataclasses; its strings are rewritten in place, so the layout, colours and the
short summary's crash line survive. Should a secret still show after that (a representation
this walk does not know), the whole representation becomes its redacted text.

Two outputs reach the terminal before any report exists: live logging (``--log-cli-level``,
and the ``--log-file`` it shares records with) and, when pytest does not capture file
descriptors (``-s``, ``--capture=sys``, ``--capture=tee-sys``), whatever reaches descriptors 1
and 2: ``print``, ``os.write``, a child process's output. :func:`install` wraps the formatter
of pytest's live-log and log-file handlers (each line redacted as it is formatted) and routes
descriptors 1 and 2 through a redacting pipe (:mod:`fd_relay`); under ``-s`` it also wraps
``sys.stdout``/``sys.stderr`` (for a stream that is not descriptor 1 or 2). The pipe is a
stream: a secret split over two writes is recognised, because a tail that could be the start
of a secret is held back until the next write shows whether it is. :func:`uninstall` puts
everything back. With ``--capture=fd`` (pytest's default) a test's descriptors are captured
into its report, which :func:`redact_report` rewrites whole.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import functools
import logging
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

import pytest

from pytest_deployverify.fd_relay import FdRelay
from pytest_deployverify.redact import MIN_SECRET_LENGTH, REDACTED, redact_text

#: pytest shortens long values in assertion messages to "head...tail": fragments this long
#: next to the ellipsis are taken for the secret's ends
_MIN_FRAGMENT = 4


def redact_report(report: pytest.TestReport, secrets: Sequence[str]) -> None:
    """Rewrite ``report`` in place: longrepr, captured sections and user properties without
    secrets. Run it after every other ``pytest_runtest_makereport`` wrapper added to them."""
    if report.longrepr is None and not report.sections and not report.user_properties:
        return  # a passed phase that printed nothing: nothing to rewrite
    clean = _cleaner(tuple(secrets))
    longrepr = report.longrepr
    if isinstance(longrepr, tuple):  # a skip: (path, lineno, reason)
        path, lineno, reason = longrepr
        report.longrepr = (path, lineno, clean(reason))
    elif isinstance(longrepr, str):
        report.longrepr = clean(longrepr)
    elif longrepr is not None:
        text = str(longrepr)
        if clean(text) != text:
            _walk(longrepr, clean, depth=0)
            text = str(longrepr)
            if clean(text) != text:
                report.longrepr = clean(text)
    report.sections = [(title, clean(content)) for title, content in report.sections]
    # junitxml writes these as <properties>; ours carry observed response values
    report.user_properties = [
        (name, clean(value) if isinstance(value, str) else value)
        for name, value in report.user_properties
    ]


@functools.lru_cache(maxsize=8)
def _cleaner(secrets: tuple[str, ...]) -> _Cleaner:
    # one per set of secrets, not one per report phase (it compiles the fragment pattern)
    return _Cleaner(secrets)


class _Cleaner:
    def __init__(self, secrets: Sequence[str]) -> None:
        self.secrets = [s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH]
        patterns = []
        for secret in self.secrets:
            if len(secret) < 2 * _MIN_FRAGMENT:
                continue
            heads = "|".join(
                re.escape(secret[:k]) for k in range(len(secret) - 1, _MIN_FRAGMENT - 1, -1)
            )
            tails = "|".join(
                re.escape(secret[-k:]) for k in range(len(secret) - 1, _MIN_FRAGMENT - 1, -1)
            )
            patterns.append(f"(?:{heads})(?=\\.\\.\\.)")
            patterns.append(f"(?<=\\.\\.\\.)(?:{tails})")
        self.fragments = re.compile("|".join(patterns)) if patterns else None

    def __call__(self, text: str) -> str:
        out = redact_text(text, self.secrets)
        if self.fragments is not None:
            out = self.fragments.sub(REDACTED, out)
        return out


def _walk(node: Any, clean: _Cleaner, depth: int) -> Any:
    """``node`` with every string cleaned; dataclasses (pytest's reprs) are changed in place."""
    if depth > 50:
        return node
    if isinstance(node, str):
        return clean(node)
    if isinstance(node, list):
        node[:] = [_walk(item, clean, depth + 1) for item in node]
        return node
    if isinstance(node, tuple):
        return tuple(_walk(item, clean, depth + 1) for item in node)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            cleaned = _walk(value, clean, depth + 1)
            if cleaned is not value:
                object.__setattr__(node, f.name, cleaned)
    return node


# ------------------------------------------------------------------ live output (-s, live logs)

_INSTALLED = pytest.StashKey["list[Callable[[], None]]"]()
#: pytest's logging plugin handlers that write as the run goes (not into a report)
_LIVE_HANDLERS = ("log_cli_handler", "log_file_handler")


class _Current:
    """A cleaner for the session's secrets as they are now (known once the target is
    resolved), rebuilt when they change; text passes unchanged while there are none."""

    def __init__(self, secrets: Callable[[], Sequence[str]]) -> None:
        self._secrets = secrets
        self._key: tuple[str, ...] = ()
        self._clean: _Cleaner | None = None

    def __call__(self, text: str) -> str:
        values = tuple(self._secrets())
        if not values:
            return text
        if values != self._key or self._clean is None:
            self._key, self._clean = values, _Cleaner(values)
        return self._clean(text)

    def partial_tail(self, text: str) -> int:
        """Length of the longest end of ``text`` that is the start (not the whole) of a
        secret: 0 when no secret can continue there."""
        longest = 0
        for secret in self._key if self._clean is not None else ():
            if len(secret) < MIN_SECRET_LENGTH:
                continue
            for k in range(min(len(secret) - 1, len(text)), longest, -1):
                if text.endswith(secret[:k]):
                    longest = k
                    break
        return longest


class _HoldBack:
    """Redacts a byte stream that arrives in chunks (a relayed file descriptor): a tail that
    could be the start of a secret waits for the next chunk, so a secret split over two writes
    is still recognised. Bytes that are not UTF-8 pass through unchanged."""

    def __init__(self, clean: _Current) -> None:
        self._clean = clean
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self._held = ""

    def feed(self, data: bytes) -> bytes:
        text = self._clean(self._held + self._decoder.decode(data))
        keep = self._clean.partial_tail(text)
        self._held = text[len(text) - keep :]
        return text[: len(text) - keep].encode("utf-8", "surrogateescape")

    def end(self) -> bytes:
        text = self._clean(self._held + self._decoder.decode(b"", final=True))
        self._held = ""
        return text.encode("utf-8", "surrogateescape")


class _RedactingFormatter(logging.Formatter):
    """Formats with the handler's own formatter, then redacts the finished line (message,
    traceback and stack alike)."""

    def __init__(self, inner: logging.Formatter, clean: _Current) -> None:
        super().__init__()
        self.inner = inner
        self._clean = clean

    def format(self, record: logging.LogRecord) -> str:
        return self._clean(self.inner.format(record))

    def __getattr__(self, name: str) -> Any:  # pytest's formatters have extra attributes
        return getattr(self.inner, name)


class _RedactingStream:
    """``sys.stdout``/``sys.stderr`` under ``-s``: every write redacted, the rest delegated."""

    def __init__(self, inner: TextIO, clean: _Current) -> None:
        self.inner = inner
        self._clean = clean

    def write(self, text: str) -> int:
        self.inner.write(self._clean(text) if isinstance(text, str) else text)
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def install(config: pytest.Config, secrets: Callable[[], Sequence[str]]) -> None:
    """Redact live logging and, with capture off, the test's stdout/stderr (see the module
    docstring). Call once the logging plugin is configured (session start)."""
    if _INSTALLED in config.stash:
        return
    clean = _Current(secrets)
    undo: list[Callable[[], None]] = []
    plugin = config.pluginmanager.get_plugin("logging-plugin")
    for name in _LIVE_HANDLERS:
        handler = getattr(plugin, name, None)
        if isinstance(handler, logging.Handler) and handler.formatter is not None:
            original = handler.formatter
            handler.setFormatter(_RedactingFormatter(original, clean))
            undo.append(functools.partial(handler.setFormatter, original))
    capture = getattr(config.option, "capture", None)
    if capture == "no":
        for stream in ("stdout", "stderr"):
            original_stream = getattr(sys, stream)
            wrapper = _RedactingStream(original_stream, clean)
            setattr(sys, stream, wrapper)
            undo.append(functools.partial(_restore, stream, original_stream, wrapper))
    if capture in _UNCAPTURED_FDS:
        for fd in (1, 2):
            stream_clean = _HoldBack(clean)
            relay = FdRelay(fd, stream_clean.feed, stream_clean.end)
            undo.append(functools.partial(_stop_relay, relay))
    config.stash[_INSTALLED] = undo


#: capture methods that leave file descriptors 1 and 2 to the terminal during tests
_UNCAPTURED_FDS = ("no", "sys", "tee-sys")
#: seconds to wait at the end for a relay to pass on what is still in its pipe
_RELAY_DRAIN_S = 2.0


def _stop_relay(relay: FdRelay) -> None:
    # what Python still buffers must go through the pipe before the descriptor is put back
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    relay.stop(_RELAY_DRAIN_S)


def _restore(stream: str, original: TextIO, wrapper: _RedactingStream) -> None:
    if getattr(sys, stream) is wrapper:  # someone replaced it since: leave theirs alone
        setattr(sys, stream, original)


def uninstall(config: pytest.Config) -> None:
    """Put back what :func:`install` wrapped."""
    undo: list[Callable[[], None]] = config.stash.get(_INSTALLED, [])
    for action in reversed(undo):
        action()
    config.stash[_INSTALLED] = []
