"""Restart policy for the launcher's workers: a worker that exits is started again with
exponential backoff, so the default single worker can die (OOM, SIGKILL, a bug) without every
later job waiting forever. The restarted worker keeps its id, so it takes its own leased jobs
back at once; /health shows the restart count each worker reports in its heartbeat.

Only the policy lives here (no processes): the launcher asks :meth:`Supervisor.due` on every
tick which dead workers to start again, and reports each start with :meth:`started`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

BACKOFF_BASE_S = 0.25
BACKOFF_MAX_S = 30.0
#: a worker that ran at least this long before dying starts its backoff from the base again
STABLE_AFTER_S = 30.0


@dataclass
class _Life:
    started_at: float
    restarts: int = 0
    failures_in_a_row: int = 0
    died_at: float | None = None
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Backoff bookkeeping per worker name."""

    clock: Callable[[], float] = time.monotonic
    base_s: float = BACKOFF_BASE_S
    max_s: float = BACKOFF_MAX_S
    stable_after_s: float = STABLE_AFTER_S
    _lives: dict[str, _Life] = field(default_factory=dict)

    def started(self, name: str) -> int:
        """Record that ``name`` (re)started now; returns its restart count."""
        now = self.clock()
        life = self._lives.get(name)
        if life is None:
            self._lives[name] = _Life(started_at=now)
            return 0
        life.restarts += 1
        life.started_at, life.died_at, life.restart_at = now, None, None
        return life.restarts

    def restarts(self, name: str) -> int:
        """How many times ``name`` was restarted so far."""
        life = self._lives.get(name)
        return life.restarts if life else 0

    def died(self, name: str) -> float:
        """Record that ``name`` exited (idempotent); returns the delay before its restart."""
        now = self.clock()
        life = self._lives.setdefault(name, _Life(started_at=now))
        if life.restart_at is None:
            lived = now - life.started_at
            life.failures_in_a_row = (
                0 if lived >= self.stable_after_s else life.failures_in_a_row + 1
            )
            delay = min(self.max_s, self.base_s * 2 ** max(0, life.failures_in_a_row - 1))
            life.died_at, life.restart_at = now, now + delay
        return max(0.0, life.restart_at - now)

    def due(self, name: str) -> bool:
        """Whether the dead worker ``name`` should be started again now."""
        life = self._lives.get(name)
        return bool(life and life.restart_at is not None and self.clock() >= life.restart_at)
