"""Before any test: is the target up (``probe``), and which version is it (``fetch_version``,
or :class:`VersionFetch` to read it while the tests start)?

Both send one plain GET with the standard library's ``urllib``, not an ``ApiClient``: no
test, correlation ID or evidence exists yet, and a probe must not be retried or recorded like
a test's request. Not requests either: importing it costs a run more CPU than a thousand
small tests' own work (ADR 40), and a run whose tests never use the ``api`` fixture would pay
it for two requests. The GET sees the target as the tests' client does: the same connect and
read timeouts, the environment's proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``,
``NO_PROXY``), the same TLS verification (``verify_tls``, ``ca_bundle``, else
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``, else certifi's bundle), no redirect followed, and
``~/.netrc`` credentials for a version path that needs them.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pytest_deployverify.config import Target
from pytest_deployverify.failfast import Breaker
from pytest_deployverify.redact import redact_text, redact_value

if TYPE_CHECKING:
    import ssl

#: the most of a version document read (it is a few hundred bytes; a target that streams
#: something else there must not fill the memory)
VERSION_LIMIT = 1 << 20


class ProbeError(Exception):
    """The GET got no HTTP answer; ``kind`` is ``ConnectionError``, ``Timeout`` or ``TLS``."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(f"{kind}: {reason}")
        self.kind = kind
        self.reason = reason


def probe(target: Target, *, timeout: float) -> str | None:
    """GET the target's health path within ``timeout`` seconds in total.

    Returns None when the target answered (any HTTP status: a degraded 503 is for the tests to
    judge), else a one-line reason (redacted). Connection errors are retried until the time is
    up, so a deployment that is still binding its port gets a chance.
    """
    url = target.base_url.rstrip("/") + "/" + target.health_path.lstrip("/")
    deadline = time.monotonic() + timeout
    last = "no attempt"
    try:
        tls = _tls(target)
    except ProbeError as exc:
        return redact_text(f"TLS error: {exc.reason}", target.secret_values())
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return redact_text(last, target.secret_values())
        try:
            _get(url, {}, target, tls, left, limit=0)
            return None
        except ProbeError as exc:
            if exc.kind == "TLS":
                return redact_text(f"TLS error: {exc.reason}", target.secret_values())
            last = str(exc)
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
    headers = dict(target.auth_headers())
    try:
        tls = _tls(target)
        if not target.sends_authorization:
            headers.update(_netrc_authorization(url))
        status, body = _get(url, headers, target, tls, timeout, limit=VERSION_LIMIT)
    except ProbeError as exc:
        if breaker is not None and exc.kind != "TLS":
            error = f"GET {target.version_path} at session start: {exc}"
            breaker.request_failed(
                None, "", redact_text(error, target.secret_values())[:300], proves=False
            )
        return None
    if breaker is not None:
        breaker.answered()
    if status != 200:
        return None
    import json

    try:
        data = json.loads(body)
    except ValueError:  # not JSON, or not UTF-8
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


# ---------------------------------------------------------------- one GET


def _tls(target: Target) -> ssl.SSLContext | None:
    """The TLS context for ``target`` (None over plain HTTP: a context reads its CA bundle)."""
    if not target.base_url.startswith("https:"):
        return None
    try:
        return _tls_context(target.verify)
    except OSError as exc:  # an unreadable bundle from the environment
        raise ProbeError("TLS", f"cannot read the CA bundle: {exc}") from None


def _get(
    url: str,
    headers: dict[str, str],
    target: Target,
    tls: ssl.SSLContext | None,
    within: float,
    *,
    limit: int,
) -> tuple[int, bytes]:
    """One GET of ``url``: its status and up to ``limit`` bytes of its body. Any HTTP status
    is an answer; no answer raises :class:`ProbeError`.

    The connect timeout is ``min(within, target.connect_timeout)`` and each read's is
    ``min(within, target.read_timeout)``, as requests' ``timeout=(connect, read)``.
    """
    read_timeout = min(within, target.read_timeout)
    handlers: list[urllib.request.BaseHandler] = [
        urllib.request.ProxyHandler(_proxies(url)),
        _HTTPHandler(read_timeout),
        _NoRedirect(),
    ]
    if tls is not None:
        handlers.append(_HTTPSHandler(read_timeout, tls))
    opener = urllib.request.build_opener(*handlers)
    request = urllib.request.Request(url, headers=headers, method="GET")
    try:
        with opener.open(request, timeout=min(within, target.connect_timeout)) as response:
            return response.status, response.read(limit) if limit else b""
    except urllib.error.HTTPError as exc:  # an HTTP status: the target answered
        with exc:
            return exc.code, exc.read(limit) if limit else b""
    except urllib.error.URLError as exc:
        raise _no_answer(exc.reason) from None
    except (OSError, http.client.HTTPException) as exc:
        raise _no_answer(exc) from None


def _proxies(url: str) -> dict[str, str]:
    """The environment's proxies (``ProxyHandler`` applies ``NO_PROXY`` itself), with
    ``ALL_PROXY`` for a scheme that has none of its own, as requests reads them."""
    proxies = urllib.request.getproxies()
    scheme = url.split(":", 1)[0]
    if "all" in proxies:
        proxies.setdefault(scheme, proxies["all"])
    return proxies


def _no_answer(reason: object) -> ProbeError:
    import ssl

    if isinstance(reason, ssl.SSLError):
        return ProbeError("TLS", str(reason)[:200])
    if isinstance(reason, TimeoutError):
        return ProbeError("Timeout", "timed out")
    return ProbeError("ConnectionError", _short_reason(str(reason)))


def _short_reason(text: str) -> str:
    for marker in ("Connection refused", "timed out", "Name or service not known", "No route"):
        if marker in text:
            return marker
    return text[:200] or "connection closed without a response"


class _TimedHTTPConnection(http.client.HTTPConnection):
    """Connects within ``timeout`` (through a proxy's tunnel too, and over TLS with its
    handshake), then reads within ``read_timeout``."""

    def __init__(self, host: str, /, *, read_timeout: float = 15.0, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self.read_timeout = read_timeout

    def connect(self) -> None:
        super().connect()
        self.sock.settimeout(self.read_timeout)


class _TimedHTTPSConnection(_TimedHTTPConnection, http.client.HTTPSConnection):
    pass


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, read_timeout: float) -> None:
        super().__init__()
        self.read_timeout = read_timeout

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(_TimedHTTPConnection, req, read_timeout=self.read_timeout)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, read_timeout: float, tls: ssl.SSLContext) -> None:
        super().__init__(context=tls)
        self.read_timeout = read_timeout
        self.tls = tls

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(
            _TimedHTTPSConnection, req, context=self.tls, read_timeout=self.read_timeout
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer (its 3xx status), never followed."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def _tls_context(verify: bool | str) -> ssl.SSLContext:
    """What requests' ``verify`` means: False checks nothing, a path is the CA bundle to trust,
    True is ``REQUESTS_CA_BUNDLE``, ``CURL_CA_BUNDLE`` or certifi's bundle.

    Loading a bundle is the dearest part of a GET here (certifi's: about 200 million
    instructions, more than the rest of the probe), and the probe and the version read both
    need one: the last context is kept and shared while its bundle file is unchanged.
    """
    import os
    import ssl

    if verify is False:
        # nothing is verified, so no trust store is loaded (create_default_context would load
        # the system's)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    bundle = verify if isinstance(verify, str) else _default_bundle(os.environ)
    if bundle is None:
        key: tuple[str | None, int, int] = (None, 0, 0)
    else:
        status = os.stat(bundle)
        key = (bundle, status.st_mtime_ns, status.st_size)
    with _CONTEXT_LOCK:
        kept = _last_context.get(key)
        if kept is not None:
            return kept
        if bundle is None:
            context = ssl.create_default_context()
        elif os.path.isdir(bundle):
            context = ssl.create_default_context(capath=bundle)
        else:
            context = ssl.create_default_context(cafile=bundle)
        _last_context.clear()
        _last_context[key] = context
        return context


#: the bundle's (path, mtime, size) -> the context loaded from it, one at most: see
#: ``_tls_context``
_last_context: dict[tuple[str | None, int, int], ssl.SSLContext] = {}
_CONTEXT_LOCK = threading.Lock()


def _default_bundle(environ: Mapping[str, str]) -> str | None:
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        if environ.get(name):
            return str(environ[name])
    try:
        import certifi
    except ImportError:  # the system's trust store
        return None
    return str(certifi.where())


def _netrc_authorization(url: str) -> dict[str, str]:
    """Basic credentials from ``NETRC`` or ``~/.netrc`` for ``url``'s host, as requests sends
    them when the target has no auth header of its own; nothing when there are none."""
    import os

    path = os.environ.get("NETRC") or os.path.expanduser("~/.netrc")
    if not os.path.isfile(path):
        return {}
    import base64
    import netrc
    import urllib.parse

    try:
        found = netrc.netrc(path).authenticators(urllib.parse.urlsplit(url).hostname or "")
    except (netrc.NetrcParseError, OSError):
        return {}
    if not found:
        return {}
    login, _, password = found
    token = base64.b64encode(f"{login}:{password or ''}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}
