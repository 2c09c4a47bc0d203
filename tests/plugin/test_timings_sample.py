"""``timings.sample``: sequential sampling that stops once the judge has decided, bounded in
samples and time, and replayed look by look by the session-end judge; serially and under
xdist, against the alt service (a service not shaped like docservice)."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from verdict_support import load_verdict

from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.judge import JudgeConfig
from pytest_deployverify.perf import PerfConfig, Timings
from pytest_deployverify.perf_session import collect_plans, judge_timings

#: a deterministic spread of 30 reference samples around 0.8 s (about +-25 %)
REFERENCE = [0.8 * (0.75 + 0.5 * ((i * 7) % 30) / 29) for i in range(30)]
PERF = PerfConfig(default=JudgeConfig(abs_floor_s=0.0), external_stages={})


def cycle_of(factor: float) -> Any:
    values = itertools.cycle([x * factor for x in REFERENCE[3:] + REFERENCE[:3]])
    return lambda: next(values)


def sampler(reference: dict[str, list[float]] | None, record_mode: bool = False) -> Timings:
    lookup = None if reference is None else reference.get
    return Timings(TestEvidence(nodeid="t::x"), PERF, lookup, 1, record_mode)


def test_an_unchanged_timing_stops_at_the_first_look_that_passes() -> None:
    t = sampler({"op": REFERENCE})
    (res,) = t.sample("op", cycle_of(1.0), min_samples=5, max_samples=40, look_every=5)
    assert res.outcome == "pass"
    assert len(t.samples["op"]) < 40  # stopped before the maximum


def test_a_much_slower_timing_fails_early_and_an_ambiguous_one_runs_to_the_maximum() -> None:
    slow = sampler({"op": REFERENCE})
    (res,) = slow.sample("op", cycle_of(3.0), min_samples=5, max_samples=40)
    assert res.outcome == "fail" and len(slow.samples["op"]) < 40
    # far noisier than the reference: neither a fail proven nor a slowdown beyond 1.4 ruled
    # out -> the sampler keeps asking, up to the bound, and the answer is inconclusive
    noisy = itertools.cycle([0.4, 3.0, 0.5, 2.5, 0.6, 2.0])
    edge = sampler({"op": REFERENCE})
    (res,) = edge.sample("op", lambda: next(noisy), min_samples=5, max_samples=12, look_every=5)
    assert len(edge.samples["op"]) == 12
    assert res.outcome == "inconclusive" and res.decided
    assert res.looks == 3  # looks at 5, 10 and the maximum 12


def test_budget_bounds_the_time_taken() -> None:
    calls = 0

    def fn() -> float:
        nonlocal calls
        calls += 1
        return 1.0

    t = sampler({"op": REFERENCE})
    t.sample("op", fn, min_samples=5, max_samples=50, budget_s=1e-9)
    assert calls == 1


def test_record_mode_takes_every_planned_sample_and_no_reference_takes_the_minimum() -> None:
    rec = sampler(None, record_mode=True)
    rec.sample("op", cycle_of(1.0), min_samples=5, max_samples=17)
    assert len(rec.samples["op"]) == 17
    none = sampler(None)
    none.sample("op", cycle_of(1.0), min_samples=5, max_samples=17)
    assert len(none.samples["op"]) == 5


def test_a_mapping_records_each_part_and_the_plan_is_kept_for_the_session_judge() -> None:
    ref = {"run.a": REFERENCE, "run.b": REFERENCE}
    t = sampler(ref)
    fa, fb = cycle_of(1.0), cycle_of(3.0)
    t.sample("run", lambda: {"a": fa(), "b": fb()}, min_samples=5, max_samples=30)
    ev = t._evidence
    assert set(ev.timing_plans) == {"run.a", "run.b"}
    assert ev.timing_plans["run.a"] == {"min_samples": 5, "max_samples": 30, "look_every": 5}
    results = judge_timings(ev.timings, {}, ref, PERF, collect_plans({"t::x": ev}))
    by_name = {r.name: r for r in results}
    assert by_name["run.b"].outcome == "fail"
    assert by_name["run.a"].outcome == "pass"
    assert by_name["run.b"].planned_samples == 30 and by_name["run.b"].family_size == 2


@pytest.mark.parametrize(
    "kwargs", [{"min_samples": 1}, {"min_samples": 10, "max_samples": 5}, {"budget_s": 0}]
)
def test_bad_sampling_arguments_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"timings\.sample"):
        sampler({}).sample("op", cycle_of(1.0), **kwargs)


INNER = """
import itertools, os, requests

REFERENCE = {reference!r}

def test_op(timings, target):
    factor = float(os.environ.get("SLOWDOWN", "1"))
    values = itertools.cycle([x * factor for x in REFERENCE])

    def one():
        # a real request to the service under test; the judged seconds are deterministic
        assert requests.get(target.base_url + "/healthz", timeout=5).status_code == 200
        return next(values)

    timings.sample("alt.op", one, min_samples=5, max_samples=30)
"""


def test_sampled_timings_record_then_compare_against_the_alt_service(
    project: Any, alt: Any, mode: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project.alt(alt, extra="\n[tool.deployverify.perf]\nabs_floor_s = 0.0\n")
    project.tests(INNER.format(reference=REFERENCE))
    args = ("--baseline", "bl", "--verdict-file", "v.json", *mode)
    recorded = project.run(*args, "--record-baseline", "--record-runs", "1")
    assert recorded.ret == 0, recorded.stdout.str()
    same = project.run(*args)
    data = load_verdict(project.pytester.path / "v.json")
    assert data["verdict"] == "pass", data["reason"]
    (t,) = data["timings"]
    assert t["baseline"]["n"] == 30  # record mode took every planned sample
    assert t["target"]["n"] < 30  # compare mode stopped once it had decided
    assert t["planned_samples"] == 30 and t["reference"] == "baseline"
    assert same.ret == 0

    monkeypatch.setenv("SLOWDOWN", "2")
    slower = project.run(*args)
    data = load_verdict(project.pytester.path / "v.json")
    assert data["verdict"] == "fail", data["reason"]
    assert data["reason"].startswith("Timing alt.op: slower than allowed")
    assert slower.ret == 1


def test_asample_awaits_and_takes_the_same_samples_and_looks_as_sample() -> None:
    import asyncio

    for factor, outcome in ((1.0, "pass"), (3.0, "fail")):
        sync, async_ = sampler({"op": REFERENCE}), sampler({"op": REFERENCE})
        (want,) = sync.sample("op", cycle_of(factor), min_samples=5, max_samples=40)
        values = cycle_of(factor)

        async def one(values: Any = values) -> float:
            await asyncio.sleep(0)
            return float(values())

        (got,) = asyncio.run(async_.asample("op", one, min_samples=5, max_samples=40))
        assert got.outcome == want.outcome == outcome
        assert async_.samples == sync.samples and got.looks == want.looks


ASYNC_INNER = """
import asyncio, itertools, os, pytest, requests

REFERENCE = {reference!r}

@pytest.mark.asyncio
async def test_batch(timings, target):
    factor = float(os.environ.get("SLOWDOWN", "1"))
    values = itertools.cycle([x * factor for x in REFERENCE])

    async def batch():
        # three concurrent requests to the service under test, one judged value per batch
        get = lambda: requests.get(target.base_url + "/healthz", timeout=5).status_code
        codes = await asyncio.gather(*(asyncio.to_thread(get) for _ in range(3)))
        assert codes == [200, 200, 200]
        return next(values)

    await timings.asample("alt.batch", batch, min_samples=5, max_samples=30)
"""


def test_async_sampled_timings_compare_against_the_alt_service(
    project: Any, alt: Any, mode: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project.alt(alt, extra="\n[tool.deployverify.perf]\nabs_floor_s = 0.0\n")
    project.tests(ASYNC_INNER.format(reference=REFERENCE))
    args = ("--baseline", "bl", "--verdict-file", "v.json", *mode)
    assert project.run(*args, "--record-baseline", "--record-runs", "1").ret == 0
    assert project.run(*args).ret == 0
    data = load_verdict(project.pytester.path / "v.json")
    (t,) = data["timings"]
    assert data["verdict"] == "pass" and t["target"]["n"] < t["baseline"]["n"] == 30

    monkeypatch.setenv("SLOWDOWN", "2")
    assert project.run(*args).ret == 1
    data = load_verdict(project.pytester.path / "v.json")
    assert data["reason"].startswith("Timing alt.batch: slower than allowed"), data["reason"]
