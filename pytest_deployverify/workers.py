"""Which process of a pytest-xdist run this is: controller, worker, or a run without xdist."""

from __future__ import annotations

import pytest


def is_worker(config: pytest.Config) -> bool:
    """An xdist worker: it runs tests and reports to the controller, writes no session files."""
    return hasattr(config, "workerinput")


def is_xdist_controller(config: pytest.Config) -> bool:
    """The xdist controller: it collects nothing itself and receives every worker's reports."""
    return not is_worker(config) and config.pluginmanager.getplugin("dsession") is not None


def worker_input(config: pytest.Config) -> dict[str, object]:
    """What the controller handed this worker (empty on the controller or without xdist)."""
    data = getattr(config, "workerinput", None)
    return data if isinstance(data, dict) else {}
