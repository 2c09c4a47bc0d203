"""What the plugin does for every test (issue 20, benchmarks/scale.py): nothing that grows
with the run. A test's evidence, once stored, keeps no empty lists of its own; the protocol
hook is ours only when recording."""

from __future__ import annotations

import gc
import weakref

import pytest

from pytest_deployverify.evidence import EVIDENCE_KEY, NO_ITEMS, TestEvidence
from pytest_deployverify.session import PLUGIN_NAME, current
from pytest_deployverify.verdict import Tally

TESTS = """
import pytest

def test_plain():
    pass

@pytest.mark.critical
def test_marked():
    pass

@pytest.mark.parametrize("n", range(3))
def test_many(n):
    assert n < 2
"""


class Keep:
    """The session's stored evidence and running tally, at its end."""

    evidence: dict[str, TestEvidence]
    tally: Tally

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        state = current(session.config)
        self.evidence = dict(state.evidence)
        self.tally = state.tally


def test_stored_evidence_shares_its_empty_lists(pytester: pytest.Pytester, mode) -> None:
    pytester.makepyfile(test_work=TESTS)
    keep = Keep()
    pytester.inline_run(*mode, "-p", "no:cacheprovider", plugins=[keep]).assertoutcome(
        passed=4, failed=1
    )
    evidence = keep.evidence
    assert len(evidence) == 5
    for ev in evidence.values():
        assert ev.findings is NO_ITEMS and ev.correlation_ids is NO_ITEMS
        assert ev.exchanges is NO_ITEMS and ev.replays is NO_ITEMS
    assert evidence["test_work.py::test_plain"].markers is NO_ITEMS
    assert evidence["test_work.py::test_marked"].markers == ["critical"]
    # one list for every test of the same markers
    many = [evidence[f"test_work.py::test_many[{n}]"] for n in range(3)]
    assert many[0].markers == ["parametrize"]
    assert many[0].markers is many[1].markers is many[2].markers
    failed = many[2]
    assert failed.outcome == "failed" and "assert 2 < 2" in failed.message
    # the session end decides from the running tally: it is the recount's, to the last field
    recount = Tally.of(evidence.values())
    assert keep.tally == recount and keep.tally.first_bad is failed
    assert (recount.tests, recount.passed, recount.bad) == (5, 4, 1)


@pytest.mark.parametrize("record", [False, True], ids=["compare", "record"])
def test_the_protocol_hook_is_ours_only_when_recording(
    pytester: pytest.Pytester, record: bool
) -> None:
    pytester.makepyfile(test_work=TESTS)
    config = pytester.parseconfigure(*(["--record-baseline"] if record else []))
    recorder = config.pluginmanager.get_plugin(f"{PLUGIN_NAME}-record")
    assert (recorder is not None) is record
    impls = config.pluginmanager.hook.pytest_runtest_protocol.get_hookimpls()
    ours = [i for i in impls if "deployverify" in (i.plugin_name or "")]
    assert len(ours) == (1 if record else 0)


class Watch:
    """Weak references to the evidence the session stored, taken after its end, and whether
    any test item still held its own."""

    refs: list[weakref.ref[TestEvidence]]
    items_holding: list[str]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        self.refs = [weakref.ref(ev) for ev in current(session.config).evidence.values()]
        self.items_holding = [i.nodeid for i in session.items if EVIDENCE_KEY in i.stash]


def test_the_session_lets_go_of_its_evidence_once_written(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    # pytest's config lives in reference cycles until the interpreter's final collections
    # (in process: the caller's next one). With the collector off, only reference counts free
    # anything: the evidence is gone when the run returns because the session let go of it at
    # unconfigure, not because a collection happened to run.
    pytester.makepyfile(test_work=TESTS)
    watch = Watch()
    gc.disable()
    try:
        result = pytester.inline_run(*mode, "-p", "no:cacheprovider", plugins=[watch])
        alive = [r() is not None for r in watch.refs]
    finally:
        gc.enable()
    result.assertoutcome(passed=4, failed=1)
    assert watch.items_holding == []
    assert alive == [False] * 5
