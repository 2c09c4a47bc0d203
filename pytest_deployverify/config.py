"""The Target and the pipeline profile, from options, ``[tool.deployverify]`` and ``.env`` files.

The inputs come from :class:`~pytest_deployverify.settings.Settings` (options, ini keys and
``[tool.deployverify]``, read once); the env's ``env_file`` and its secrets are read here, when
the session needs its target. Environment name: ``--target-env``, ini
``deployverify_target_env``, ``[tool.deployverify] default_env``, ``"local"``. Base URL:
``--target-url``, ``DEPLOYVERIFY_TARGET_URL``, the env's ``base_url_env`` variable, its
``base_url``, else its ``launch`` command (an embedded deployment started by :mod:`launch`).

Every configuration mistake becomes one :class:`ConfigError` (a ``pytest.UsageError``) naming
the file, key and value and saying how to fix it. Nothing here touches the network.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from pytest_deployverify.settings import URL_ENV_VAR, ConfigError, Settings

B = TypeVar("B", "CorrelationConfig", "PipelineProfile")

ENV_KEYS = {
    "base_url": "the service's base URL, e.g. https://docs.example.com",
    "base_url_env": "name of an environment variable (or .env file key) holding the base URL",
    "launch": "command that starts an embedded deployment; {python}, {ready_file}, {rootdir}",
    "launch_secrets": "table ENV_VAR = secret_name: random per-session values given to launch",
    "launch_env": "table of extra environment variables for the launch command",
    "env_file": "dotenv file with secrets (default .env.NAME, optional)",
    "secrets": "table secret_name = ENV_VAR: where each secret comes from",
    "auth": "'bearer:SECRET' or 'header:Header-Name:SECRET' (or 'none')",
    "verify_tls": "verify TLS certificates (default true)",
    "ca_bundle": "path of a CA bundle to verify TLS with",
    "connect_timeout": "seconds to connect (default 3)",
    "read_timeout": "seconds to wait for a response (default 15)",
    "protected": "true for production: only nondestructive/canary tests run",
    "health_path": "path probed before the run (default /health)",
    "version_path": "path answering the deployment's version as JSON (default /version; '' for none)",
    "description": "free text shown in reports",
    "prometheus_url": "the Prometheus that monitors this service (a launched deployment's ready file may name it)",
    "prometheus_url_env": "name of an environment variable (or .env file key) holding prometheus_url",
    "prometheus_auth": "auth for prometheus_url, in the forms auth takes (default 'none')",
    "pipeline": "table: this environment's pipeline profile (keys override [tool.deployverify.pipeline])",
    "correlation": "table: this environment's correlation settings (keys override the global table)",
    "components": "the deployment's parts the report lists: a list of names or a table name = label",
}

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

# ---------------------------------------------------------------- the target


@dataclass(frozen=True)
class LaunchSpec:
    """How to start an embedded deployment (see :mod:`launch`)."""

    command: str
    #: env var -> secret name; the values are generated per session
    secrets: tuple[tuple[str, str], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    cwd: str = ""


@dataclass(frozen=True)
class Auth:
    """How requests authenticate: one header whose value is a secret, parsed once from
    ``'bearer:SECRET_NAME'`` or ``'header:Header-Name:SECRET_NAME'``."""

    #: "bearer" (``Authorization: Bearer <secret>``) or "header" (``<header>: <secret>``)
    kind: str
    header: str
    secret_name: str

    FORMS = "'bearer:SECRET_NAME' or 'header:Header-Name:SECRET_NAME'"

    @classmethod
    def parse(cls, text: str | None) -> Auth | None:
        """None for ``None``, ``""`` and ``"none"``; ValueError for anything not in
        :attr:`FORMS`."""
        if text in (None, "", "none"):
            return None
        kind, _, rest = str(text).partition(":")
        if kind == "bearer" and rest:
            return cls(kind, "Authorization", rest)
        header, _, secret_name = rest.partition(":")
        if kind == "header" and header and secret_name:
            return cls(kind, header, secret_name)
        raise ValueError(f"{text!r} must be {cls.FORMS}")

    def value(self, secret: str) -> str:
        """The header's value, given the secret's."""
        return f"Bearer {secret}" if self.kind == "bearer" else secret


class _Secrets(dict[str, str]):
    """A dict whose repr never shows the values."""

    def __repr__(self) -> str:
        return "{" + ", ".join(f"{k!r}: '***'" for k in self) + "}"

    __str__ = __repr__


@dataclass(frozen=True)
class Target:
    """The deployment a session verifies. Its repr never shows a secret value.

    ``base_url`` is empty until an embedded deployment is launched (``launch`` set), then
    :func:`with_deployment` returns the target with the ready file's ``api_url``.
    """

    name: str
    base_url: str
    protected: bool = False
    #: True, False, or a CA bundle path (what requests' ``verify`` takes)
    verify: bool | str = True
    connect_timeout: float = 3.0
    read_timeout: float = 15.0
    #: the auth header of every request (None: no auth)
    auth: Auth | None = None
    health_path: str = "/health"
    #: JSON version endpoint read once at activation; "" when the service has none
    version_path: str = "/version"
    #: what ``version_path`` answered (secrets redacted), None when it had nothing
    deployment_version: Mapping[str, Any] | None = None
    description: str = ""
    #: where the base URL came from: "--target-url", "DEPLOYVERIFY_TARGET_URL", "base_url", ...
    url_source: str = ""
    env_file: str = ""
    launch: LaunchSpec | None = None
    #: the embedded deployment's ready-file data (api_url, database, workers, faults, pid)
    deployment: Mapping[str, Any] | None = None
    #: the Prometheus that monitors the service ("" when none is named)
    prometheus_url: str = ""
    #: the auth header of requests to ``prometheus_url``
    prometheus_auth: Auth | None = None
    correlation: CorrelationConfig = field(default_factory=CorrelationConfig)
    profile: PipelineProfile = field(default_factory=PipelineProfile)
    #: (name, label) of each part the report's completeness table expects; () lists only
    #: the parts tests reported through ``component_check``
    components: tuple[tuple[str, str], ...] = ()
    #: (secret name, environment variable, env file it was read from or "") per ``secrets``
    #: entry: where a replay command tells the reader to get the secret from
    secret_sources: tuple[tuple[str, str, str], ...] = ()
    secrets: Mapping[str, str] = field(default_factory=_Secrets, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.secrets, _Secrets):
            object.__setattr__(self, "secrets", _Secrets(self.secrets))

    def secret(self, name: str) -> str:
        """The value of secret ``name``; a clear error (never the values) when it is unknown."""
        try:
            return self.secrets[name]
        except KeyError:
            known = ", ".join(sorted(self.secrets)) or "none"
            raise KeyError(
                f"target {self.name!r} has no secret {name!r} (configured: {known}); add it to "
                f"[tool.deployverify.envs.{self.name}] secrets or launch_secrets"
            ) from None

    def has_secret(self, name: str) -> bool:
        return name in self.secrets

    def secret_source(self, name: str) -> tuple[str, str] | None:
        """(environment variable, env file or "") the secret ``name`` came from; for a
        launched deployment's generated secret, the variable the launch command was given."""
        for secret, var, env_file in self.secret_sources:
            if secret == name:
                return var, env_file
        for var, secret in self.launch.secrets if self.launch is not None else ():
            if secret == name:
                return var, ""
        return None

    def secret_values(self) -> list[str]:
        """Every secret value, for :mod:`redact`."""
        return [v for v in self.secrets.values() if v]

    @property
    def embedded(self) -> bool:
        """Whether this session starts the deployment itself."""
        return self.launch is not None

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)

    def auth_headers(self) -> dict[str, str]:
        """The auth header(s) for every request."""
        return self._headers(self.auth)

    def prometheus_headers(self) -> dict[str, str]:
        """The auth header(s) for requests to ``prometheus_url``."""
        return self._headers(self.prometheus_auth)

    def _headers(self, auth: Auth | None) -> dict[str, str]:
        if auth is None:
            return {}
        return {auth.header: auth.value(self.secret(auth.secret_name))}

    def with_deployment(self, deployment: Mapping[str, Any], secrets: Mapping[str, str]) -> Target:
        """This target bound to a launched deployment and its generated secrets."""
        merged = dict(self.secrets)
        merged.update(secrets)
        return replace(
            self,
            base_url=str(deployment["api_url"]).rstrip("/"),
            url_source="launch",
            deployment=dict(deployment),
            # a launcher may start a Prometheus with the deployment; the env's own wins
            prometheus_url=self.prometheus_url
            or str(deployment.get("prometheus_url") or "").rstrip("/"),
            secrets=_Secrets(merged),
        )

    # xdist: the controller sends the resolved target to its workers in workerinput, which is
    # plain data sent over the execnet pipe to a local child process (never written anywhere).
    def to_wire(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("correlation", "profile"):
                value = {g.name: getattr(value, g.name) for g in fields(value)}
                value = {k: list(v) if isinstance(v, tuple) else v for k, v in value.items()}
            elif f.name in ("components", "secret_sources"):
                value = [list(p) for p in value]
            elif f.name in ("auth", "prometheus_auth") and value is not None:
                value = [value.kind, value.header, value.secret_name]
            elif f.name == "launch" and value is not None:
                value = {
                    "command": value.command,
                    "secrets": [list(p) for p in value.secrets],
                    "env": [list(p) for p in value.env],
                    "cwd": value.cwd,
                }
            elif f.name in ("secrets", "deployment", "deployment_version") and value is not None:
                value = dict(value)
            data[f.name] = value
        return data

    @classmethod
    def from_wire(cls, data: Mapping[str, Any]) -> Target:
        data = dict(data)
        data["correlation"] = _build(CorrelationConfig, data.get("correlation") or {})
        data["profile"] = _build(PipelineProfile, data.get("profile") or {})
        data["components"] = tuple(tuple(p) for p in data.get("components") or ())
        data["secret_sources"] = tuple(tuple(p) for p in data.get("secret_sources") or ())
        for key in ("auth", "prometheus_auth"):
            data[key] = Auth(*data[key]) if data.get(key) else None
        launch = data.get("launch")
        if launch:
            data["launch"] = LaunchSpec(
                command=launch["command"],
                secrets=tuple(tuple(p) for p in launch.get("secrets", ())),
                env=tuple(tuple(p) for p in launch.get("env", ())),
                cwd=launch.get("cwd", ""),
            )
        data["secrets"] = _Secrets(data.get("secrets") or {})
        return cls(**data)


def refuse_protected_record(
    record: bool, name: str, protected: bool, tool: Mapping[str, Any]
) -> None:
    """Recording baselines from a protected (production) target stops the run; the message
    names the project's unprotected environments. The one place this is decided."""
    if record and protected:
        raise ConfigError(
            f"deployverify: --record-baseline refused: target {name!r} is protected "
            f"(production). {record_elsewhere_hint(tool)}"
        )


def _build(cls: type[B], raw: Mapping[str, Any]) -> B:
    kwargs: dict[str, Any] = {}
    for f in fields(cls):
        if f.name in raw:
            value = raw[f.name]
            kwargs[f.name] = tuple(value) if isinstance(value, list) else value
    return cls(**kwargs)


def _where(pyproject: Path | None, name: str) -> str:
    return f"[tool.deployverify.envs.{name}] in {pyproject or 'pyproject.toml'}"


def _read_env_file(path: Path, where: str) -> dict[str, str]:
    """The key/value pairs of a dotenv file, without exporting them to os.environ."""
    from dotenv import dotenv_values

    try:
        # read it ourselves first so an unreadable file is an error, not silently empty
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(
            f"env file {path} (from {where}) cannot be read: {exc.__class__.__name__}: "
            f"{getattr(exc, 'strerror', None) or exc}. Make it a readable UTF-8 dotenv file "
            f"or remove env_file."
        ) from None
    import io

    return {k: v for k, v in dotenv_values(stream=io.StringIO(text)).items() if v is not None}


def _check_keys(
    table: Mapping[str, Any], allowed: Mapping[str, Any] | set[str], where: str
) -> None:
    unknown = sorted(set(table) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; valid keys are "
            f"{', '.join(sorted(allowed))} (see docs/configuration.md)."
        )


def _string_table(value: Any, key: str, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f'{where}: {key} must be a table of strings, e.g. {key} = {{ a = "B" }}')
    return dict(value)


def _number(value: Any, key: str, where: str, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ConfigError(f"{where}: {key} = {value!r} must be a positive number of seconds")
    return float(value)


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
    _check_keys(raw, _KEYS[key], f"{where} in {pyproject}")
    merged = dict(raw)
    own = (env or {}).get(key)
    if own is not None:
        env_where = f"[tool.deployverify.envs.{env_name}.{key}]"
        if not isinstance(own, Mapping):
            raise ConfigError(f"{env_where} in {pyproject} must be a table")
        _check_keys(own, _KEYS[key], f"{env_where} in {pyproject}")
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
    cfg = _build(CorrelationConfig, raw)
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
    profile = _build(PipelineProfile, raw)
    if not profile.terminal_success:
        raise ConfigError(f"{where}: terminal_success must name at least one status")
    for key in ("upload_path", "job_path"):
        if not getattr(profile, key):
            raise ConfigError(f"{where}: {key} must not be empty")
    if "{job_id}" not in profile.job_path:
        raise ConfigError(f"{where}: job_path {profile.job_path!r} must contain {{job_id}}")
    return profile


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


def record_elsewhere_hint(tool: Mapping[str, Any]) -> str:
    """Where to record instead of a protected environment: the project's unprotected ones."""
    envs = tool.get("envs") or {}
    names = [
        str(n)
        for n, t in (envs.items() if isinstance(envs, Mapping) else [])
        if isinstance(t, Mapping) and not t.get("protected")
    ]
    if not names:
        return (
            "Baselines are recorded from an unprotected environment: add a "
            "[tool.deployverify.envs.NAME] table without protected = true and run with "
            "--target-env NAME."
        )
    more = f" (unprotected environments: {', '.join(names)})" if len(names) > 1 else ""
    return (
        f"Baselines are recorded from an unprotected environment: run with --target-env "
        f"{names[0]}{more}."
    )


def _validate_url(url: str, source: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"target URL {url!r} (from {source}) is not an http(s) URL; give a base URL like "
            f"https://docs.example.com or http://127.0.0.1:8000."
        )
    return url.rstrip("/")


def resolve_target(settings: Settings, environ: Mapping[str, str] | None = None) -> Target:
    """Build the :class:`Target` the settings select, reading its env file and secrets.

    Raises :class:`ConfigError` with one clear message for every mistake. The target of an
    embedded deployment has an empty ``base_url`` until :mod:`launch` starts it.
    """
    environ = os.environ if environ is None else environ
    tool, pyproject, rootpath = settings.tool, settings.pyproject, settings.rootpath
    envs = tool.get("envs") or {}
    if not isinstance(envs, Mapping):
        raise ConfigError(f"{pyproject}: [tool.deployverify.envs] must be a table of tables")
    name = settings.env_name
    url_override, url_source = settings.target_url, settings.target_url_source

    env = envs.get(name)
    if env is None:
        if not envs and url_override:
            env = {}  # zero-config: pytest --target-url URL
        else:
            known = ", ".join(sorted(envs)) or "none defined"
            chosen = settings.target_env_source or "the default"
            raise ConfigError(
                f"unknown target environment {name!r} (chosen by {chosen}); known environments "
                f"in {pyproject or rootpath / 'pyproject.toml'}: {known}. Pass --target-env "
                f"with one of them or add a [tool.deployverify.envs.{name}] table."
            )
    if not isinstance(env, Mapping):
        raise ConfigError(f"{_where(pyproject, name)} must be a table")
    where = _where(pyproject, name)
    _check_keys(env, ENV_KEYS, where)

    # the env file: explicit (must be readable if it exists), or .env.NAME when present
    env_file_values: dict[str, str] = {}
    env_file_rel = env.get("env_file") or f".env.{name}"
    env_file = (
        (Path(rootpath) / env_file_rel)
        if not Path(env_file_rel).is_absolute()
        else Path(env_file_rel)
    )
    env_file_used = ""
    if env_file.exists():
        env_file_values = _read_env_file(env_file, where)
        env_file_used = str(env_file)

    def lookup(var: str) -> str | None:
        # the process environment wins over the file, as with dotenv's default
        return environ.get(var) or env_file_values.get(var)

    secrets: dict[str, str] = {}
    sources: list[tuple[str, str, str]] = []
    for secret_name, var in _string_table(env.get("secrets"), "secrets", where).items():
        value = lookup(var)
        sources.append((secret_name, var, "" if environ.get(var) else env_file_used))
        if not value:
            hint = (
                f"the env file {env_file} does not exist"
                if not env_file_used
                else f"it is not in {env_file} either"
            )
            raise ConfigError(
                f"target {name!r} needs secret {secret_name!r} from environment variable "
                f"{var}, which is not set ({hint}). Export {var} or add {var}=<your {secret_name}> to "
                f"{env_file_rel} (see {where})."
            )
        secrets[secret_name] = value

    launch_secrets = _string_table(env.get("launch_secrets"), "launch_secrets", where)
    base_url, source = "", ""
    if url_override:
        base_url, source = _validate_url(url_override, url_source), url_source
    elif env.get("base_url_env"):
        var = str(env["base_url_env"])
        if lookup(var):
            base_url, source = _validate_url(str(lookup(var)), var), var
    if not base_url and env.get("base_url"):
        base_url, source = _validate_url(str(env["base_url"]), f"base_url in {where}"), "base_url"
    launch = None
    if not base_url:
        if env.get("launch"):
            launch = LaunchSpec(
                command=str(env["launch"]),
                secrets=tuple(launch_secrets.items()),
                env=tuple(_string_table(env.get("launch_env"), "launch_env", where).items()),
                cwd=str(rootpath),
            )
        else:
            via = f" or set {env['base_url_env']}" if env.get("base_url_env") else ""
            raise ConfigError(
                f"target {name!r} has no URL: {where} sets neither base_url nor launch, and "
                f"neither --target-url nor {URL_ENV_VAR} is given. Pass --target-url URL{via}, "
                f"or add base_url (or a launch command) to the table."
            )

    def checked_auth(key: str) -> Auth | None:
        raw = env.get(key)
        try:
            auth = Auth.parse(None if raw is None else str(raw))
        except ValueError:
            raise ConfigError(f"{where}: {key} = {str(raw)!r} must be {Auth.FORMS}.") from None
        if auth is None:
            return None
        secret_name = auth.secret_name
        if secret_name not in secrets and secret_name not in launch_secrets.values():
            raise ConfigError(
                f"{where}: {key} uses secret {secret_name!r}, which is in neither secrets nor "
                f'launch_secrets; add {secret_name} = "ENV_VAR" to its secrets table.'
            )
        if launch is None and secret_name not in secrets:
            raise ConfigError(
                f"{where}: {key} uses secret {secret_name!r}, generated only for a launched "
                f"deployment, but the URL comes from {source}; add it to secrets."
            )
        return auth

    auth = checked_auth("auth")
    prometheus_auth = checked_auth("prometheus_auth")
    prometheus_url = ""
    if env.get("prometheus_url_env") and lookup(str(env["prometheus_url_env"])):
        var = str(env["prometheus_url_env"])
        prometheus_url = _validate_url(str(lookup(var)), var)
    elif env.get("prometheus_url"):
        prometheus_url = _validate_url(str(env["prometheus_url"]), f"prometheus_url in {where}")

    verify: bool | str = True
    if "verify_tls" in env:
        if not isinstance(env["verify_tls"], bool):
            raise ConfigError(f"{where}: verify_tls = {env['verify_tls']!r} must be true or false")
        verify = env["verify_tls"]
    if env.get("ca_bundle"):
        bundle = Path(rootpath) / str(env["ca_bundle"])
        if not bundle.is_file():
            raise ConfigError(
                f"{where}: ca_bundle {str(env['ca_bundle'])!r} is not a file ({bundle}); give "
                f"the path of a PEM CA bundle, relative to {rootpath}."
            )
        verify = str(bundle)
    protected = env.get("protected", False)
    if not isinstance(protected, bool):
        raise ConfigError(f"{where}: protected = {protected!r} must be true or false")

    return Target(
        name=name,
        base_url=base_url,
        protected=protected,
        verify=verify,
        connect_timeout=_number(env.get("connect_timeout"), "connect_timeout", where, 3.0),
        read_timeout=_number(env.get("read_timeout"), "read_timeout", where, 15.0),
        auth=auth,
        prometheus_url=prometheus_url,
        prometheus_auth=prometheus_auth,
        health_path=str(env.get("health_path") or "/health"),
        version_path=str(env.get("version_path", "/version") or ""),
        description=str(env.get("description") or ""),
        url_source=source,
        env_file=env_file_used,
        launch=launch,
        correlation=correlation_from(tool, pyproject, env, name),
        profile=profile_from(tool, pyproject, env, name),
        components=components_from(tool, env, pyproject, name),
        secret_sources=tuple(sources),
        secrets=_Secrets(secrets),
    )
