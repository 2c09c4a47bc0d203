"""Constants the plugin self-tests share (a unique module name: ``conftest`` is ambiguous
when tests/plugin and tests/docservice are collected in one session)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
ALT_KEY = "alt-key-" + "5e" * 12
ALT_KEY_VAR = "DV_TEST_ALT_KEY"


@dataclass
class Docservice:
    url: str
    token: str
    webhook_secret: str
    data: dict[str, Any]


@contextmanager
def launched_docservice(*args: str, name: str = "test-docservice") -> Iterator[Docservice]:
    """A docservice deployment (SQLite) started through its launcher with extra ``args``
    (e.g. ``"--fault", "empty_status"``), stopped on exit."""
    from pytest_deployverify import launch
    from pytest_deployverify.config import LaunchSpec

    spec = LaunchSpec(
        command=" ".join(("{python} -m docservice up --ready-file {ready_file}", *args)),
        secrets=(
            ("DOCSERVICE_API_TOKENS", "api_token"),
            ("DOCSERVICE_WEBHOOK_SECRET", "webhook_secret"),
        ),
        cwd=str(REPO),
    )
    deployment = launch.start(spec, env_name=name, timeout=90)
    try:
        yield Docservice(
            url=deployment.api_url,
            token=deployment.secrets["api_token"],
            webhook_secret=deployment.secrets["webhook_secret"],
            data=deployment.data,
        )
    finally:
        deployment.stop()
