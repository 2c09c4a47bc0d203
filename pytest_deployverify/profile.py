"""The service's shape as configured: the pipeline profile and the correlation settings.

``[tool.deployverify.pipeline]`` and ``[tool.deployverify.correlation]``, each with an
environment's own table laid over it key by key (``[tool.deployverify.envs.NAME.pipeline]``),
and the ``components`` the report lists. Every mistake is one :class:`ConfigError` naming the
table and the fix. The defaults describe docservice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, TypeVar

from pytest_deployverify.settings import ConfigError

B = TypeVar("B", "CorrelationConfig", "PipelineProfile")

#: What ``absent = [...]`` in a pipeline profile may name, and the keys each one clears: a
#: route or field the service does not have, instead of an empty string or a dummy value.
ABSENT: dict[str, tuple[str, ...]] = {
    "events": ("events_path",),
    "document": ("document_path",),
    "delete": ("delete_path",),
    "dedupe": ("duplicate_field",),
    "document_id": ("document_id_field",),
    "metadata": ("metadata_field",),
    "timestamps": ("timestamp_field", "upload_timestamp_field", "event_time_field"),
    "correlation": ("correlation_field", "event_correlation_field"),
    "error": ("error_field",),
}


# ---------------------------------------------------------------- correlation and pipeline


@dataclass(frozen=True)
class CorrelationConfig:
    """How the per-test correlation ID travels: ``[tool.deployverify.correlation]``."""

    header: str = "X-Correlation-ID"
    traceparent: bool = True
    #: more headers that carry the same ID, e.g. ["X-Request-ID"]
    extra_headers: tuple[str, ...] = ()
    #: the response header the service echoes the ID in (default: ``header``)
    echo_header: str = ""
    #: "fail": a missing/different echo fails the test; "record": finding only; "off"
    echo: str = "fail"

    @property
    def echo_name(self) -> str:
        return self.echo_header or self.header


DOCSERVICE_STATUSES = (
    "uploaded",
    "parse_queued",
    "parsed",
    "parse_validated",
    "chunking",
    "chunks_stored",
    "embedding_queued",
    "embedding_in_progress",
    "embeddings_stored",
    "complete",
)


@dataclass(frozen=True)
class PipelineProfile:
    """Where a document-ingestion service keeps its endpoints and statuses.

    ``[tool.deployverify.pipeline]``; the defaults describe docservice. Paths take
    ``{job_id}`` / ``{document_id}`` placeholders; field names may be dotted (``data.state``).
    """

    upload_path: str = "/api/v2/upload"
    upload_field: str = "file"
    metadata_field: str = "metadata"
    job_path: str = "/api/v2/jobs/{job_id}"
    #: "" when the service keeps no event trail: statuses then come from polling
    events_path: str = "/api/v2/jobs/{job_id}/events"
    events_field: str = "events"
    event_status_field: str = "status"
    event_time_field: str = "at"
    event_correlation_field: str = "correlation_id"
    document_path: str = "/api/v2/documents/{document_id}"
    delete_path: str = "/api/v2/documents/{document_id}"
    status_field: str = "status"
    job_id_field: str = "job_id"
    document_id_field: str = "document_id"
    duplicate_field: str = "duplicate"
    #: where the upload response keeps the first status (default: ``status_field``)
    upload_status_field: str = ""
    #: where the upload response keeps the first status's time (default: ``timestamp_field``)
    upload_timestamp_field: str = ""
    correlation_field: str = "correlation_id"
    #: job field holding the server time of the last status change (polling fallback)
    timestamp_field: str = "updated_at"
    error_field: str = "last_error"
    statuses: tuple[str, ...] = DOCSERVICE_STATUSES
    terminal_success: tuple[str, ...] = ("complete",)
    terminal_failure: tuple[str, ...] = ("failed_parse", "failed_chunking", "failed_embedding")
    #: failure statuses (of ``terminal_failure``) that prove the pipeline broken for
    #: ``--fail-fast`` when an upload's job ends in one; none by default, because a test may
    #: upload a document that must fail
    fail_fast_statuses: tuple[str, ...] = ()
    #: seconds between polls: the shortest, and the cap it backs off to
    poll_initial: float = 0.02
    poll_max: float = 0.2
    #: a response header the service may use to ask for a slower poll (seconds)
    poll_hint_header: str = "X-Poll-Interval"
    #: routes and fields the service does not have (names from :data:`ABSENT`)
    absent: tuple[str, ...] = ()

    @property
    def terminal(self) -> tuple[str, ...]:
        return self.terminal_success + self.terminal_failure


_KEYS: dict[str, set[str]] = {
    "correlation": {f.name for f in fields(CorrelationConfig)},
    "pipeline": {f.name for f in fields(PipelineProfile)},
}


def build_table(cls: type[B], raw: Mapping[str, Any]) -> B:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in raw:
            value = raw[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def check_keys(table: Mapping[str, Any], allowed: Mapping[str, Any] | set[str], where: str) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; valid keys are "
            f"{', '.join(sorted(allowed))} (see docs/configuration.md)."
        )


def _layered(
    tool: Mapping[str, Any],
    env: Mapping[str, Any] | None,
    key: str,
    pyproject: Path | None,
    env_name: str | None,
) -> tuple[dict[str, Any], str]:
    """The global ``[tool.deployverify.KEY]`` table with the environment's own ``KEY`` table
    laid over it key by key, and where it was read (for error messages)."""
    where = f"[tool.deployverify.{key}]"
    raw = tool.get(key) or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} in {pyproject} must be a table")
    check_keys(raw, _KEYS[key], f"{where} in {pyproject}")
    merged = dict(raw)
    own = (env or {}).get(key)
    if own is not None:
        env_where = f"[tool.deployverify.envs.{env_name}.{key}]"
        if not isinstance(own, Mapping):
            raise ConfigError(f"{env_where} in {pyproject} must be a table")
        check_keys(own, _KEYS[key], f"{env_where} in {pyproject}")
        merged.update(own)
        where = f"{env_where} (over {where})" if raw else env_where
    return merged, f"{where} in {pyproject}"


def correlation_from(
    tool: Mapping[str, Any],
    pyproject: Path | None,
    env: Mapping[str, Any] | None = None,
    env_name: str | None = None,
) -> CorrelationConfig:
    raw, where = _layered(tool, env, "correlation", pyproject, env_name)
    cfg = build_table(CorrelationConfig, raw)
    if cfg.echo not in ("fail", "record", "off"):
        raise ConfigError(f"{where}: echo = {cfg.echo!r} must be 'fail', 'record' or 'off'")
    if not cfg.header or not isinstance(cfg.header, str):
        raise ConfigError(f"{where}: header must be a non-empty header name")
    return cfg


def profile_from(
    tool: Mapping[str, Any],
    pyproject: Path | None,
    env: Mapping[str, Any] | None = None,
    env_name: str | None = None,
) -> PipelineProfile:
    raw, where = _layered(tool, env, "pipeline", pyproject, env_name)
    absent = raw.get("absent", [])
    if not isinstance(absent, list) or not all(isinstance(a, str) for a in absent):
        raise ConfigError(f"{where}: absent must be a list of names from {', '.join(ABSENT)}")
    for name in absent:
        if name not in ABSENT:
            raise ConfigError(
                f"{where}: absent names {name!r}, which is not a route or field the plugin "
                f"knows; use names from {', '.join(ABSENT)} (see docs/configuration.md)."
            )
        # only the table that declares absent can clash with it: an environment may declare
        # absent a route the global profile has
        own = (env or {}).get("pipeline") or {}
        declaring = own if "absent" in own else raw
        clash = [k for k in ABSENT[name] if declaring.get(k)]
        if clash:
            raise ConfigError(
                f"{where}: {name!r} is declared absent but {', '.join(clash)} is set; remove "
                f"one of the two."
            )
        for key in ABSENT[name]:
            raw[key] = ""
    proof = raw.get("fail_fast_statuses", [])
    if not isinstance(proof, list) or not all(isinstance(x, str) for x in proof):
        raise ConfigError(
            f"{where}: fail_fast_statuses must be a list of status names, got {proof!r}"
        )
    profile = build_table(PipelineProfile, raw)
    if not profile.terminal_success:
        raise ConfigError(f"{where}: terminal_success must name at least one status")
    unknown = [s for s in profile.fail_fast_statuses if s not in profile.terminal_failure]
    if unknown:
        raise ConfigError(
            f"{where}: fail_fast_statuses names {', '.join(map(repr, unknown))}, not a "
            f"terminal_failure status ({', '.join(profile.terminal_failure) or 'none'}); list "
            f"only failure statuses a job ends in (see docs/verdict.md, fail fast)."
        )
    for key in ("upload_path", "job_path"):
        if not getattr(profile, key):
            raise ConfigError(f"{where}: {key} must not be empty")
    if "{job_id}" not in profile.job_path:
        raise ConfigError(f"{where}: job_path {profile.job_path!r} must contain {{job_id}}")
    if not profile.document_id_field:
        _no_document_id_in_paths(profile, where)
    return profile


#: the ``absent`` name that clears each path key (job_path cannot be absent)
_PATH_ABSENT = {"document_path": "document", "delete_path": "delete", "events_path": "events"}


def _no_document_id_in_paths(profile: PipelineProfile, where: str) -> None:
    """A service that names no document id cannot be asked for ``{document_id}``: such a route
    (often a default left in place) would silently never be called."""
    for key in ("job_path", *_PATH_ABSENT):
        path = getattr(profile, key)
        if "{document_id}" not in path:
            continue
        fix = f"set {key} to the service's route keyed by {{job_id}}"
        if key in _PATH_ABSENT:
            fix += f", or add {_PATH_ABSENT[key]!r} to absent if the service has no such route"
        raise ConfigError(
            f"{where}: {key} {path!r} needs {{document_id}}, but the service names no "
            f"document id (document_id is declared absent); {fix} (see docs/configuration.md)."
        )


def components_from(
    tool: Mapping[str, Any], env: Mapping[str, Any], pyproject: Path | None, env_name: str
) -> tuple[tuple[str, str], ...]:
    """The parts the report expects: the environment's ``components``, else the global one."""
    where = f"[tool.deployverify.envs.{env_name}] in {pyproject}"
    raw = env.get("components")
    if raw is None:
        raw, where = tool.get("components"), f"[tool.deployverify] in {pyproject}"
    if raw is None:
        return ()
    pairs: list[tuple[str, str]]
    if isinstance(raw, list) and all(isinstance(n, str) for n in raw):
        pairs = [(n, n) for n in raw]
    elif isinstance(raw, Mapping) and all(isinstance(v, str) for v in raw.values()):
        pairs = [(str(k), v) for k, v in raw.items()]
    else:
        raise ConfigError(
            f'{where}: components must be a list of names (["api", "worker"]) or a table of '
            f'name = "label", got {raw!r}'
        )
    for name, _ in pairs:
        if not name or ":" in name or name != name.strip().lower():
            raise ConfigError(
                f"{where}: component name {name!r} must be a lower-case word without ':' (the "
                f"name tests pass to component_check)"
            )
    return tuple(pairs)
