"""The ``timings`` fixture and the perf configuration: samples recorded per test, pipeline
stages grouped own/external, limits set globally and per timing, and a real record-then-compare
round trip through the baseline component."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import pytest
from verdict_support import FAKE_BASELINE_CONFTEST, health_server, load_verdict, write_fake_baseline

import pytest_deployverify.perf  # noqa: F401  (imported before inner runs, see conftest)
from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.perf import Timings
from pytest_deployverify.perf_config import PerfConfig, perf_config_from

BASE = [0.50, 0.52, 0.49, 0.51, 0.50, 0.53, 0.48, 0.50]


def run(pytester: pytest.Pytester, source: str, *args: str, pyproject: str = "") -> dict[str, Any]:
    pytester.makeconftest(FAKE_BASELINE_CONFTEST)
    if pyproject:
        pytester.makefile(".toml", pyproject=textwrap.dedent(pyproject))
    pytester.makepyfile(test_inner=textwrap.dedent(source))
    result = pytester.runpytest("-p", "no:cacheprovider", "--verdict-file", "v.json", *args)
    data = load_verdict(pytester.path / "v.json")
    data["_result"] = result
    return data


def test_samples_from_several_tests_are_pooled_per_name(
    pytester: pytest.Pytester, mode: list[str]
) -> None:
    write_fake_baseline(pytester.path, timings={"api.latency": BASE})
    data = run(
        pytester,
        f"""
        import pytest
        @pytest.mark.parametrize("half", [0, 1])
        def test_latency(timings, half):
            for s in {BASE!r}[half * 4:(half + 1) * 4]:
                timings.record("api.latency", s)
        """,
        *mode,
    )
    (t,) = data["timings"]
    assert t["name"] == "api.latency" and t["group"] == "own"
    assert sorted(t["target"]["samples"]) == sorted(BASE)
    assert t["outcome"] == "pass"


def test_record_run_records_each_stage_the_total_and_our_own_share() -> None:
    class Run:  # the attributes of pipeline.PipelineRun that record_run reads
        stage_durations = {
            "uploaded": 0.01,
            "parse_queued": 1.5,
            "chunking": 0.2,
            "embedding_in_progress": 0.7,
        }
        total_seconds = 2.41

    ev = TestEvidence(nodeid="t")
    Timings(ev, PerfConfig()).record_run(Run())
    assert ev.timings == {
        "pipeline.uploaded": [0.01],
        "pipeline.parse_queued": [1.5],
        "pipeline.chunking": [0.2],
        "pipeline.embedding_in_progress": [0.7],
        "pipeline.own": [pytest.approx(0.21)],
        "pipeline.total": [2.41],
    }
    assert ev.timing_groups["pipeline.parse_queued"] == "external"
    assert ev.timing_groups["pipeline.embedding_in_progress"] == "external"
    assert ev.timing_groups["pipeline.chunking"] == "own"
    assert ev.timing_groups["pipeline.own"] == "own"
    assert ev.timing_groups["pipeline.total"] == "external"


def test_record_run_without_external_stages_keeps_the_total_own() -> None:
    ev = TestEvidence(nodeid="t")
    run = {"stage_durations": {"RECEIVED": 0.1, "SCANNING": 0.3}, "total_seconds": 0.4}
    Timings(ev, PerfConfig()).record_run(run, prefix="alt")
    assert ev.timing_groups == {"alt.RECEIVED": "own", "alt.SCANNING": "own", "alt.total": "own"}


def test_external_stages_are_configurable() -> None:
    perf = perf_config_from({"external_stages": ["SCANNING"]}, "[x]")
    ev = TestEvidence(nodeid="t")
    Timings(ev, perf).record_run({"stage_durations": {"SCANNING": 1.0, "parse_queued": 1.0}})
    assert ev.timing_groups["pipeline.SCANNING"] == "external"
    assert ev.timing_groups["pipeline.parse_queued"] == "own"  # the default list was replaced
    perf = perf_config_from({"external_stages": {"SCAN*": "virus scanner"}}, "[x]")
    assert perf.external_service("alt.SCANNING") == "virus scanner"


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "fast"])
def test_record_refuses_bad_samples(bad: Any) -> None:
    with pytest.raises(ValueError, match="timing 'x'"):
        Timings(TestEvidence(nodeid="t"), PerfConfig()).record("x", bad)


def test_per_timing_limits_win_over_global_and_command_line(pytester: pytest.Pytester) -> None:
    write_fake_baseline(pytester.path, timings={"slow": BASE, "strict": BASE})
    source = f"""
    def test_perf(timings):
        for s in {BASE!r}:
            timings.record("slow", s * 1.5)
            timings.record("strict", s * 1.5)
    """
    pyproject = """
    [tool.deployverify.perf]
    ratio = 1.1
    min_samples = 6

    [tool.deployverify.perf.timings."slow"]
    ratio = 2.0
    confidence = 0.9
    """
    data = run(pytester, source, "--perf-ratio", "1.3", pyproject=pyproject)
    by_name = {t["name"]: t for t in data["timings"]}
    assert (by_name["slow"]["allowed_ratio"], by_name["slow"]["confidence"]) == (2.0, 0.9)
    assert by_name["slow"]["outcome"] == "pass"
    assert by_name["strict"]["allowed_ratio"] == 1.3  # the command line beats pyproject
    assert by_name["strict"]["outcome"] == "fail"
    assert data["verdict"] == "fail"


@pytest.mark.parametrize(
    ("pyproject", "message"),
    [
        ("[tool.deployverify.perf]\nratio = 'fast'\n", "*ratio = 'fast' must be a number*"),
        ("[tool.deployverify.perf]\nratio = 0.9\n", "*allowed ratio must be above 1.0*"),
        ("[tool.deployverify.perf]\nratoi = 1.5\n", "*unknown key(s) ratoi*"),
        (
            '[tool.deployverify.perf.timings."x"]\ngroup = "theirs"\n',
            '*timings."x"*group must be "own" or "external"*',
        ),
    ],
)
def test_bad_perf_config_is_one_clear_usage_error(
    pytester: pytest.Pytester, pyproject: str, message: str
) -> None:
    pytester.makefile(".toml", pyproject=pyproject)
    pytester.makepyfile(test_inner="def test_a(): pass\n")
    result = pytester.runpytest("-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*[[]tool.deployverify.perf*" + message.lstrip("*")])
    assert "Traceback" not in result.stderr.str()


# ---------------------------------------------------------------- with the real baseline


@pytest.fixture
def target_url() -> Iterator[str]:
    """A reachable loopback target (see verdict_support.health_server)."""
    with health_server() as url:
        yield url


def test_record_then_compare_judges_against_recorded_samples(
    pytester: pytest.Pytester, target_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makefile(
        ".toml",
        pyproject=textwrap.dedent(
            f"""
            [tool.deployverify]
            default_env = "stage"
            [tool.deployverify.envs.stage]
            base_url = "{target_url}"
            """
        ),
    )
    pytester.makepyfile(
        test_inner=f"""
        import os
        def test_perf(timings, target):
            factor = float(os.environ.get("SLOWDOWN", "1"))
            for s in {BASE!r}:
                timings.record("stage.total", s * factor)
        """
    )
    args = ("-p", "no:cacheprovider", "--baseline", "bl", "--verdict-file", "v.json")
    recorded = pytester.runpytest(*args, "--record-baseline", "--record-runs", "1")
    assert recorded.ret == 0, recorded.stdout.str()
    assert any(pytester.path.joinpath("bl").rglob("*.json")), "no baseline file written"

    same = pytester.runpytest(*args)
    data = load_verdict(pytester.path / "v.json")
    assert data["verdict"] == "pass", data["reason"]
    assert data["timings"][0]["baseline"]["samples"] == BASE
    assert data["baseline"]["checksum"] is not None
    assert same.ret == 0

    monkeypatch.setenv("SLOWDOWN", "2")
    slower = pytester.runpytest(*args)
    data = load_verdict(pytester.path / "v.json")
    assert data["verdict"] == "fail"
    assert data["reason"].startswith("Timing stage.total: slower than allowed")
    assert slower.ret == 1


def test_stage_names_under_a_dotted_prefix_are_still_external() -> None:
    perf = PerfConfig()
    assert perf.group_for("serial.small.parse_queued") == "external"
    assert perf.external_service("serial.small.embedding_in_progress") == "embeddings"
    assert perf.group_for("serial.small.chunking") == "own"


def test_own_share_is_derived_from_an_older_baseline_without_it() -> None:
    from pytest_deployverify.perf_session import judge_timings

    base = {
        "p.parse_queued": [1.0] * 6,
        "p.chunking": [0.2] * 6,
        "p.uploaded": [0.1] * 6,
        "p.total": [1.3] * 6,
    }
    target = {"p.own": [0.3] * 6, "p.lonely.own": [0.3] * 6}
    results = {r.name: r for r in judge_timings(target, {}, base, PerfConfig())}
    assert results["p.own"].outcome == "pass"
    assert results["p.own"].baseline_samples == [pytest.approx(0.3)] * 6
    # nothing to derive it from: a missing baseline is a fail
    assert results["p.lonely.own"].outcome == "fail"
    assert "no samples" in results["p.lonely.own"].reason
