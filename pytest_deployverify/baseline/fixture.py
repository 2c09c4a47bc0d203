"""The object the ``baseline`` fixture returns.

Two ways to write a check::

    baseline.check("upload", response)                  # raises AssertionError on drift
    assert run == baseline("pipeline", ignore=["$.x"])   # pytest shows the differences

Compare mode (default): the observation is normalised, redacted and compared with the stored
one under its rules (learned + stored user rules + this call's + configured); the test's
evidence gets one ``Finding`` per difference (or one passing finding). A missing baseline
fails, on every environment, with the command that records it.

Record mode (``--record-baseline``): the observation is kept for this record run; after the
last run the values are learned into rules and the file is written (see ``session.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from pytest_deployverify.baseline import compare as cmp
from pytest_deployverify.baseline.model import Difference, Rule
from pytest_deployverify.baseline.normalise import copy_plain, normalise
from pytest_deployverify.baseline.paths import PatternError
from pytest_deployverify.baseline.redaction import Redactor, redact_observation
from pytest_deployverify.baseline.rules import RuleError, build_rules
from pytest_deployverify.baseline.session import BaselineSession
from pytest_deployverify.baseline.storage import BaselineFileError
from pytest_deployverify.config import refuse_protected_record
from pytest_deployverify.evidence import EVIDENCE_KEY, Finding
from pytest_deployverify.fieldcoverage_marks import note_compared, quiet

if TYPE_CHECKING:  # loaded where a reference deployment is compared with
    from pytest_deployverify.baseline.live import LiveComparison

#: Findings kept per check; the rest are summarised in one last finding.
MAX_FINDINGS = 200


class BaselineMismatch(AssertionError):
    """A check that does not match its baseline (or has none); the message lists why."""


class Baseline:
    """Checks this test's observations against its baseline file (see module docstring)."""

    def __init__(
        self, session: BaselineSession, item: pytest.Item, *, mirrored: bool = False
    ) -> None:
        self._session = session
        self._item = item
        #: a reference deployment may mirror this test (--reference-url/--reference-env)
        self._mirrored = mirrored
        #: the stored observation of the check being made (None: no stored baseline)
        self._stored_value: Any = None

    @property
    def path(self) -> Path:
        """This test's baseline file."""
        return self._session.file_for(self._item.nodeid)

    @property
    def recording(self) -> bool:
        """Whether this run records (``--record-baseline``) rather than compares."""
        return self._session.record_mode

    def check(
        self,
        name: str,
        value: Any,
        *,
        ignore: Iterable[str] | str | None = None,
        shape: Mapping[str, Any] | None = None,
        tolerance: Mapping[str, Any] | float | None = None,
        unordered: Iterable[str] | str | None = None,
        headers: Iterable[str] | None = None,
    ) -> None:
        """Compare ``value`` with the stored observation ``name`` (or record it).

        ``ignore``/``unordered``: rule paths; ``shape``: path -> alias (``"uuid"``,
        ``"date-time"``, ``"hex:64"``, ...) or JSON Schema; ``tolerance``: a relative
        tolerance for every number, or path -> relative number or ``{"rel", "abs"}``;
        ``headers``: response headers to keep (default ``content-type``).
        Raises ``AssertionError`` listing every difference.
        """
        # Hidden from the traceback: its argument values (the raw observation) could hold a
        # secret; the message below is redacted.
        __tracebackhide__ = True
        ok, lines = self._run(name, value, ignore, shape, tolerance, unordered, headers)
        if not ok:
            raise BaselineMismatch("\n".join(lines))

    def __call__(
        self,
        name: str,
        *,
        ignore: Iterable[str] | str | None = None,
        shape: Mapping[str, Any] | None = None,
        tolerance: Mapping[str, Any] | float | None = None,
        unordered: Iterable[str] | str | None = None,
        headers: Iterable[str] | None = None,
    ) -> BaselineRef:
        """``assert value == baseline(name, ...)``: same options as :meth:`check`."""
        return BaselineRef(
            self,
            name,
            dict(
                ignore=ignore,
                shape=shape,
                tolerance=tolerance,
                unordered=unordered,
                headers=headers,
            ),
        )

    def recorded(self, name: str) -> Any:
        """The value stored for observation ``name``: the first recording, normalised and
        redacted, as written in the file.

        For comparisons the rules cannot express (for example the cosine similarity of two
        vectors). Call :meth:`check` on the same name first: it is what fails, with the
        record command, when the baseline is missing. Raises ``BaselineMismatch`` when the
        file or the observation is missing or unreadable, ``RuntimeError`` while recording
        (nothing is stored yet; test ``baseline.recording``).
        """
        __tracebackhide__ = True
        session = self._session
        if session.record_mode:
            raise RuntimeError(
                f"baseline.recorded({name!r}) while recording: nothing is stored yet; "
                "skip the comparison when baseline.recording is true"
            )
        rel = session.rel_for(self._item.nodeid)
        try:
            stored = session.load(rel)
        except BaselineFileError as exc:
            raise BaselineMismatch(f"baseline {name!r}: {exc}") from None
        obs = stored.observations.get(name) if stored is not None else None
        if obs is None:
            raise BaselineMismatch(
                f"baseline {name!r} is missing from {session.shown(rel)}; record it with:"
                f"\n    {session.record_command(self._item.nodeid)}"
            )
        return copy.deepcopy(obs.value)

    # ------------------------------------------------------------ the check itself

    def _run(
        self,
        name: str,
        value: Any,
        ignore: Any,
        shape: Any,
        tolerance: Any,
        unordered: Any,
        headers: Any,
    ) -> tuple[bool, list[str]]:
        if not isinstance(name, str) or not name:
            raise TypeError("baseline.check(name, value): name must be a non-empty string")
        try:
            call_rules = build_rules(
                ignore=ignore, shape=shape, tolerance=tolerance, unordered=unordered
            )
        except RuleError as exc:
            raise TypeError(str(exc)) from None
        secrets = self._session.secrets()
        if self._session.record_mode:
            observed = redact_observation(normalise(value, headers=headers), secrets)
            return self._record(name, observed, call_rules)
        # compare mode normalises and redacts lazily: see compare.verify and Comparison
        return self._compare(name, value, call_rules, Redactor(secrets), headers)

    def _record(self, name: str, observed: Any, call_rules: list[Rule]) -> tuple[bool, list[str]]:
        target = self._session.target
        if target is not None:
            refuse_protected_record(True, target.name, target.protected, self._session.tool)
        from pytest_deployverify.baseline.recording import RECORDING_KEY

        rec = self._item.stash.get(RECORDING_KEY, None)
        if rec is None:
            raise RuntimeError("deployverify: record mode without a recording (plugin bug)")
        if name in rec.seen:
            raise ValueError(
                f"baseline observation {name!r} was checked twice in one run of this test; "
                "give each check its own name"
            )
        rec.seen.add(name)
        given = [r for r in (*call_rules, *self._session.config_rules) if r.kind == "shape"]
        if given:
            # A recording that breaks its own shape rules would fail every later comparison:
            # say so now, while the test that produced it is running.
            broken = cmp.Comparison(given).run(observed, observed)
            if broken:
                lines = cmp.format_differences(broken)
                raise BaselineMismatch(
                    f"baseline {name!r}: the recorded value breaks its shape rules:\n  "
                    + "\n  ".join(lines)
                )
        # a copy: plain data is not copied by normalise, and the test may change it later
        rec.values.setdefault(name, []).append(copy_plain(observed))
        rec.rules[name] = call_rules
        if rec.run + 1 == self._session.record_runs:
            # the last record run: the rules learned from all of them must accept each one,
            # or every later comparison would fail; say so now, naming the path
            _check_learned(name, rec.values[name], [*call_rules, *self._session.config_rules])
        self._finding(
            Finding(
                check=f"baseline:{name}",
                outcome="pass",
                rule="recorded",
                path="$",
                observed=cmp.summarise(observed),
                message=f"recorded (run {rec.run + 1} of {self._session.record_runs})",
            )
        )
        return True, []

    def _compare(
        self, name: str, value: Any, call_rules: list[Rule], redactor: Redactor, headers: Any
    ) -> tuple[bool, list[str]]:
        """The stored baseline's comparison and, with a reference deployment, the live one:
        both apply; a reference that covered the check makes a missing baseline no failure."""
        counterpart = None
        if self._mirrored:  # the reference module (and requests) only where it is used
            from pytest_deployverify.reference import counterpart_of

            counterpart = counterpart_of(self._item, value)
        if counterpart is None:
            return self._compare_stored(name, value, call_rules, redactor, headers, None)
        from pytest_deployverify.baseline.live import compare_live

        live = compare_live(
            value,
            counterpart.answers,
            counterpart.errors,
            [*call_rules, *self._session.config_rules],
            counterpart.secrets,
            headers,
        )
        ok, lines = self._compare_stored(name, value, call_rules, redactor, headers, live)
        live_ok, live_lines = self._live_result(name, live, counterpart.where)
        return ok and live_ok, [*lines, *live_lines]

    def _compare_stored(
        self,
        name: str,
        value: Any,
        call_rules: list[Rule],
        redactor: Redactor,
        headers: Any,
        live: LiveComparison | None,
    ) -> tuple[bool, list[str]]:
        session = self._session
        self._stored_value = None
        nodeid = self._item.nodeid
        rel = session.rel_for(nodeid)
        shown = session.shown(rel)
        entry = f"{shown}::{name}"
        try:
            stored = session.load(rel)
        except BaselineFileError as exc:
            session.note("errors", entry)
            message = f"baseline {name!r}: {exc}"
            self._finding(
                Finding(
                    check=f"baseline:{name}",
                    outcome="error",
                    rule="readable baseline file",
                    observed=None,
                    expected=None,
                    path=None,
                    message=message,
                )
            )
            return False, [message]
        obs = stored.observations.get(name) if stored is not None else None
        self._stored_value = obs.value if obs is not None else None
        if obs is None and live is not None and live.unavailable is None:
            return True, []  # the reference covers it: no stored baseline is needed
        if obs is None:
            session.note("missing", entry)
            where = (
                f"no baseline file {shown}"
                if stored is None
                else f"no observation {name!r} in {shown}"
            )
            message = (
                f"baseline {name!r} is missing: {where}. A missing baseline is a failure, never "
                f"written silently; record it from a deployment you trust with:\n    "
                f"{session.record_command(nodeid)}"
            )
            self._finding(
                Finding(
                    check=f"baseline:{name}",
                    outcome="fail",
                    rule="baseline exists",
                    observed=cmp.summarise(redactor.value(normalise(value, headers=headers), None)),
                    expected=None,
                    path="$",
                    message=message,
                )
            )
            return False, [message]
        rules = [*obs.rules, *call_rules, *session.config_rules]
        try:
            with quiet():  # normalising is not reading: note_compared says what was compared
                comparison = cmp.verify(obs.value, value, rules, redactor=redactor, headers=headers)
        except PatternError as exc:  # a rule path that does not parse
            raise TypeError(f"baseline {name!r}: {exc}") from None
        note_compared(value, rules)
        diffs = comparison.diffs
        if not diffs:
            session.note("verified", entry)
            self._finding(
                Finding(
                    check=f"baseline:{name}",
                    outcome="pass",
                    rule=f"matches baseline ({len(rules)} rules)" if rules else "matches baseline",
                    # what matched, as stored (redacted when recorded): the observation equals
                    # it under the rules, and is never shown unredacted
                    observed=cmp.summarise(obs.value),
                    expected=None,
                    path="$",
                    message=f"matches {shown}::{name}",
                )
            )
            return True, []
        session.note("mismatched", entry)
        self._diff_findings(name, diffs, comparison.dropped, live)
        total = len(diffs) + comparison.dropped
        head = (
            f"baseline {name!r} does not match {shown}: {total} difference"
            f"{'s' if total != 1 else ''}"
        )
        lines = [head]
        from pytest_deployverify.pipeline_run import PipelineRun

        if isinstance(value, PipelineRun) and not value.ok:
            # a rejected upload (a wrong key: 401) or a failed run reads better as the run's
            # own account than as the first of many differing paths
            lines.append("  the run: " + value.describe())
        lines += ["  " + line for line in cmp.format_differences(diffs, dropped=comparison.dropped)]
        lines.append(
            "  (if this change is intended, re-record: " + session.record_command(nodeid) + ")"
        )
        return False, lines

    # ------------------------------------------------------------ evidence

    def _finding(self, finding: Finding) -> None:
        evidence = self._item.stash.get(EVIDENCE_KEY, None)
        if evidence is None:
            return
        finding.kind = "baseline"
        finding.nodeid = self._item.nodeid
        finding.correlation_ids = list(evidence.correlation_ids)
        evidence.findings.append(finding)

    def _live_result(self, name: str, live: LiveComparison, where: str) -> tuple[bool, list[str]]:
        """Findings and failure lines of the comparison with the reference deployment."""
        from pytest_deployverify.baseline.live import value_at

        check = f"reference:{name}"  # reference.CHECK_PREFIX
        if live.unavailable is not None:
            message = f"baseline {name!r}: the {where} could not be compared: {live.unavailable}"
            self._finding(
                Finding(
                    check=check,
                    outcome="error",
                    rule="the reference deployment answers",
                    path="$",
                    message=message,
                )
            )
            return False, [message]
        stored = self._stored_value
        if not live.diffs:
            learned = sum(1 for r in live.rules if r.kind in ("shape", "tolerance"))
            self._finding(
                Finding(
                    check=check,
                    outcome="pass",
                    rule=f"matches the reference deployment's answer ({learned} volatile "
                    f"paths learned from its two answers)",
                    observed=cmp.summarise(live.reference),
                    path="$",
                    message=f"matches the {where}",
                )
            )
            return True, []
        for d in live.diffs[:MAX_FINDINGS]:
            self._finding(
                Finding(
                    check=check,
                    outcome="fail",
                    rule=d.rule,
                    observed=d.observed,
                    expected=d.expected,
                    path=d.path,
                    message=cmp.format_differences([d])[0] + " (reference deployment)",
                    sides={
                        "target": d.observed,
                        "reference": d.expected,
                        "baseline": value_at(stored, d.path)
                        if stored is not None
                        else "<no baseline>",
                    },
                )
            )
        total = len(live.diffs) + live.dropped
        lines = [
            f"baseline {name!r} does not match the {where}: {total} difference"
            f"{'s' if total != 1 else ''} (paths that differ between the reference's two "
            f"answers are checked for shape only)",
            *("  " + line for line in cmp.format_differences(live.diffs, dropped=live.dropped)),
        ]
        return False, lines

    def _diff_findings(
        self, name: str, diffs: list[Difference], dropped: int, live: LiveComparison | None
    ) -> None:
        from pytest_deployverify.baseline.live import value_at

        for d in diffs[:MAX_FINDINGS]:
            line = cmp.format_differences([d])[0]
            sides = None
            if live is not None:
                sides = {
                    "target": d.observed,
                    "reference": value_at(live.reference, d.path)
                    if live.unavailable is None
                    else "<no answer>",
                    "baseline": d.expected,
                }
            self._finding(
                Finding(
                    check=f"baseline:{name}",
                    outcome="fail",
                    rule=d.rule,
                    observed=d.observed,
                    expected=d.expected,
                    path=d.path,
                    message=line,
                    sides=sides,
                )
            )
        rest = len(diffs) - MAX_FINDINGS + dropped
        if rest > 0:
            self._finding(
                Finding(
                    check=f"baseline:{name}",
                    outcome="fail",
                    rule="more differences",
                    path=None,
                    message=f"... and {rest} more differences",
                )
            )


class BaselineRef:
    """Right-hand side of ``assert value == baseline(name)``: ``==`` runs the check."""

    __hash__ = None  # type: ignore[assignment]

    def __init__(self, owner: Baseline, name: str, kwargs: dict[str, Any]) -> None:
        self.owner = owner
        self.name = name
        self.kwargs = kwargs
        self.lines: list[str] = []

    def __eq__(self, other: object) -> bool:
        __tracebackhide__ = True
        ok, self.lines = self.owner._run(self.name, other, **self.kwargs)
        return ok

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    def __repr__(self) -> str:
        return f"baseline({self.name!r})"


def assertrepr(op: str, left: Any, right: Any) -> list[str] | None:
    """Lines pytest shows for a failed ``value == baseline(name)``."""
    ref = (
        right if isinstance(right, BaselineRef) else left if isinstance(left, BaselineRef) else None
    )
    if ref is None or op not in ("==", "!=") or not ref.lines:
        return None
    return [f"observation == baseline({ref.name!r})", *ref.lines]


def _check_learned(name: str, runs: list[Any], user_rules: list[Rule]) -> None:
    """Raise BaselineMismatch when the rules learned from ``runs`` reject one of them."""
    if len(runs) < 2:
        return
    from pytest_deployverify.baseline import learn

    stored, rules = learn.learn(runs, user_rules)
    for index, run in enumerate(runs):
        broken = cmp.Comparison(rules).run(stored, run)
        if broken:
            lines = cmp.format_differences(broken)
            raise BaselineMismatch(
                f"baseline {name!r}: the rules learned from {len(runs)} recordings reject "
                f"recording {index + 1}, so no later run could match; nothing was written. "
                f"Give the path a rule (shape=/ignore=) and record again:\n  " + "\n  ".join(lines)
            )
