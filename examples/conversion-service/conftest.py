"""Shared set-up for the conversion-service suite: where its sample documents live.

Everything else (the target, uploads, baselines, timings) comes from pytest-deployverify's
fixtures and the [tool.deployverify] tables in pyproject.toml.
"""

from __future__ import annotations

from pathlib import Path

import pytest

DOCUMENTS = Path(__file__).parent / "documents"


@pytest.fixture
def sample_pdf() -> Path:
    """A real one-page PDF the conversion service turns into Markdown."""
    return DOCUMENTS / "sample.pdf"
