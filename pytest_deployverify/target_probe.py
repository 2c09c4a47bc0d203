"""Before any test: is the target up (``probe``), and which version is it (``fetch_version``,
or :class:`VersionFetch` to read it while the tests start)?

Both use a plain requests Session, not an ``ApiClient``: no test, correlation ID or evidence
exists yet, and a probe must not be retried or recorded like a test's request.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from pytest_deployverify.config import Target
from pytest_deployverify.failfast import Breaker
from pytest_deployverify.redact import redact_text, redact_value


def probe(target: Target, *, timeout: float) -> str | None:
    """GET the target's health path within ``timeout`` seconds in total.

    Returns None when the target answered (any HTTP status: a degraded 503 is for the tests to
    judge), else a one-line reason (redacted). Connection errors are retried until the time is
    up, so a deployment that is still binding its port gets a chance.
    """
    url = target.base_url.rstrip("/") + "/" + target.health_path.lstrip("/")
    deadline = time.monotonic() + timeout
    last = "no attempt"
    with requests.Session() as session:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return redact_text(last, target.secret_values())
            try:
                session.get(
                    url,
                    timeout=(min(left, target.connect_timeout), min(left, target.read_timeout)),
                    verify=target.verify,
                    allow_redirects=False,
                )
                return None
            except requests.exceptions.SSLError as exc:
                return redact_text(f"TLS error: {exc}", target.secret_values())
            except (requests.ConnectionError, requests.Timeout) as exc:
                last = f"{exc.__class__.__name__}: {_short_reason(exc)}"
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


def fetch_version(
    target: Target, *, timeout: float, breaker: Breaker | None = None
) -> dict[str, Any] | None:
    """The target's version document (GET ``version_path``), redacted; None when it has none.

    Provenance only: any failure (no endpoint, not JSON, timeout) gives None, never an error.
    ``breaker`` (fail fast) is told whether the target answered: a timeout or connection error
    counts towards the consecutive errors a later test's request can complete into a proof.
    """
    if not target.version_path:
        return None
    url = target.base_url.rstrip("/") + "/" + target.version_path.lstrip("/")
    try:
        with requests.Session() as session:
            response = session.get(
                url,
                headers=target.auth_headers(),
                timeout=(min(timeout, target.connect_timeout), min(timeout, target.read_timeout)),
                verify=target.verify,
                allow_redirects=False,
            )
    except (requests.ConnectionError, requests.Timeout) as exc:
        if breaker is not None:
            error = f"GET {target.version_path} at session start: {exc.__class__.__name__}: {exc}"
            breaker.request_failed(
                None, "", redact_text(error, target.secret_values())[:300], proves=False
            )
        return None
    except requests.RequestException:
        return None
    if breaker is not None:
        breaker.answered()
    try:
        data = response.json() if response.status_code == 200 else None
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    return redact_value(data, target.secret_values())


class VersionFetch:
    """:func:`fetch_version` in a background thread, started at activation.

    The version is provenance, wanted by the verdict and the reports at the end, not by the
    tests: a target that hangs on its version path need not hold the first test back for the
    read's timeout. :meth:`result` waits for the answer (bounded by the read's own timeouts).
    """

    def __init__(self, target: Target, *, timeout: float, breaker: Breaker | None = None) -> None:
        self._result: dict[str, Any] | None = None
        # connect + read timeouts, each at most ``timeout``, plus a margin
        self._bound = 2 * timeout + 1.0
        self._thread = threading.Thread(
            target=self._fetch,
            args=(target, timeout, breaker),
            name="deployverify-version",
            daemon=True,
        )
        self._thread.start()

    def _fetch(self, target: Target, timeout: float, breaker: Breaker | None) -> None:
        self._result = fetch_version(target, timeout=timeout, breaker=breaker)

    def done(self) -> bool:
        return not self._thread.is_alive()

    def result(self) -> dict[str, Any] | None:
        """The version document (None when there is none or it did not answer in time)."""
        self._thread.join(self._bound)
        return self._result


def _short_reason(exc: Exception) -> str:
    text = str(exc)
    for marker in ("Connection refused", "timed out", "Name or service not known", "No route"):
        if marker in text:
            return marker
    return text[:200]
