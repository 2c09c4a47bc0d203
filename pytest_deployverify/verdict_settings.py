"""The verdict part of the Settings: exit status, alert webhook, rollback command.

Built once by :func:`pytest_deployverify.settings.build`; a bad value is a
:class:`ConfigError` naming the option or environment variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import urlsplit

from pytest_deployverify.settings_reader import ConfigError, OptionReader, positive

#: the alert webhook's environment variable (documented next to --alert-webhook)
ALERT_ENV_VAR = "DEPLOYVERIFY_ALERT_WEBHOOK"


@dataclass(frozen=True)
class VerdictSettings:
    """What the session end does with the verdict: exit status, alerts, rollback."""

    inconclusive_exit_code: int = 6
    #: validated http(s) URL, None when no alerts are sent (or in a re-check run)
    alert_webhook: str | None = None
    rollback_cmd: str | None = None
    rollback_timeout: float = 300.0
    #: this run is the rollback gate's re-check (``DEPLOYVERIFY_RECHECK=1``)
    rechecking: bool = False


def read_verdict_settings(read: OptionReader, rechecking: bool) -> VerdictSettings:
    """Exit status, alert webhook and rollback (``--inconclusive-exit-code``,
    ``--alert-webhook`` or its environment variable, ``--rollback-cmd``); a re-check run
    sends no alerts."""
    code = read.value("deployverify_inconclusive_exit_code")
    if not isinstance(code, int) or not 0 <= code <= 255:
        raise ConfigError(
            f"--inconclusive-exit-code / ini deployverify_inconclusive_exit_code = {code!r}: "
            f"an exit status must be an integer from 0 to 255 (default 6)."
        )
    url, source = read.cli("deployverify_alert_webhook"), "--alert-webhook"
    if not url and os.environ.get(ALERT_ENV_VAR):
        url, source = os.environ[ALERT_ENV_VAR], ALERT_ENV_VAR
    webhook = _webhook_url(str(url), source) if url and not rechecking else None
    return VerdictSettings(
        inconclusive_exit_code=code,
        alert_webhook=webhook,
        rollback_cmd=read.cli("deployverify_rollback_cmd") or None,
        rollback_timeout=positive(
            read.value("deployverify_rollback_timeout"), "--rollback-timeout"
        ),
        rechecking=rechecking,
    )


def _webhook_url(url: str, source: str) -> str:
    """The webhook URL, or a usage error naming ``source`` (option or env var)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(
            f"{source}: the alert webhook must be an http(s) URL like "
            f"https://hooks.slack.com/services/..., got a value with scheme "
            f"{parts.scheme or 'none'!r}; fix it or leave it unset to send no alerts."
        )
    return url
