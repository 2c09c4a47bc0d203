"""Fixtures for the docservice tests; shared helpers live in docservice_support.py.

A uniquely named helper module (not ``conftest``) keeps the imports unambiguous when
tests/plugin and tests/docservice are collected in one session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from docservice_support import FIXTURES, Deployment, launch


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """A healthy SQLite deployment with 2 workers, shared by one test module."""
    with launch(tmp_path_factory.mktemp("docservice"), workers=2) as dep:
        yield dep


@pytest.fixture
def fixture_pdf() -> Path:
    """The 5-page fixture PDF."""
    return FIXTURES / "medium.pdf"
