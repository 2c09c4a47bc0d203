"""Timing samples: the ``timings`` fixture's recorder and the perf configuration it follows.

Judging every recorded timing of a session against its reference (baseline, history or a
live reference deployment) is :mod:`perf_session`'s.

Configuration (``pyproject.toml``; the command line wins for the global ratio/confidence, a
per-timing table wins over both)::

    [tool.deployverify.perf]
    ratio = 1.2            # allowed target/baseline ratio (also --perf-ratio)
    confidence = 0.98      # interval level (also --perf-confidence)
    min_samples = 5        # fewer on either side: inconclusive; timings.sample's first look
    max_samples = 50       # timings.sample's default most samples
    look_every = 5         # timings.sample looks again after this many more samples
    abs_floor_s = 0.05     # medians closer than this always pass
    effect_floor = 1.2     # ratio estimate needed to fail (default: the allowed ratio)
    pass_ratio = 1.4       # a pass rules out a slowdown beyond this (default 1 + 2*(ratio-1))
    pass_error = 0.05      # chance of passing a timing really pass_ratio times slower
    external_fails = false # an external stage that is slower holds (inconclusive) by default
    # stage names (fnmatch patterns) that wait on an external service, and which service
    external_stages = { parse_queued = "parser", embedding_in_progress = "embeddings" }

    [tool.deployverify.perf.timings."pipeline.total"]
    ratio = 1.5
"""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.perf_config import GROUPS, PerfConfig

if TYPE_CHECKING:  # the judge and its statistics: loaded when a test samples or judges
    from pytest_deployverify.judge import TimingResult
    from pytest_deployverify.sequential import SamplingPlan

#: What a sampler needs from the session: the reference samples of a timing name (None when
#: there is nothing to compare with, e.g. in record mode) and the family size (how many
#: timings the run judges together, for Holm's first step).
ReferenceLookup = Callable[[str], "list[float] | None"]

#: the name segment of timings the client observed (no server timestamps): ``pipeline.client.x``
CLIENT_SEGMENT = ".client."
CLIENT_OBSERVED_NOTE = (
    "client-observed: when the client first saw each status (polling granularity), not server time"
)


#: the evidence group of an intermediate status's client-observed time: recorded and shown
#: (verdict ``observed_timings``, report), never judged - polling sees a short status only in
#: some runs, so its samples cannot be compared run to run
OBSERVED = "observed"


def client_observed(name: str) -> bool:
    """Whether timing ``name`` was observed by the client rather than taken from the server."""
    return CLIENT_SEGMENT in name


# ------------------------------------------------------------------------ the recorder


class Timings:
    """What the ``timings`` fixture returns: records named timing samples for this test.

    ``record(name, seconds, group)`` adds one sample; ``record_run(run)`` adds each pipeline
    stage's duration (server timestamps) and the total. Samples land in the test's evidence,
    the baseline stores them in record mode, and the session judge compares them otherwise.
    """

    def __init__(
        self,
        evidence: TestEvidence,
        perf: PerfConfig,
        reference: ReferenceLookup | None = None,
        family_size: int = 1,
        record_mode: bool = False,
    ) -> None:
        self._evidence = evidence
        self._perf = perf
        self._reference = reference
        self._family = max(1, family_size)
        self._record_mode = record_mode
        #: evidence exchanges already timed by record_requests()
        self._requests_seen = 0

    def record(self, name: str, seconds: float, group: str = "own") -> None:
        """Add one sample (seconds) to the timing ``name``; group "own" or "external"."""
        if group not in GROUPS:
            raise ValueError(f'timing group must be "own" or "external", got {group!r}')
        try:
            value = float(seconds)
        except (TypeError, ValueError):
            raise ValueError(
                f"timing {name!r}: seconds must be a number, got {seconds!r}"
            ) from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"timing {name!r}: seconds must be finite and >= 0, got {value!r}")
        self._evidence.record_timing(name, value, self._perf.group_for(name, group))

    def record_run(self, run: Any, prefix: str = "pipeline") -> None:
        """Record a ``PipelineRun``'s stage durations (server timestamps) and its total.

        Each stage becomes ``<prefix>.<stage>``; stages that wait on an external service
        (``external_stages``) are grouped "external". When there are such stages, the
        end-to-end ``<prefix>.total`` is grouped "external" too (it includes their time) and
        ``<prefix>.own`` records the sum of our own stages, so a slower parser holds the
        verdict as an external slowdown while a regression of our own shows in ``.own``.

        A service without server timestamps gets client-observed timings instead (see
        :func:`client_observed`): ``<prefix>.client.<status>``, the seconds after the upload
        at which the client first saw the run's final status, and ``<prefix>.client.total``,
        the client's end to end (upload, polling, outputs), both judged. The first time each
        intermediate status was seen is recorded too, as ``<prefix>.client.<status>`` in the
        ``observed`` group: shown in the verdict (``observed_timings``) and the report, never
        judged, because polling sees a short status only in some runs. A run with neither
        raises ValueError: nothing is recorded silently.
        """
        for reference_run in getattr(run, "reference_runs", None) or ():
            # the same upload on the reference deployment: the like-for-like side
            _ReferenceTimings(self._evidence, self._perf).record_run(reference_run, prefix)
        stages = getattr(run, "stage_durations", None)
        total = getattr(run, "total_seconds", None)
        if isinstance(run, Mapping):
            stages, total = run.get("stage_durations"), run.get("total_seconds")
        if not stages and total is None:
            self._record_client_observed(run, prefix)
            return
        own = 0.0
        has_external = False
        for stage, seconds in (stages or {}).items():
            if seconds is None:
                continue
            name = f"{prefix}.{stage}"
            group = self._perf.group_for(name)
            self.record(name, seconds, group)
            if group == "external":
                has_external = True
            else:
                own += float(seconds)
        if has_external:
            self.record(f"{prefix}.own", own, "own")
        if total is not None:
            self.record(f"{prefix}.total", total, "external" if has_external else "own")

    def record_requests(
        self,
        exchanges: Sequence[Any] | None = None,
        *,
        prefix: str = "http",
        routes: Sequence[str] | None = None,
    ) -> dict[str, list[float]]:
        """Record the client-side latency of requests as ``<prefix>.<METHOD> <route template>``
        (e.g. ``http.POST /api/v2/upload``, ``http.GET /api/v2/jobs/{id}``), one sample per
        answered request; no extra request is sent (see :mod:`pytest_deployverify.latency`).

        ``exchanges``: e.g. ``run.exchanges`` of one upload; default: every request this test
        made since the last call. ``routes``: fnmatch patterns of the templates to keep.
        Returns what was recorded.
        """
        from pytest_deployverify.latency import by_route

        if exchanges is None:
            exchanges = self._evidence.exchanges[self._requests_seen :]
            self._requests_seen = len(self._evidence.exchanges)
        recorded = by_route(exchanges, routes)
        for route, samples in recorded.items():
            for seconds in samples:
                self.record(f"{prefix}.{route}", seconds, "own")
        return recorded

    def _record_client_observed(self, run: Any, prefix: str) -> None:
        if isinstance(run, Mapping):
            seen = run.get("client_seen") or {}
            end = run.get("client_seconds")
            final = run.get("final_status")
        else:
            seen = getattr(run, "client_seen", None) or {}
            end = getattr(run, "client_seconds", None)
            final = getattr(run, "final_status", None)
        passed = {status: s for status, s in seen.items() if status != final and s is not None}
        seen = {final: seen[final]} if final in seen else {}
        if not seen and not end:
            raise ValueError(
                f"timings.record_run: the run has no server timestamps and no client-observed "
                f"timings (no status was seen), so there is nothing to record under {prefix!r}; "
                f"check run.outcome first"
            )
        for status, seconds in seen.items():
            self.record(f"{prefix}{CLIENT_SEGMENT}{status}", seconds, "own")
        if end:
            self.record(f"{prefix}{CLIENT_SEGMENT}total", end, "own")
        for status, seconds in passed.items():
            self._observe(f"{prefix}{CLIENT_SEGMENT}{status}", float(seconds))

    def _observe(self, name: str, seconds: float) -> None:
        """Record a sample that is shown and never judged (group ``observed``)."""
        self._evidence.record_timing(name, seconds, OBSERVED)

    def sample(
        self,
        name: str,
        fn: Callable[[], Any],
        *,
        min_samples: int | None = None,
        max_samples: int | None = None,
        look_every: int | None = None,
        budget_s: float | None = None,
        group: str = "own",
    ) -> list[TimingResult]:
        """Call ``fn`` until the judge has decided every timing it records, at most
        ``max_samples`` times, and record each call.

        ``fn()`` returns seconds (recorded as ``name``), a mapping ``{suffix: seconds}``
        (recorded as ``name.suffix``) or a ``PipelineRun`` (recorded as ``record_run(run,
        prefix=name)``). The judge looks after ``min_samples`` calls and then every
        ``look_every`` (defaults from ``[tool.deployverify.perf]``) with the session's
        group-sequential test, and stops as soon as every timing of this call is a pass or a
        fail; ``budget_s`` bounds the wall-clock time (a stop before a decision is judged as
        such). In record mode, or with no reference to compare with, it takes
        ``max_samples`` (record) or ``min_samples`` (nothing to judge) calls. The session-end
        judge replays the same looks. Returns the judgement at the last look (provisional:
        the run-level judge at session end is final).
        """
        sampler = self._sampler(name, min_samples, max_samples, look_every, budget_s, group)
        while sampler.wants_more():
            sampler.add(fn())
        return sampler.results

    async def asample(
        self,
        name: str,
        fn: Callable[[], Awaitable[Any]],
        *,
        min_samples: int | None = None,
        max_samples: int | None = None,
        look_every: int | None = None,
        budget_s: float | None = None,
        group: str = "own",
    ) -> list[TimingResult]:
        """``sample`` for an async test: ``await fn()`` until the judge has decided.

        The same plan, looks, bounds and return values as ``sample``; ``fn`` is a coroutine
        function (for example one that runs a batch of concurrent uploads and returns the
        seconds per document).
        """
        sampler = self._sampler(name, min_samples, max_samples, look_every, budget_s, group)
        while sampler.wants_more():
            sampler.add(await fn())
        return sampler.results

    def _sampler(
        self,
        name: str,
        min_samples: int | None,
        max_samples: int | None,
        look_every: int | None,
        budget_s: float | None,
        group: str,
    ) -> _Sampler:
        from pytest_deployverify.sequential import SamplingPlan

        cfg = self._perf.for_timing(name)
        try:
            plan = SamplingPlan(
                min_samples if min_samples is not None else cfg.min_samples,
                max_samples if max_samples is not None else max(cfg.max_samples, cfg.min_samples),
                look_every if look_every is not None else cfg.look_every,
            )
        except ValueError as exc:
            raise ValueError(f"timings.sample({name!r}): {exc}") from None
        if budget_s is not None and not budget_s > 0:
            raise ValueError(
                f"timings.sample({name!r}): budget_s must be positive, got {budget_s!r}"
            )
        deadline = None if budget_s is None else time.monotonic() + budget_s
        return _Sampler(self, name, group, plan, deadline)

    def _record_one(self, name: str, value: Any, group: str) -> list[str]:
        if isinstance(value, Mapping):
            out = []
            for key, seconds in value.items():
                self.record(f"{name}.{key}", seconds, group)
                out.append(f"{name}.{key}")
            return out
        if hasattr(value, "stage_durations"):
            before = set(self._evidence.timings)
            counts = {k: len(v) for k, v in self._evidence.timings.items()}
            self.record_run(value, prefix=name)
            return [
                k
                for k, v in self._evidence.timings.items()
                if k not in before or len(v) != counts.get(k)
            ]
        self.record(name, value, group)
        return [name]

    def _judge_now(self, names: list[str], plan: SamplingPlan) -> list[TimingResult]:
        """The latest look of every timing that has reference samples (a timing without
        any cannot be decided by more samples, so it does not keep the sampler going)."""
        from pytest_deployverify.judge import judge

        assert self._reference is not None
        results = []
        for timing in names:
            reference = self._reference(timing)
            if not reference or self._evidence.timing_groups.get(timing) == OBSERVED:
                continue
            cfg = self._perf.for_timing(timing)
            res = judge(
                timing,
                reference,
                self._evidence.timings.get(timing, []),
                cfg,
                self._perf.group_for(timing, self._evidence.timing_groups.get(timing)),
                plan=plan,
                level=cfg.alpha / self._family,
                family_size=self._family,
                latest_only=True,
            )
            results.append(res)
        return results

    @property
    def samples(self) -> dict[str, list[float]]:
        """This test's samples so far, by timing name (a copy)."""
        return {k: list(v) for k, v in self._evidence.timings.items()}


class _ReferenceTimings(Timings):
    """Records a reference deployment's run into the test's ``reference_timings``."""

    def record(self, name: str, seconds: float, group: str = "own") -> None:
        self._evidence.reference_timings.setdefault(name, []).append(float(seconds))

    def _observe(self, name: str, seconds: float) -> None:
        pass  # the reference's intermediate statuses are compared with nothing


class _Sampler:
    """One ``sample``/``asample`` call's state: record each value, decide whether to go on.

    Shared by the sync and async forms so both take the same samples and looks.
    """

    def __init__(
        self, timings: Timings, name: str, group: str, plan: SamplingPlan, deadline: float | None
    ) -> None:
        self._t, self._name, self._group, self._plan = timings, name, group, plan
        self._deadline = deadline
        self._names: list[str] = []
        self._taken = 0
        self._done = False
        self.results: list[TimingResult] = []

    def wants_more(self) -> bool:
        return not self._done and self._taken < self._plan.max_samples

    def add(self, value: Any) -> None:
        t, plan = self._t, self._plan
        for recorded in t._record_one(self._name, value, self._group):
            if recorded not in self._names:
                self._names.append(recorded)
                t._evidence.timing_plans[recorded] = plan.to_dict()
        self._taken += 1
        taken = self._taken
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._done = True
            return
        at_look = taken >= plan.min_samples and (
            (taken - plan.min_samples) % plan.look_every == 0 or taken >= plan.max_samples
        )
        if not at_look or t._record_mode:
            return  # record mode takes every planned sample: a full reference
        if t._reference is None:
            self._done = True  # nothing to compare with: more samples cannot decide anything
            return
        self.results = t._judge_now(self._names, plan)
        if all(r.outcome != "inconclusive" for r in self.results):
            self._done = True
