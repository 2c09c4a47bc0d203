"""The Target (URL, auth, secrets), resolved from the Settings when the session needs it.

The inputs come from :class:`~pytest_deployverify.settings.Settings` (options, ini keys,
``[tool.deployverify]`` and the selected environment's env file, read once at configure
time); the secrets are looked up here, when the session needs its target, so a project that
merely defines environments never fails on a missing secret. The service's shape (pipeline
profile, correlation) is :mod:`profile`'s. Environment name: ``--target-env``, ini
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
from typing import Any
from urllib.parse import urlsplit

from pytest_deployverify.profile import (
    CorrelationConfig,
    PipelineProfile,
    build_table,
    check_keys,
    components_from,
    correlation_from,
    profile_from,
)
from pytest_deployverify.settings import URL_ENV_VAR, ConfigError, Settings

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

    @property
    def sends_authorization(self) -> bool:
        """Whether the target's own auth is an ``Authorization`` header: then no ``~/.netrc``
        credentials are added to its requests (the ``api`` client and the version read)."""
        return self.auth is not None and self.auth.header.lower() == "authorization"

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
        data["correlation"] = build_table(CorrelationConfig, data.get("correlation") or {})
        data["profile"] = build_table(PipelineProfile, data.get("profile") or {})
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


def _where(pyproject: Path | None, name: str) -> str:
    return f"[tool.deployverify.envs.{name}] in {pyproject or 'pyproject.toml'}"


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


def configured_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret values of the environment the settings select, as far as they can be read
    now (its ``secrets`` table's environment variables, else its env file): what the outputs
    redact while the session has no target, because no test needed one. Never an error (a
    missing or malformed entry is resolution's to report) and never a launch."""
    environ = os.environ if environ is None else environ
    env = settings.env_table(settings.env_name)
    table = env.get("secrets") if env is not None else None
    if not isinstance(table, Mapping):
        return []
    env_file = settings.env_file(settings.env_name)
    from_file = env_file.values if env_file.error is None and env_file.values else {}
    found = (
        environ.get(var) or from_file.get(var) for var in table.values() if isinstance(var, str)
    )
    return [value for value in found if value]


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
    check_keys(env, ENV_KEYS, where)

    # the env file, read at configure time (an unreadable one is an error only now)
    env_file = settings.env_file(name)
    if env_file.error is not None:
        raise ConfigError(env_file.error)
    env_file_values = env_file.values or {}
    env_file_used = str(env_file.path) if env_file.used else ""

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
                f"the env file {env_file.path} does not exist"
                if not env_file_used
                else f"it is not in {env_file.path} either"
            )
            raise ConfigError(
                f"target {name!r} needs secret {secret_name!r} from environment variable "
                f"{var}, which is not set ({hint}). Export {var} or add {var}=<your {secret_name}> to "
                f"{env_file.name} (see {where})."
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
