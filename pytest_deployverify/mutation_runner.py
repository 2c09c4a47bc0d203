"""The session's side of response mutation (:mod:`mutation`): a plain object the session
calls from its hooks.

In a clean run with ``--mutate-responses`` it notes which tests passed and how long each
took; the session then has :func:`mutation.run_mutants` run the mutants. In a mutation child
(``DEPLOYVERIFY_MUTANT``) it hands the parent's target over and wraps each test's field
recorder in the mutant. Kept apart from :mod:`mutation` so that a run which mutates nothing
never imports the mutation machinery (its dataclass, operators and patterns cost every run
at start-up: benchmarks/README.md, "Figures after the thirteenth issue-20 session").
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

import pytest

from pytest_deployverify.config import Target
from pytest_deployverify.settings import FieldSettings

if TYPE_CHECKING:
    from pytest_deployverify.fieldcoverage import FieldRecorder, Observer
    from pytest_deployverify.mutation_operators import MutantSelector

#: names the JSON file describing the mutant (and the target) in a mutation child's env
MUTANT_ENV = "DEPLOYVERIFY_MUTANT"


class MutantSpec(TypedDict):
    """The file a mutation child reads (``DEPLOYVERIFY_MUTANT``): the mutant and the parent's
    target (``Target.to_wire``)."""

    mutant: MutantSelector
    target: dict[str, Any]


class MutationBlock(TypedDict):
    """The verdict's ``mutation`` block (docs/verdict.md)."""

    seed: int
    candidates: int
    killed: int
    survived: int
    not_run: int
    errors: int
    score: float | None
    seconds: float
    #: one record per mutant run (JSON: its fields, description, outcome, killed_by)
    mutants: list[dict[str, Any]]


def read_spec() -> MutantSpec | None:
    """The mutant this process applies (a mutation child: ``DEPLOYVERIFY_MUTANT``), else None."""
    where = os.environ.get(MUTANT_ENV)
    if not where:
        return None
    spec: MutantSpec = json.loads(Path(where).read_text(encoding="utf-8"))
    return spec


class MutationRunner:
    """Response mutation in one session (see the module docstring)."""

    def __init__(self, config: pytest.Config, fields: FieldSettings, *, worker: bool) -> None:
        self.config = config
        self.fields = fields
        self.worker = worker
        self.spec = read_spec()
        #: tests whose call passed and that did not fail afterwards
        self.passed: set[str] = set()
        #: seconds each test took in the clean run (setup + call + teardown)
        self.durations: dict[str, float] = {}
        #: the verdict's ``mutation`` block, after a mutation run
        self.result: MutationBlock | None = None

    def parent_target(self) -> Target | None:
        """In a mutation child, the parent's target (launched deployment and secrets
        included: a child never relaunches)."""
        return Target.from_wire(self.spec["target"]) if self.spec is not None else None

    def observer(self, recorder: FieldRecorder) -> Observer:
        """What a test's client reports its traffic to: the test's field recorder, or in a
        mutation child the mutant wrapped around it."""
        if self.spec is None:
            return recorder
        from pytest_deployverify.mutation_operators import MutatingObserver

        return MutatingObserver(self.spec["mutant"], recorder)

    def report_logged(self, report: pytest.TestReport) -> None:
        if not self.fields.mutate:
            return  # only a mutation run (tests_done) asks which tests passed
        self.durations[report.nodeid] = self.durations.get(report.nodeid, 0.0) + report.duration
        if report.when == "call" and report.passed:
            self.passed.add(report.nodeid)
        elif report.failed:
            self.passed.discard(report.nodeid)

    def wants_run(self, record: bool) -> bool:
        """After the test loop: whether this process runs the mutants (the clean run's
        controller, when asked, and never while recording)."""
        return not (self.worker or self.spec is not None or not self.fields.mutate or record)

    def summary_lines(self) -> list[str]:
        return [f"deployverify: {summary_line(self.result)}"] if self.result is not None else []


def summary_line(block: MutationBlock) -> str:
    score = block.get("score")
    shown = f"{score:.0%}" if isinstance(score, (int, float)) else "n/a"
    survivors = [m for m in block.get("mutants") or [] if m.get("outcome") == "survived"]
    line = (
        f"response mutation: {block.get('killed', 0)} of "
        f"{block.get('killed', 0) + block.get('survived', 0)} mutants killed ({shown}), "
        f"{block.get('not_run', 0)} not run, {block.get('errors', 0)} errors (seed "
        f"{block.get('seed')})"
    )
    if survivors:
        line += "; survived: " + "; ".join(m["description"] for m in survivors[:5])
        if len(survivors) > 5:
            line += f"; and {len(survivors) - 5} more"
    return line
