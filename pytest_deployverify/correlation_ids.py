"""Correlation IDs and the W3C trace context that carries them.

A test's correlation ID is a UUID4; its ``traceparent`` carries the same digits as the
trace-id, so a tracing backend finds the test's requests under the ID the report shows.
"""

from __future__ import annotations

import random
import re
import uuid

_HEX32 = re.compile(r"^[0-9a-f]{32}$")


def new_correlation_id() -> str:
    """A fresh correlation ID: a UUID4 (36 chars, valid as X-Request-ID on Heroku too)."""
    return str(uuid.uuid4())


def trace_id_for(correlation_id: str) -> str:
    """The 32-hex W3C trace-id that carries ``correlation_id`` (its UUID digits when it is
    one, else a digest of it), never all zeros."""
    compact = correlation_id.replace("-", "").lower()
    if not _HEX32.match(compact):
        import hashlib

        compact = hashlib.sha256(correlation_id.encode()).hexdigest()[:32]
    return compact if compact.strip("0") else "0" * 31 + "1"


def span_id() -> str:
    # a span id needs uniqueness, not secrecy: the PRNG avoids a urandom syscall per request
    return f"{random.getrandbits(64) or 1:016x}"  # all zeros is invalid


def traceparent_for(correlation_id: str) -> str:
    """A valid ``traceparent``: ``00-<trace-id>-<new 16-hex parent-id>-01`` (sampled)."""
    return f"00-{trace_id_for(correlation_id)}-{span_id()}-01"
