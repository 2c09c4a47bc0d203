"""Constants the plugin self-tests share (a unique module name: ``conftest`` is ambiguous
when tests/plugin and tests/docservice are collected in one session)."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures"
ALT_KEY = "alt-key-" + "5e" * 12
ALT_KEY_VAR = "DV_TEST_ALT_KEY"
