"""Shared helpers for the tests/plugin/test_baseline_*.py modules (imported, not a conftest).

``noisy``: the noisy JSON service (servers/noisyservice.py), one per module, drift reset per
test. ``BaselineProject`` writes an inner project whose ``noisy`` environment points at it
(plus a protected ``prod`` environment at the same URL) and reads its baseline files.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema  # noqa: F401
import pytest
from noisyservice import NoisyService

# Imported before any in-process pytester run (see tests/plugin/conftest.py): a module first
# imported inside an inner run is dropped afterwards, and jsonschema's FormatError from two
# imports of it no longer match each other.
from pytest_deployverify.baseline import (  # noqa: F401
    compare,
    fixture,
    learn,
    recording,
    schema,
    session,
    shapes,
    storage,
)

INNER_INI = """
[tool.pytest.ini_options]
asyncio_default_fixture_loop_scope = "function"
"""

#: An inner test module checking the noisy service's document through the api fixture.
DOC_TEST = """
def test_doc(api, baseline):
    baseline.check("doc", api.get("/doc"))
"""


@pytest.fixture(scope="module")
def noisy_service() -> Iterator[NoisyService]:
    svc = NoisyService().start()
    yield svc
    svc.stop()


@pytest.fixture
def noisy(noisy_service: NoisyService) -> NoisyService:
    """The noisy service with no drift and no secret in its body."""
    noisy_service.drift = ""
    noisy_service.secret_in_body = ""
    return noisy_service


class BaselineProject:
    """An inner pytest project for baseline tests."""

    def __init__(self, pytester: pytest.Pytester, url: str) -> None:
        self.pytester = pytester
        self.url = url
        self.pyproject()

    def pyproject(self, extra: str = "", tool_extra: str = "") -> None:
        text = f"""
            [tool.deployverify]
            default_env = "noisy"
            {tool_extra}

            [tool.deployverify.envs.noisy]
            base_url = "{self.url}"

            [tool.deployverify.envs.prod]
            base_url = "{self.url}"
            protected = true
            """
        self.pytester.makefile(
            ".toml", pyproject=textwrap.dedent(text) + textwrap.dedent(extra) + INNER_INI
        )

    def tests(self, source: str, name: str = "test_inner") -> None:
        self.pytester.makepyfile(**{name: textwrap.dedent(source)})

    def run(self, *args: str) -> pytest.RunResult:
        return self.pytester.runpytest("-p", "no:cacheprovider", *args)

    def record(self, *args: str) -> pytest.RunResult:
        return self.run("--record-baseline", *args)

    @property
    def baseline_dir(self) -> Path:
        return self.pytester.path / "baselines"

    def files(self) -> dict[str, str]:
        """Relative path -> text of every baseline file."""
        root = self.baseline_dir
        if not root.is_dir():
            return {}
        return {
            p.relative_to(root).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    def load(self, rel: str) -> dict[str, Any]:
        return json.loads((self.baseline_dir / rel).read_text(encoding="utf-8"))


@pytest.fixture
def bproject(pytester: pytest.Pytester, noisy: NoisyService) -> BaselineProject:
    """An inner project pointed at the noisy service."""
    return BaselineProject(pytester, noisy.url)
