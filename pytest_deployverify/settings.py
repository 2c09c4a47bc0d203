"""The session's configuration, read once into one typed, validated :class:`Settings`.

``plugin.py`` builds it in ``pytest_configure`` (:func:`configure`) from the command-line
options and their ini keys (the table in :mod:`options`), ``[tool.deployverify]`` of the
project's ``pyproject.toml`` (both read by :mod:`settings_reader` and nowhere else) and the
environment variables the options document. Every mistake is one ``pytest.UsageError`` naming the option, ini key or
file and saying how to fix it, raised before any test runs. Components receive the part they
need (``settings.baseline``, ``settings.report``, ``settings.perf``, ...) and never read
options, ini keys or pyproject themselves.

Precedence for every option: command line, then its ini key, then ``[tool.deployverify]``
where the table has a key for it, then the built-in default. A path given on the command line
is relative to where pytest was started; one from ini, pyproject or a default is relative to
the rootdir.

The selected environment's ``env_file`` is read here too (:mod:`envfile`). The target itself
(URL, secrets, auth) is resolved from these settings by
:func:`pytest_deployverify.config.resolve_target` only when the session needs a target: a
project that merely defines environments must not fail on a missing secret (nor on an
unreadable env file: that error is kept and raised then).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pytest

from pytest_deployverify import options
from pytest_deployverify.baseline.model import Rule
from pytest_deployverify.envfile import EnvFile, read_env_file
from pytest_deployverify.fieldcoverage import Declaration, config_declarations
from pytest_deployverify.perf_config import PerfConfig
from pytest_deployverify.report_settings import ReportSettings, read_report_settings
from pytest_deployverify.settings_reader import ConfigError as ConfigError
from pytest_deployverify.settings_reader import (
    OptionReader,
    positive,
    pyproject_path,
    read_tool_table,
)
from pytest_deployverify.verdict_settings import VerdictSettings, read_verdict_settings

if TYPE_CHECKING:  # loaded only with --timing-history
    from pytest_deployverify.timing_history import HistorySettings

#: the target URL's environment variable (documented next to --target-url)
URL_ENV_VAR = "DEPLOYVERIFY_TARGET_URL"
#: set in the environment of the rollback re-check run: no alerts, no rollback, no recursion
RECHECK_ENV = "DEPLOYVERIFY_RECHECK"
DEFAULT_ENV = "local"


# ---------------------------------------------------------------- the parts


@dataclass(frozen=True)
class SessionTimeouts:
    """Bounds of the session's waits (not part of the target: the same for every env)."""

    probe_timeout: float = 5.0
    launch_timeout: float = 60.0
    job_deadline: float = 60.0
    stall_timeout: float = 20.0
    #: seconds a server timestamp may lie outside the run's window (timestamp sanity)
    clock_skew: float = 120.0


@dataclass(frozen=True)
class FailFastSettings:
    """``--fail-fast`` / ``--fail-fast-errors``: end tests needing a part proven broken."""

    enabled: bool = True
    #: consecutive connection errors or timeouts that prove the target unreachable
    errors: int = 2


@dataclass(frozen=True)
class BaselineSettings:
    """``--baseline`` and the record/accounting options, with ``[tool.deployverify.baseline]``
    rules."""

    directory: Path
    record: bool = False
    record_runs: int = 2
    fail_unverified: bool = False
    delete_unused: bool = False
    rules: tuple[Rule, ...] = ()


@dataclass(frozen=True)
class FieldSettings:
    """Field coverage and response mutation (docs/field-coverage.md)."""

    fail_unchecked: bool = False
    #: ``[tool.deployverify.coverage] ignore``: fields ignored on purpose, with the reason
    declarations: tuple[Declaration, ...] = ()
    mutate: bool = False
    mutate_seed: int = 0
    mutate_max: int = 40
    mutate_time: float = 600.0


@dataclass(frozen=True)
class ReferenceSettings:
    """``--reference-url`` (at most two) and ``--reference-env``: the deployment the target
    is compared with live (docs/ci.md). Resolved into targets by ``reference.resolve``."""

    urls: tuple[str, ...] = ()
    env: str | None = None

    @property
    def enabled(self) -> bool:
        return bool(self.urls or self.env)


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one session, validated. Build with :func:`build`."""

    rootpath: Path
    #: where pytest was started (command-line paths are relative to it)
    invocation_dir: Path
    #: the pyproject.toml read, None when the project has none
    pyproject: Path | None
    #: the configuration file pytest read (passed on to the rollback gate's re-check)
    inipath: Path | None
    #: ``[tool.deployverify]`` as read (environments are resolved from it on activation)
    tool: Mapping[str, Any]
    #: --target-env or ini deployverify_target_env, None when neither is given
    target_env: str | None
    #: "--target-env", "ini" or "" (then default_env or "local" chooses)
    target_env_source: str
    #: --target-url, else DEPLOYVERIFY_TARGET_URL, else None
    target_url: str | None
    #: "--target-url", "DEPLOYVERIFY_TARGET_URL" or ""
    target_url_source: str
    timeouts: SessionTimeouts
    keep_documents: bool
    baseline: BaselineSettings
    report: ReportSettings
    verdict: VerdictSettings
    perf: PerfConfig
    #: dest -> value of every deployverify option given on the command line
    given: Mapping[str, Any] = field(default_factory=dict)
    fields: FieldSettings = field(default_factory=FieldSettings)
    #: --timing-history and friends; None without a history directory
    history: HistorySettings | None = None
    failfast: FailFastSettings = field(default_factory=FailFastSettings)
    reference: ReferenceSettings = field(default_factory=ReferenceSettings)
    #: environment name -> its env file, read at configure time for the environments the
    #: options select (the target's and ``--reference-env``'s)
    env_files: Mapping[str, EnvFile] = field(default_factory=dict)

    @property
    def env_name(self) -> str:
        """The environment to verify: option, ini, ``default_env``, ``"local"``."""
        return self.target_env or str(self.tool.get("default_env") or DEFAULT_ENV)

    @property
    def target_requested(self) -> bool:
        """Whether the user asked for a target (command line, ini or environment)."""
        return bool(self.target_env or self.target_url or self.baseline.record)

    @property
    def has_default_env(self) -> bool:
        return "default_env" in self.tool

    def env_file(self, name: str) -> EnvFile:
        """Environment ``name``'s env file as read at configure time."""
        known = self.env_files.get(name)
        if known is not None:
            return known
        # not selected by any option (a caller resolving another environment): read it now
        where = f"[tool.deployverify.envs.{name}] in {self.pyproject or 'pyproject.toml'}"
        return read_env_file(self.rootpath, self.env_table(name), name, where)

    def env_table(self, name: str) -> Mapping[str, Any] | None:
        """The raw ``[tool.deployverify.envs.NAME]`` table, None when not defined."""
        envs = self.tool.get("envs")
        env = envs.get(name) if isinstance(envs, Mapping) else None
        return env if isinstance(env, Mapping) else None


SETTINGS_KEY = pytest.StashKey[Settings]()


def configure(config: pytest.Config) -> Settings:
    """Build the session's settings and keep them on ``config.stash`` (pytest_configure)."""
    settings = build(config)
    config.stash[SETTINGS_KEY] = settings
    return settings


def get(config: pytest.Config) -> Settings:
    """The session's settings (built in ``pytest_configure``)."""
    settings = config.stash.get(SETTINGS_KEY, None)
    if settings is None:  # a hook of ours running before our pytest_configure
        settings = configure(config)
    return settings


def build(config: pytest.Config) -> Settings:
    """Read and validate every setting of this session; raises :class:`ConfigError`."""
    read = OptionReader(config)
    tool, pyproject = read_tool_table(pyproject_path(config))
    rootpath = Path(config.rootpath)

    target_env, env_source = read.cli("deployverify_target_env"), "--target-env"
    if not target_env:
        target_env, env_source = read.ini("deployverify_target_env"), "ini"
    if not target_env:
        target_env, env_source = None, ""
    target_url, url_source = read.cli("deployverify_target_url"), "--target-url"
    if not target_url:
        target_url, url_source = os.environ.get(URL_ENV_VAR) or None, URL_ENV_VAR
    if not target_url:
        target_url, url_source = None, ""

    timeouts = SessionTimeouts(
        probe_timeout=positive(read.value("deployverify_probe_timeout"), "--probe-timeout"),
        launch_timeout=positive(read.value("deployverify_launch_timeout"), "--launch-timeout"),
        job_deadline=positive(read.value("deployverify_job_deadline"), "--job-deadline"),
        stall_timeout=positive(read.value("deployverify_stall_timeout"), "--stall-timeout"),
        clock_skew=positive(read.value("deployverify_clock_skew"), "--clock-skew"),
    )
    rechecking = os.environ.get(RECHECK_ENV) == "1"
    reference = _reference_settings(read, tool, pyproject)
    selected = str(target_env) if target_env else str(tool.get("default_env") or DEFAULT_ENV)
    return Settings(
        rootpath=rootpath,
        invocation_dir=Path(config.invocation_params.dir),
        pyproject=pyproject,
        inipath=Path(config.inipath) if config.inipath is not None else None,
        tool=tool,
        target_env=str(target_env) if target_env else None,
        target_env_source=env_source,
        target_url=str(target_url) if target_url else None,
        target_url_source=url_source,
        timeouts=timeouts,
        keep_documents=bool(read.value("deployverify_keep_documents")),
        baseline=_baseline_settings(read, tool, pyproject),
        report=read_report_settings(read, tool, pyproject),
        verdict=read_verdict_settings(read, rechecking),
        perf=_perf_settings(read, tool, pyproject or pyproject_path(config)),
        given={
            opt.dest: read.cli(opt.dest)
            for opt in options.OPTIONS
            if read.cli(opt.dest) not in (None, "")
        },
        fields=_field_settings(read, tool, pyproject or pyproject_path(config)),
        history=_history_settings(read),
        failfast=_failfast_settings(read),
        reference=reference,
        env_files=_env_files(tool, pyproject, rootpath, (selected, reference.env)),
    )


#: reference URLs: one (asked twice, to learn its noise) or two (each asked once)
MAX_REFERENCE_URLS = 2


def _reference_settings(
    read: OptionReader, tool: Mapping[str, Any], pyproject: Path | None
) -> ReferenceSettings:
    """``--reference-url`` (repeatable, ini: space-separated) and ``--reference-env``."""
    cli = read.cli("deployverify_reference_url")
    if cli:
        urls, source = [str(u) for u in cli], "--reference-url"
    else:
        raw = read.ini("deployverify_reference_url")
        urls, source = (str(raw).split() if raw else []), "ini deployverify_reference_url"
    if len(urls) > MAX_REFERENCE_URLS:
        raise ConfigError(
            f"{source}: {len(urls)} reference URLs given; give one (asked twice to learn its "
            f"noise) or two (two reference deployments, each asked once)."
        )
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"{source} = {url!r} is not an http(s) URL of a deployment; give its base URL, "
                f"e.g. --reference-url https://blue.example.com"
            )
    if len(urls) == 2 and urls[0].rstrip("/") == urls[1].rstrip("/"):
        raise ConfigError(
            f"{source}: the same URL twice ({urls[0]}); give it once (it is then asked twice) "
            f"or give two different reference deployments."
        )
    env = read.value("deployverify_reference_env") or None
    if env is not None:
        envs = tool.get("envs")
        if not isinstance(envs, Mapping) or env not in envs:
            known = ", ".join(sorted(envs)) if isinstance(envs, Mapping) and envs else "none"
            raise ConfigError(
                f"--reference-env {env!r}: no [tool.deployverify.envs.{env}] table in "
                f"{pyproject or 'pyproject.toml'} (environments defined: {known}); add the "
                f"table (base_url, secrets, auth) or pass a defined name."
            )
    return ReferenceSettings(urls=tuple(u.rstrip("/") for u in urls), env=str(env) if env else None)


def _env_files(
    tool: Mapping[str, Any], pyproject: Path | None, rootpath: Path, names: Iterable[str | None]
) -> dict[str, EnvFile]:
    """The env file (``env_file``, default ``.env.NAME``) of each named environment."""
    envs = tool.get("envs")
    out: dict[str, EnvFile] = {}
    for name in filter(None, names):
        env = envs.get(name) if isinstance(envs, Mapping) else None
        where = f"[tool.deployverify.envs.{name}] in {pyproject or 'pyproject.toml'}"
        out[name] = read_env_file(rootpath, env if isinstance(env, Mapping) else None, name, where)
    return out


def _history_settings(read: OptionReader) -> HistorySettings | None:
    """``--timing-history`` (CLI path relative to the invocation dir, ini to the rootdir)."""
    directory = read.path("deployverify_timing_history", None)
    accept = bool(read.cli("deployverify_accept_timings"))
    if directory is None:
        if accept:
            raise ConfigError(
                "--accept-timings needs a timing history to append to; give "
                "--timing-history DIR (or the ini key deployverify_timing_history)."
            )
        return None
    values = {}
    for dest, flag in (
        ("deployverify_timing_history_min_runs", "--timing-history-min-runs"),
        ("deployverify_timing_history_runs", "--timing-history-runs"),
    ):
        raw = read.value(dest)
        try:
            values[dest] = int(raw)
        except (TypeError, ValueError):
            raise ConfigError(f"{flag} = {raw!r} must be a whole number of runs >= 1.") from None
        if values[dest] < 1:
            raise ConfigError(f"{flag} = {raw!r} must be a whole number of runs >= 1.")
    last = values["deployverify_timing_history_runs"]
    from pytest_deployverify.timing_history import HistorySettings

    return HistorySettings(
        directory=directory,
        min_runs=values["deployverify_timing_history_min_runs"],
        last_runs=last,
        accept=accept,
        keep=max(50, last),
    )


def _failfast_settings(read: OptionReader) -> FailFastSettings:
    mode = str(read.value("deployverify_fail_fast")).strip().lower()
    if mode not in ("on", "off"):
        raise ConfigError(
            f"--fail-fast / ini deployverify_fail_fast = {mode!r} must be 'on' or 'off'."
        )
    errors = read.value("deployverify_fail_fast_errors")
    if isinstance(errors, bool) or not isinstance(errors, int) or errors < 1:
        raise ConfigError(
            f"--fail-fast-errors / ini deployverify_fail_fast_errors = {errors!r} must be a "
            f"whole number >= 1 (consecutive connection errors or timeouts)."
        )
    return FailFastSettings(enabled=mode == "on", errors=errors)


def _field_settings(read: OptionReader, tool: Mapping[str, Any], pyproject: Path) -> FieldSettings:
    try:
        declarations = config_declarations(tool, str(pyproject))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    seed = read.value("deployverify_mutate_seed")
    limit = read.value("deployverify_mutate_max")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"--mutate-max = {limit!r} must be a whole number of mutants >= 1.")
    return FieldSettings(
        fail_unchecked=bool(read.value("deployverify_fail_unchecked")),
        declarations=tuple(declarations),
        mutate=bool(read.cli("deployverify_mutate")),
        mutate_seed=int(seed),
        mutate_max=limit,
        mutate_time=positive(read.value("deployverify_mutate_time"), "--mutate-time"),
    )


def _baseline_settings(
    read: OptionReader, tool: Mapping[str, Any], pyproject: Path | None
) -> BaselineSettings:
    from pytest_deployverify.baseline.rules import RuleError, config_rules

    try:
        rules = config_rules(tool)
    except RuleError as exc:
        raise ConfigError(f"deployverify: {exc}") from None
    baseline_dir = tool.get("baseline_dir") or "baselines"
    directory = read.path("deployverify_baseline_dir", str(baseline_dir))
    assert directory is not None
    runs = read.value("deployverify_record_runs")
    record_runs = 2 if runs is None else int(runs)
    if record_runs < 1:
        raise ConfigError(
            f"deployverify: --record-runs {record_runs} must be at least 1 (2 or more "
            "lets the plugin learn which fields are noise)"
        )
    return BaselineSettings(
        directory=directory.resolve(),
        record=bool(read.value("deployverify_record")),
        record_runs=record_runs,
        fail_unverified=bool(read.value("deployverify_fail_unverified")),
        delete_unused=bool(read.value("deployverify_delete_unused")),
        rules=tuple(rules),
    )


def _perf_settings(read: OptionReader, tool: Mapping[str, Any], pyproject: Path) -> PerfConfig:
    """``[tool.deployverify.perf]``; the ini keys fill in what the table leaves out and the
    command line wins over both."""
    from pytest_deployverify.perf_config import perf_config_from

    table = tool.get("perf", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{pyproject}: [tool.deployverify.perf] must be a table.")
    table = dict(table)
    for key, dest in (
        ("ratio", "deployverify_perf_ratio"),
        ("confidence", "deployverify_perf_confidence"),
    ):
        raw = read.ini(dest)
        if key not in table and raw is not None:
            table[key] = float(raw)
    return perf_config_from(
        table,
        f"[tool.deployverify.perf] in {pyproject}",
        cli_ratio=read.cli("deployverify_perf_ratio"),
        cli_confidence=read.cli("deployverify_perf_confidence"),
    )
