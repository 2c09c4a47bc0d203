"""The timing judge's configuration: ``[tool.deployverify.perf]`` (with the command line's
ratio and confidence) as one :class:`PerfConfig`, built by :mod:`pytest_deployverify.settings`.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from pytest_deployverify.judge_config import JudgeConfig

#: Stages of docservice's status model that wait on an external service: the time a job
#: spends in ``parse_queued`` is the parser's, in ``embedding_in_progress`` the embeddings'.
DEFAULT_EXTERNAL_STAGES: dict[str, str] = {
    "parse_queued": "parser",
    "embedding_in_progress": "embeddings",
}
GROUPS = ("own", "external")
_JUDGE_KEYS = {
    "ratio": "allowed_ratio",
    "allowed_ratio": "allowed_ratio",
    "confidence": "confidence",
    "min_samples": "min_samples",
    "abs_floor_s": "abs_floor_s",
    "effect_floor": "effect_floor",
    "pass_ratio": "pass_ratio",
    "pass_error": "pass_error",
    "look_every": "look_every",
    "max_samples": "max_samples",
}
_INT_KEYS = {"min_samples", "look_every", "max_samples"}
_GLOBAL_KEYS = {*_JUDGE_KEYS, "external_stages", "external_fails", "timings"}


@dataclass(frozen=True)
class PerfConfig:
    """The session's judging configuration, global and per timing."""

    default: JudgeConfig = field(default_factory=JudgeConfig)
    per_timing: Mapping[str, JudgeConfig] = field(default_factory=dict)
    group_overrides: Mapping[str, str] = field(default_factory=dict)
    external_stages: Mapping[str, str] = field(default_factory=lambda: DEFAULT_EXTERNAL_STAGES)
    external_fails: bool = False

    def for_timing(self, name: str) -> JudgeConfig:
        return self.per_timing.get(name, self.default)

    def external_service(self, name: str) -> str | None:
        """The external service a timing (``prefix.stage`` or ``stage``) waits on, if any."""
        stage = name.rsplit(".", 1)[-1]  # "serial.small.parse_queued" -> "parse_queued"
        for pattern, service in self.external_stages.items():
            if fnmatch.fnmatchcase(name, pattern) or fnmatch.fnmatchcase(stage, pattern):
                return service
        return None

    def group_for(self, name: str, recorded: str | None = None) -> str:
        if name in self.group_overrides:
            return self.group_overrides[name]
        if recorded in GROUPS and recorded != "own":
            return recorded
        return "external" if self.external_service(name) else (recorded or "own")


def _judge_kwargs(table: Mapping[str, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _JUDGE_KEYS:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise pytest.UsageError(f"{where}: {key} = {value!r} must be a number.")
        out[_JUDGE_KEYS[key]] = int(value) if key in _INT_KEYS else float(value)
    return out


def _make(base: JudgeConfig, kwargs: Mapping[str, Any], where: str) -> JudgeConfig:
    try:
        return replace(base, **kwargs)
    except ValueError as exc:
        raise pytest.UsageError(f"{where}: {exc}; fix the value.") from None


def perf_config_from(
    table: Mapping[str, Any],
    where: str,
    cli_ratio: float | None = None,
    cli_confidence: float | None = None,
) -> PerfConfig:
    """Build a :class:`PerfConfig` from the ``[tool.deployverify.perf]`` table.

    Raises ``pytest.UsageError`` naming the table and key for any bad value.
    """
    unknown = set(table) - _GLOBAL_KEYS
    if unknown:
        raise pytest.UsageError(
            f"{where}: unknown key(s) {', '.join(sorted(unknown))}; known keys are "
            f"{', '.join(sorted(_GLOBAL_KEYS))}."
        )
    kwargs = _judge_kwargs(table, where)
    if cli_ratio is not None:
        kwargs["allowed_ratio"] = float(cli_ratio)
    if cli_confidence is not None:
        kwargs["confidence"] = float(cli_confidence)
    default = _make(JudgeConfig(), kwargs, where)

    stages = table.get("external_stages", DEFAULT_EXTERNAL_STAGES)
    if isinstance(stages, list) and all(isinstance(s, str) for s in stages):
        stages = {s: "external service" for s in stages}
    if not isinstance(stages, dict) or not all(isinstance(v, str) for v in stages.values()):
        raise pytest.UsageError(
            f"{where}: external_stages must be a list of stage names or a table "
            f'{{stage = "service"}}, got {stages!r}.'
        )
    external_fails = table.get("external_fails", False)
    if not isinstance(external_fails, bool):
        raise pytest.UsageError(f"{where}: external_fails must be true or false.")

    per_timing: dict[str, JudgeConfig] = {}
    groups: dict[str, str] = {}
    timings = table.get("timings", {})
    if not isinstance(timings, dict):
        raise pytest.UsageError(f'{where}: timings must be tables like timings."name".')
    for name, sub in timings.items():
        sub_where = f'{where.rstrip("]")}.timings."{name}"]'
        if not isinstance(sub, dict):
            raise pytest.UsageError(f"{sub_where} must be a table.")
        unknown = set(sub) - {*_JUDGE_KEYS, "group"}
        if unknown:
            raise pytest.UsageError(f"{sub_where}: unknown key(s) {', '.join(sorted(unknown))}.")
        per_timing[name] = _make(default, _judge_kwargs(sub, sub_where), sub_where)
        if "group" in sub:
            if sub["group"] not in GROUPS:
                raise pytest.UsageError(f'{sub_where}: group must be "own" or "external".')
            groups[name] = sub["group"]
    return PerfConfig(default, per_timing, groups, stages, external_fails)
