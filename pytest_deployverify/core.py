"""The core's steps: resolve the target, launch, probe, share it with xdist workers, and the
per-test policies that depend on it (protected targets, the correlation echo).

The session object (:mod:`pytest_deployverify.session`) calls these and keeps what they return.

When the target is resolved (and an embedded deployment launched):

* a non-xdist run: after collection, if any selected test uses the ``target`` fixture (``api``
  and ``upload_document`` depend on it) or a target option was given explicitly;
* the xdist controller: at session start (it does not collect), if a target option was given
  or the rootdir's ``[tool.deployverify]`` names a ``default_env``; workers receive the result
  through ``workerinput`` and never launch. A project whose pyproject merely defines
  environments (like this repository, whose own self-tests never need a target) is left
  alone unless the run selects one.

Never for ``--help``, ``--version``, ``--collect-only``, ``--fixtures`` or ``--markers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import pytest

from pytest_deployverify.config import Target, refuse_protected_record
from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.settings import ConfigError, Settings
from pytest_deployverify.workers import is_worker, is_xdist_controller, worker_input

if TYPE_CHECKING:
    from pytest_deployverify.failfast import Breaker
    from pytest_deployverify.launch import Deployment
    from pytest_deployverify.target_probe import VersionFetch

WORKERINPUT_KEY = "deployverify_target"
#: fixtures whose use means the session needs a live target
#: fixtures that need the target: the public one and the one the plugin's own fixtures use
TARGET_FIXTURES = ("target", "_deployverify_target")
SAFE_MARKERS = ("nondestructive", "canary")


@dataclass(frozen=True)
class SetupError:
    """Why activation failed (the run stops with a usage error before any test).

    The session keeps it so the verdict file says why instead of going stale: under xdist the
    failure happens in ``pytest_sessionstart`` and pytest never calls ``pytest_sessionfinish``.
    """

    #: the error message, redacted
    message: str
    #: the target as far as it was resolved (launched or not); None when resolving failed
    target: Target | None = None


@dataclass(frozen=True)
class Activated:
    """A resolved, launched (when embedded) and probed target."""

    target: Target
    deployment: Deployment | None = None
    #: the target's version document still being read (``target.deployment_version`` unset)
    version: VersionFetch | None = None


def is_informational(config: pytest.Config) -> bool:
    """A session that runs no fixture and no test: no launch, no probe, no verdict.

    (``--setup-only`` runs fixtures, so it may need the target, but it gets no verdict:
    see ``DeployVerifySession.is_active``.)
    """
    opt = config.option
    return any(
        getattr(opt, name, False)
        for name in (
            "help",
            "version",
            "collectonly",
            "showfixtures",
            "show_fixtures_per_test",
            "markers",
            "setupplan",
        )
    )


def needs_target_at_start(config: pytest.Config, settings: Settings) -> bool:
    """The xdist controller activates at session start (it does not collect), when asked to."""
    return (
        is_xdist_controller(config)
        and not is_informational(config)
        and (settings.target_requested or settings.has_default_env)
    )


def needs_target_after_collection(
    config: pytest.Config, settings: Settings, items: Sequence[pytest.Item]
) -> bool:
    """A run without xdist activates once the selected tests are known, if any needs it."""
    if is_worker(config) or is_xdist_controller(config) or is_informational(config):
        return False
    return settings.target_requested or any(
        name in TARGET_FIXTURES for item in items for name in getattr(item, "fixturenames", ())
    )


# ---------------------------------------------------------------- resolution and launch


def activate(
    config: pytest.Config,
    settings: Settings,
    attempted: list[Target],
    breaker: Breaker | None = None,
) -> Activated:
    """Resolve, refuse unsafe combinations, launch when embedded, probe.

    Every failure is one ``pytest.UsageError`` and happens before any test runs; ``attempted``
    receives the target as far as it got (for the session's :class:`SetupError`). The version
    read tells ``breaker`` (fail fast) whether the target answered.
    """
    from pytest_deployverify.config import resolve_target

    timeouts = settings.timeouts
    target = resolve_target(settings)
    attempted.append(target)
    refuse_protected_record(settings.baseline.record, target.name, target.protected, settings.tool)
    deployment = None
    if target.embedded:
        from pytest_deployverify import launch

        assert target.launch is not None
        launched = deployment = launch.start(
            target.launch,
            env_name=target.name,
            timeout=timeouts.launch_timeout,
            notify=lambda line: _terminal_line(config, line),
        )

        def stop() -> None:
            launched.stop()

        # stopped when the config is torn down, also after a UsageError below
        config.add_cleanup(stop)
        target = target.with_deployment(deployment.data, deployment.secrets)
        attempted.append(target)
    from pytest_deployverify.target_probe import VersionFetch, fetch_version, probe

    reason = probe(target, timeout=timeouts.probe_timeout)
    if reason is not None:
        how = (
            "the embedded deployment started but does not answer; see its log"
            if target.embedded
            else f"check the URL (from {target.url_source}), that the service is up and that "
            f"this machine can reach it, or raise --probe-timeout"
        )
        raise ConfigError(
            f"target {target.name!r} is unreachable: GET {target.base_url}{target.health_path} "
            f"did not answer within {timeouts.probe_timeout:g} s ({reason}); {how}."
        )
    # One read at activation feeds the baseline header, the verdict and the report alike.
    # Recording writes it into every baseline file as the tests finish: read it first. A
    # verifying run reads it while the tests start (the session adopts it when it is asked).
    if settings.baseline.record:
        version = fetch_version(target, timeout=timeouts.probe_timeout)
        return Activated(replace(target, deployment_version=version), deployment)
    return Activated(
        target, deployment, VersionFetch(target, timeout=timeouts.probe_timeout, breaker=breaker)
    )


def setup_error_of(exc: pytest.UsageError, attempted: Sequence[Target]) -> SetupError:
    """The redacted :class:`SetupError` of a failed activation; redacts ``exc`` in place too
    (pytest prints its args: a secret that reached the message must not reach stderr)."""
    from pytest_deployverify.redact import redact_text

    target = attempted[-1] if attempted else None
    secrets = target.secret_values() if target is not None else []
    message = redact_text(" ".join(str(a) for a in exc.args) or type(exc).__name__, secrets)
    exc.args = (message,)
    return SetupError(message=message, target=target)


def target_from_worker_input(config: pytest.Config) -> Target | None:
    """A worker's target, as the controller resolved it (None when it resolved none)."""
    wire = worker_input(config).get(WORKERINPUT_KEY)
    return Target.from_wire(wire) if isinstance(wire, dict) else None


def no_target_on_worker() -> pytest.UsageError:
    return pytest.UsageError(
        "deployverify: this test needs a target, but under pytest-xdist the target is "
        "chosen once by the controller before collection and none was selected. Pass "
        "--target-env NAME (or --target-url URL), or set default_env in "
        "[tool.deployverify] of pyproject.toml, so one deployment is shared by all workers."
    )


def _terminal_line(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    else:
        import sys

        sys.stderr.write(line + "\n")


# ---------------------------------------------------------------- protected environments


def skip_if_protected(item: pytest.Item, target: Target | None) -> None:
    """On a protected target, skip tests not marked nondestructive or canary (reason shown)."""
    if target is None or not target.protected:
        return
    if any(item.get_closest_marker(name) for name in SAFE_MARKERS):
        return
    pytest.skip(
        f"deployverify: target {target.name!r} is protected; only tests marked "
        f"nondestructive or canary run on it"
    )


# ---------------------------------------------------------------- correlation echo policy


def echo_failure_message(target: Target | None, evidence: TestEvidence | None) -> str | None:
    """An AssertionError message when the test's requests lost their correlation ID."""
    if target is None or evidence is None or target.correlation.echo != "fail":
        return None
    failures = [f for f in evidence.findings if f.kind == "correlation" and f.outcome == "fail"]
    if not failures:
        return None
    lines = [f"  - {f.message} (x{f.observed.get('count', 1)})" for f in failures[:5]]
    return (
        f"correlation ID not echoed: the service must return "
        f"{target.correlation.echo_name} on every response "
        f"([tool.deployverify.correlation] echo = 'record' to only record this)\n"
        + "\n".join(lines)
    )
