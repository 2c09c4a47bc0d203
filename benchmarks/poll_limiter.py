"""Cost per poll and memory of docservice's poll rate limiter as the number of job ids grows
(issue 13: "past 10,000 ids every poll scans them all under one lock").

    .venv/bin/python benchmarks/poll_limiter.py [--keys 100,10000,14000,20000] [--hits 2000]

Compares, in the same run, ``docservice.ratelimit.RateLimiter`` (token buckets in an LRU map
capped at 10,000 keys) with the limiter docservice had before issue 13 (a sliding window of
timestamps per key, an uncapped dict that was swept of idle keys on every hit past 10,000
keys; reproduced below as ``SlidingWindowBefore``). For each key count the limiter is first
filled with that many live keys (each polled once, as many distinct jobs polled within the
last second), then ``--hits`` further polls go to keys chosen at random among them (each key
still live, as in the finding). Reported: median and p99 time per hit (µs, measured around
each hit), and the memory the limiter holds (tracemalloc, after filling).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import threading
import time
import tracemalloc
from collections import deque
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from docservice.ratelimit import RateLimiter

LIMIT_PER_S = 5.0  # docservice's default DOCSERVICE_RATE_POLLS_PER_S


class SlidingWindowBefore:
    """The poll limiter as it was before issue 13 (docservice/api.py at 09adeb3^)."""

    def __init__(self, limit: float, window_s: float) -> None:
        self.limit, self.window_s = limit, window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def hit(self, key: str) -> float | None:
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault(key, deque())
            while hits and now - hits[0] >= self.window_s:
                hits.popleft()
            if len(hits) >= self.limit:
                return max(self.window_s - (now - hits[0]), 0.001)
            hits.append(now)
            if len(self._hits) > 10_000:
                for k in [k for k, v in self._hits.items() if not v]:
                    del self._hits[k]
            return None


def _measure(make: Callable[[], object], keys: int, hits: int, seed: int) -> dict[str, float]:
    names = [f"user-{n % 50}:job-{n}" for n in range(keys)]  # the keys' own strings not counted
    tracemalloc.start()
    limiter = make()
    hit = limiter.hit  # type: ignore[attr-defined]
    for name in names:
        hit(name)
    memory_kb = tracemalloc.get_traced_memory()[0] / 1024
    tracemalloc.stop()
    rng = random.Random(seed)
    order = [rng.choice(names) for _ in range(hits)]
    times = []
    clock = time.perf_counter_ns
    for name in order:
        start = clock()
        hit(name)
        times.append((clock() - start) / 1000)
    times.sort()
    return {
        "median_us": statistics.median(times),
        "p99_us": times[int(len(times) * 0.99) - 1],
        "memory_kb": memory_kb,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", default="100,10000,14000,20000")
    parser.add_argument("--hits", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    limiters: dict[str, Callable[[], object]] = {
        "before (sliding window, swept)": lambda: SlidingWindowBefore(LIMIT_PER_S, 1.0),
        "RateLimiter (LRU token bucket)": lambda: RateLimiter(LIMIT_PER_S, 1.0),
    }
    print("| job ids polled | limiter | per poll median / p99 (µs) | limiter memory (KB) |")
    print("|---|---|---|---|")
    for keys in (int(k) for k in args.keys.split(",")):
        for name, make in limiters.items():
            r = _measure(make, keys, args.hits, args.seed)
            print(
                f"| {keys:,} | {name} | {r['median_us']:.1f} / {r['p99_us']:.1f} "
                f"| {r['memory_kb']:,.0f} |",
                flush=True,
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
