"""Session glue for the core: resolve the target, launch, probe, share with xdist workers.

``plugin.py`` calls these from its [core] hooks; each function is one step of the run flow.

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

from dataclasses import dataclass
from typing import Any

import pytest

from pytest_deployverify import settings as settings_mod
from pytest_deployverify.config import ConfigError, Target, record_elsewhere_hint
from pytest_deployverify.state import get_state

WORKERINPUT_KEY = "deployverify_target"
#: fixtures whose use means the session needs a live target
TARGET_FIXTURE = "target"
SAFE_MARKERS = ("nondestructive", "canary")


@dataclass(frozen=True)
class SetupError:
    """Why activation failed (the run stops with a usage error before any test).

    The verdict and report components read it (:func:`setup_error`) so the verdict file says
    why instead of going stale: under xdist the failure happens in ``pytest_sessionstart``
    and pytest never calls ``pytest_sessionfinish``.
    """

    #: the error message, redacted
    message: str
    #: the target as far as it was resolved (launched or not); None when resolving failed
    target: Target | None = None


SETUP_ERROR_KEY = pytest.StashKey[SetupError]()


def setup_error(config: pytest.Config) -> SetupError | None:
    """The session's activation failure, None when activation succeeded or never ran."""
    return config.stash.get(SETUP_ERROR_KEY, None)


def is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def is_xdist_controller(config: pytest.Config) -> bool:
    return not is_worker(config) and config.pluginmanager.getplugin("dsession") is not None


def is_informational(config: pytest.Config) -> bool:
    """A session that runs no fixture and no test: no launch, no probe, no verdict.

    (``--setup-only`` runs fixtures, so it may need the target, but it gets no verdict:
    see ``verdict.is_active``.)
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


# ---------------------------------------------------------------- resolution and launch


def resolve(config: pytest.Config) -> Target:
    """The configured :class:`Target` (not yet launched): raises ConfigError on mistakes."""
    from pytest_deployverify.config import resolve_target

    return resolve_target(settings_mod.get(config))


def activate(config: pytest.Config) -> Target:
    """Resolve, refuse unsafe combinations, launch when embedded, probe; store on the state.

    Idempotent. Every failure is one ``pytest.UsageError`` and happens before any test runs;
    its redacted message is kept as the session's :class:`SetupError` first.
    """
    state = get_state(config)
    if state.target is not None:
        return state.target
    attempted: list[Target] = []  # the target as far as it got, for the SetupError
    try:
        return _activate(config, attempted)
    except pytest.UsageError as exc:
        from pytest_deployverify.redact import redact_text

        target = attempted[-1] if attempted else None
        secrets = target.secret_values() if target is not None else []
        message = redact_text(" ".join(str(a) for a in exc.args) or type(exc).__name__, secrets)
        config.stash[SETUP_ERROR_KEY] = SetupError(message=message, target=target)
        # pytest prints the args: a secret that reached the message must not reach stderr
        exc.args = (message,)
        raise


def _activate(config: pytest.Config, attempted: list[Target]) -> Target:
    state = get_state(config)
    timeouts = settings_mod.get(config).timeouts
    target = resolve(config)
    attempted.append(target)
    if target.protected and settings_mod.get(config).baseline.record:
        raise ConfigError(
            f"--record-baseline refused: target {target.name!r} is protected (production). "
            + record_elsewhere_hint(settings_mod.get(config).tool)
        )
    if target.embedded:
        from pytest_deployverify import launch

        assert target.launch is not None
        deployment = launch.start(
            target.launch,
            env_name=target.name,
            timeout=timeouts.launch_timeout,
            notify=lambda line: _terminal_line(config, line),
        )
        # stopped when the config is torn down, also after a UsageError below
        config.add_cleanup(deployment.stop)
        state.deployment = deployment
        target = target.with_deployment(deployment.data, deployment.secrets)
        attempted.append(target)
    from pytest_deployverify.client import probe

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
    from dataclasses import replace

    from pytest_deployverify.client import fetch_version

    # One read at activation feeds the baseline header, the verdict and the report alike.
    target = replace(
        target, deployment_version=fetch_version(target, timeout=timeouts.probe_timeout)
    )
    state.target = target
    return target


def _terminal_line(config: pytest.Config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(line)
    else:
        import sys

        sys.stderr.write(line + "\n")


def session_start(session: pytest.Session) -> None:
    """Controller/worker set-up at session start (see the module docstring)."""
    config = session.config
    if is_informational(config):
        return
    if is_worker(config):
        wire = config.workerinput.get(WORKERINPUT_KEY)  # type: ignore[attr-defined]
        if wire:
            get_state(config).target = Target.from_wire(wire)
        return
    settings = settings_mod.get(config)
    if is_xdist_controller(config) and (settings.target_requested or settings.has_default_env):
        activate(config)


def collection_finished(session: pytest.Session) -> None:
    """A non-xdist run: activate once the selected tests are known."""
    config = session.config
    if is_worker(config) or is_xdist_controller(config) or is_informational(config):
        return
    if settings_mod.get(config).target_requested or any(
        TARGET_FIXTURE in getattr(item, "fixturenames", ()) for item in session.items
    ):
        activate(config)


def configure_node(node: Any) -> None:
    """xdist controller: hand the resolved target (with launch secrets) to a worker."""
    target = get_state(node.config).target
    node.workerinput[WORKERINPUT_KEY] = target.to_wire() if target is not None else None


def current_target(config: pytest.Config) -> Target:
    """The session's target, for the ``target`` fixture."""
    state = get_state(config)
    if state.target is None:
        if is_worker(config):
            raise pytest.UsageError(
                "deployverify: this test needs a target, but under pytest-xdist the target is "
                "chosen once by the controller before collection and none was selected. Pass "
                "--target-env NAME (or --target-url URL), or set default_env in "
                "[tool.deployverify] of pyproject.toml, so one deployment is shared by all workers."
            )
        activate(config)
    return state.target


# ---------------------------------------------------------------- protected environments


def skip_if_protected(item: pytest.Item) -> None:
    """On a protected target, skip tests not marked nondestructive or canary (reason shown)."""
    target = get_state(item.config).target
    if target is None or not target.protected:
        return
    if any(item.get_closest_marker(name) for name in SAFE_MARKERS):
        return
    pytest.skip(
        f"deployverify: target {target.name!r} is protected; only tests marked "
        f"nondestructive or canary run on it"
    )


def keep_documents(config: pytest.Config, target: Target) -> bool:
    """Whether synthetic documents stay after the test (never on a protected target)."""
    return settings_mod.get(config).keep_documents and not target.protected


# ---------------------------------------------------------------- correlation echo policy


def echo_failure_message(item: pytest.Item) -> str | None:
    """An AssertionError message when the test's requests lost their correlation ID."""
    from pytest_deployverify.state import EVIDENCE_KEY

    target = get_state(item.config).target
    evidence = item.stash.get(EVIDENCE_KEY, None)
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


# ---------------------------------------------------------------- terminal summary


def summary_lines(config: pytest.Config) -> list[str]:
    """Target and cleanup lines for the terminal summary (controller only)."""
    state = get_state(config)
    lines: list[str] = []
    target = state.target
    if target is not None:
        how = "embedded deployment" if target.embedded else f"from {target.url_source}"
        lines.append(
            f"target {target.name!r} at {target.base_url} ({how})"
            + (", protected" if target.protected else "")
        )
    results = [c for ev in state.evidence.values() for c in ev.cleanup]
    if results:
        counts: dict[str, int] = {}
        for c in results:
            counts[c.get("result", "?")] = counts.get(c.get("result", "?"), 0) + 1
        text = ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
        lines.append(f"cleanup of synthetic documents: {text}")
        for c in results:
            if c.get("result") == "failed":
                lines.append(
                    f"  NOT deleted: document {c.get('document_id')} ({c.get('filename')}), "
                    f"correlation ID {c.get('correlation_id')}: {c.get('reason')}"
                )
    return lines
