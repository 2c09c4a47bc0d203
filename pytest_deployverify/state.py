"""Per-session state, kept on ``config.stash`` (no module globals), as syrupy does."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import pytest

from pytest_deployverify.evidence import TestEvidence


@dataclass
class SessionState:
    """Everything one pytest session knows about the deployment being verified.

    Each component owns its own slot; the hooks in ``plugin.py`` fill them in order.
    """

    config: pytest.Config
    started_at: str = field(
        default_factory=lambda: datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    )
    #: config.Target, resolved at session start (controller) or from workerinput (worker)
    target: Any = None
    #: launch.Deployment when the target is an embedded deployment this session started
    deployment: Any = None
    #: nodeid -> evidence, complete on the controller after every test's teardown report
    evidence: dict[str, TestEvidence] = field(default_factory=dict)
    #: baseline.session.BaselineSession
    baseline: Any = None
    #: judge results for timings, filled at session end
    timing_results: list[Any] = field(default_factory=list)
    #: verdict.Verdict, filled at session end (controller only)
    verdict: Any = None
    #: report.events.EventStream (controller only)
    events: Any = None
    #: alerts.Alerter (controller only)
    alerter: Any = None
    #: exit status the verdict asks for; applied in pytest_sessionfinish
    exit_status: int | None = None

    @property
    def is_worker(self) -> bool:
        return hasattr(self.config, "workerinput")


STATE_KEY = pytest.StashKey[SessionState]()
EVIDENCE_KEY = pytest.StashKey[TestEvidence]()


def get_state(config: pytest.Config) -> SessionState:
    state = config.stash.get(STATE_KEY, None)
    if state is None:
        state = SessionState(config=config)
        config.stash[STATE_KEY] = state
    return state
