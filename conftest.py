"""The repository's own pytest set-up: no product logic here."""

from __future__ import annotations

import os

import pytest

#: Plugins of the dev tools (schemathesis, which imports hypothesis; syrupy; anyio) that no
#: self-test's inner run uses. pytest imports every installed plugin at start-up, and under
#: PYTHONDONTWRITEBYTECODE it re-does the assertion rewriting of hypothesis and schemathesis
#: each time: about 2 s of CPU per pytest process on an idle machine, and the self-tests start
#: hundreds of them (inner xdist workers, subprocess runs). The outer run blocks them with the
#: same flags in pyproject's addopts.
INNER_RUN_ADDOPTS = "-p no:schemathesis -p no:hypothesispytest -p no:syrupy -p no:anyio"


def pytest_configure(config: pytest.Config) -> None:
    # pytest runs started with subprocess (not through pytester) inherit this
    os.environ["PYTEST_ADDOPTS"] = INNER_RUN_ADDOPTS


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytest's ``pytester``, its inner runs without the dev tools' plugins (see above).

    pytester discards PYTEST_ADDOPTS when it is created; this sets it again for the test.
    """
    monkeypatch.setenv("PYTEST_ADDOPTS", INNER_RUN_ADDOPTS)
    return pytester
