"""Token-bucket rate limits whose memory and per-hit cost are bounded.

Each key has one bucket (tokens, last refill time) in an LRU map capped at ``max_keys``: a hit
costs O(1) whatever the number of keys, and the least recently used bucket is forgotten when a
new key arrives at the cap (a forgotten key starts again with a full bucket - it had been idle
longest). One API process; the lock is held only for that O(1) update.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict

DEFAULT_MAX_KEYS = 10_000


class RateLimiter:
    """At most ``limit`` hits per ``window_s`` per key, refilled continuously."""

    def __init__(self, limit: float, window_s: float, max_keys: int = DEFAULT_MAX_KEYS) -> None:
        self.limit, self.window_s, self.max_keys = float(limit), float(window_s), max_keys
        self._rate = self.limit / self.window_s  # tokens per second
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._buckets)

    def hit(self, key: str, now: float | None = None) -> float | None:
        """Take one token; returns seconds to wait when none is left (the hit is not counted)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            tokens, last = self._buckets.pop(key, (self.limit, now))
            tokens = min(self.limit, tokens + (now - last) * self._rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = None
            else:
                self._buckets[key] = (tokens, now)
                wait = max((1.0 - tokens) / self._rate, 0.001)
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait
