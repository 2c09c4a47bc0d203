"""``ApiClient``: a correlation-tagged requests Session bound to one target.

Every request carries the test's correlation ID (``X-Correlation-ID`` and a W3C
``traceparent`` by default, see ``[tool.deployverify.correlation]``), the target's auth header
and (connect, read) timeouts. Idempotent requests are retried, boundedly, on connection errors;
429 (and 503 with ``Retry-After``) are retried honouring ``Retry-After`` up to a cap. Every
exchange is recorded, redacted, as an :class:`~pytest_deployverify.evidence.Exchange`, and a
response that does not echo the correlation ID becomes a ``correlation`` finding.

Works without a test too (``evidence=None``): the rollback re-check and the probe use it.
"""

from __future__ import annotations

import email.utils
import re
import threading
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
import requests.adapters

from pytest_deployverify.config import Target
from pytest_deployverify.correlation_ids import new_correlation_id, span_id, trace_id_for
from pytest_deployverify.evidence import Exchange, Finding, TestEvidence
from pytest_deployverify.failfast import TARGET, Breaker
from pytest_deployverify.fieldcoverage import Observer
from pytest_deployverify.redact import redact_text, redact_url
from pytest_deployverify.replay import SentRequest

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})
#: exchanges kept per test; a runaway poll loop must not make evidence unbounded
MAX_EXCHANGES = 2000


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP-date), None if absent."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - datetime.now(timezone.utc)).total_seconds())


class RequestMirror(Protocol):
    """Sends what the client sent to another deployment as well (``reference.Mirror``)."""

    def prepare(self, kwargs: dict[str, Any]) -> dict[str, Any]: ...

    def mirror(
        self, method: str, path: str, kwargs: dict[str, Any], response: requests.Response
    ) -> None: ...


class ForeignURLError(ValueError):
    """An absolute URL to another host: the client only talks to its target."""


class ApiClient:
    """A requests Session bound to ``target``; see the module docstring.

    ``request(method, path, ...)`` takes a path relative to the target's base URL (an absolute
    URL is accepted only for the target's own scheme, host and port) and requests' usual
    keyword arguments. ``retry=False`` turns off all retries for one call; ``check_echo=False``
    skips the correlation echo check.

    ``pool``: a connection pool (an ``HTTPAdapter``) shared with other clients, mounted on this
    client's own session for the target's origin and left open when the client closes. The
    plugin passes one per process to every test's ``api``: a new session per test keeps
    cookies and headers apart, but a new connection per test cost a TLS handshake and, in
    urllib3, a fresh load of the CA bundle (benchmarks/connection_pool.py: 54.6 ms of CPU per
    test with a pool per test, 8.1 ms with the shared one).
    """

    def __init__(
        self,
        target: Target,
        *,
        correlation_id: str | None = None,
        evidence: TestEvidence | None = None,
        session: requests.Session | None = None,
        pool: requests.adapters.HTTPAdapter | None = None,
        max_retries: int = 3,
        retry_after_cap: float = 5.0,
        retry_budget: float = 15.0,
        observer: Observer | None = None,
        breaker: Breaker | None = None,
        mirror: RequestMirror | None = None,
    ) -> None:
        self.target = target
        #: the reference comparison: told about every final answer (``--reference-url``)
        self.mirror = mirror
        #: fail fast: told about every answer and every connection error or timeout
        self.breaker = breaker
        #: told about every request and final response (field coverage, response mutation)
        self.observer = observer
        self.correlation_id = correlation_id or new_correlation_id()
        self.evidence = evidence
        self._base = urlsplit(target.base_url)
        self._base_url = target.base_url.rstrip("/")
        #: what ``verify=True`` means for this client (a CA bundle from the environment or True)
        self._env_verify: str | bool = True
        #: the prefix ``pool`` is mounted at on this client's own session (None: no pool)
        self._pool_prefix: str | None = None
        if session is None:
            session = requests.Session()
            self._adopt_environment(session)
            if pool is not None:
                self._pool_prefix = f"{self._base.scheme}://{self._base.netloc}"
                session.mount(self._pool_prefix, pool)
        self.session = session
        self.max_retries = max_retries
        self.retry_after_cap = retry_after_cap
        self.retry_budget = retry_budget
        #: every exchange this client made (also appended to the evidence when there is one)
        self.exchanges: list[Exchange] = []
        #: correlation findings this client raised
        self.findings: list[Finding] = []
        self._lock = threading.Lock()
        self._secrets = target.secret_values()
        corr = target.correlation
        self._corr_headers = (corr.header, *corr.extra_headers)
        self._traceparent = corr.traceparent
        self._echo_header = corr.echo_name
        self._echo_policy = corr.echo
        self._static_headers = target.auth_headers()
        # the per-request header dict is a copy of this template, in the order the correlation
        # headers, traceparent (its slot, filled per request), then auth go on the wire
        template = dict.fromkeys(self._corr_headers, self.correlation_id)
        if self._traceparent:
            template["traceparent"] = ""
        template.update(self._static_headers)
        self._header_template = template
        #: (epoch second, its formatted "YYYY-mm-ddTHH:MM:SS"): exchanges come in bursts
        self._second: tuple[int, str] = (-1, "")
        self._seen_echo_failures: dict[tuple[str, str], Finding] = {}
        self._trace_id = trace_id_for(self.correlation_id)
        self._shown: dict[str, str] = {}
        #: what the last request put on the wire (for its replay; see :mod:`replay`)
        self.last_sent: SentRequest | None = None
        if evidence is not None:
            evidence.add_correlation_id(self.correlation_id)

    # ------------------------------------------------------------ plumbing

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool_prefix is not None:
            # the shared pool stays open for the clients after this one
            self.session.adapters.pop(self._pool_prefix, None)
        self.session.close()

    def _adopt_environment(self, session: requests.Session) -> None:
        """Resolve once what requests would re-read from the environment on every call.

        With ``trust_env`` a Session scans ``os.environ`` for proxies and ``no_proxy`` twice and
        looks for a netrc file on every request (~100 us here, more than this client's own
        work). The client only talks to its target's origin, so the answer is the same for
        every request: it is computed here, stored on the client's own session, and
        ``trust_env`` is turned off. (A session passed in by the caller is left alone.) An
        environment changed after the client was made is not seen by it.
        """
        from requests.utils import get_netrc_auth

        origin = self._base_url + "/"
        env = session.merge_environment_settings(origin, {}, None, None, None)
        session.proxies.update(env.get("proxies") or {})
        bundle = env.get("verify")
        self._env_verify = bundle if isinstance(bundle, str) else True
        # netrc credentials only for a target without an Authorization of its own: requests
        # would put them over the target's bearer token (a developer's ~/.netrc entry for an
        # internal host turned every request into a 401)
        if session.auth is None and not self.target.sends_authorization:
            session.auth = get_netrc_auth(origin)
        session.trust_env = False

    @property
    def base_url(self) -> str:
        return self._base_url

    def url(self, path: str) -> str:
        """The absolute URL for ``path``; refuses absolute URLs to other hosts."""
        if "://" in path:
            parts = urlsplit(path)
            if (parts.scheme, parts.netloc) != (self._base.scheme, self._base.netloc):
                raise ForeignURLError(
                    f"refusing {redact_url(path, self._secrets)}: the client only talks to its "
                    f"target {self._base.scheme}://{self._base.netloc}"
                )
            return path
        return self._base_url + "/" + path.lstrip("/")

    def correlation_headers(self) -> dict[str, str]:
        """The headers that carry this client's correlation ID on one request."""
        headers = dict.fromkeys(self._corr_headers, self.correlation_id)
        if self._traceparent:
            # same trace, a new parent (span) id per request
            headers["traceparent"] = f"00-{self._trace_id}-{span_id()}-01"
        return headers

    # ------------------------------------------------------------ requests

    def request(
        self,
        method: str,
        path: str,
        *,
        retry: bool = True,
        check_echo: bool = True,
        file_paths: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> requests.Response:
        """Send one request (with bounded retries); return the final response.

        ``file_paths``: form field -> the path on disk an uploaded file part was read from
        (for its replay command, when ``files`` holds bytes rather than an open file)."""
        method = method.upper()
        mirrored: dict[str, Any] = {}
        if self.mirror is not None:
            kwargs = self.mirror.prepare(kwargs)
            mirrored = dict(kwargs)
        if self.breaker is not None:
            self.breaker.check(TARGET, self.evidence.nodeid if self.evidence else "")
        url = self.url(path)
        if self.observer is not None:
            url = self.observer.sending(method, url)
        headers = self._header_template.copy()
        if self._traceparent:
            # same trace, a new parent (span) id per request
            headers["traceparent"] = f"00-{self._trace_id}-{span_id()}-01"
        extra = kwargs.pop("headers", None)
        if extra:
            headers.update(extra)
        kwargs.setdefault("timeout", self.target.timeout)
        verify = kwargs.get("verify", self.target.verify)
        # the environment's CA bundle (REQUESTS_CA_BUNDLE), as requests itself would apply it
        kwargs["verify"] = self._env_verify if verify is True else verify
        kwargs.setdefault("allow_redirects", False)
        full_url = url
        if kwargs.get("params"):
            prepared = requests.models.PreparedRequest()
            prepared.prepare_url(url, kwargs["params"])
            full_url = prepared.url or url
        shown_path = self._shown_path(full_url)
        sent = self.last_sent = SentRequest(
            method,
            full_url,
            headers,
            kwargs.get("json"),
            kwargs.get("data"),
            kwargs.get("files"),
            file_paths or {},
        )
        idempotent = method in IDEMPOTENT
        budget_end = time.monotonic() + self.retry_budget
        attempt = 1
        while True:
            started_ns = time.time_ns()
            t0 = time.perf_counter()
            try:
                response = self.session.request(method, url, headers=headers, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                latency = (time.perf_counter() - t0) * 1000.0
                message = redact_text(f"{exc.__class__.__name__}: {exc}", self._secrets)
                self._record(
                    Exchange(
                        method=method,
                        path=shown_path,
                        status=None,
                        latency_ms=round(latency, 3),
                        correlation_id=self.correlation_id,
                        request_bytes=_body_size(kwargs),
                        started_at=self._iso(started_ns),
                        error=message[:500],
                        attempt=attempt,
                    ),
                    sent,
                )
                proven = False
                if self.breaker is not None:
                    self.breaker.request_failed(self.evidence, self.correlation_id, message[:300])
                    proven = self.breaker.blocking(TARGET) is not None
                # a read timeout on a POST may have been processed: only idempotent requests
                # are sent again
                if (
                    not proven
                    and retry
                    and idempotent
                    and attempt <= self.max_retries
                    and time.monotonic() < budget_end
                ):
                    time.sleep(min(0.05 * 2 ** (attempt - 1), 1.0))
                    attempt += 1
                    continue
                raise type(exc)(message) from None
            latency = (time.perf_counter() - t0) * 1000.0
            if self.breaker is not None:
                self.breaker.answered()
            self._record(
                Exchange(
                    method=method,
                    path=shown_path,
                    status=response.status_code,
                    latency_ms=round(latency, 3),
                    correlation_id=self.correlation_id,
                    request_bytes=_request_size(response),
                    response_bytes=len(response.content),
                    started_at=self._iso(started_ns),
                    attempt=attempt,
                ),
                sent,
            )
            wait = self._retry_wait(response, idempotent) if retry else None
            if (
                wait is not None
                and attempt <= self.max_retries
                and time.monotonic() + wait < budget_end
            ):
                time.sleep(wait)
                attempt += 1
                continue
            if self.observer is not None:
                # first: in a mutation run every check below sees what the client received
                self.observer.received(method, shown_path, response)
            if check_echo and self._echo_policy != "off":
                self._check_echo(method, shown_path, response)
            if self.mirror is not None:
                self.mirror.mirror(method, path, mirrored, response)
            return response

    def _retry_wait(self, response: requests.Response, idempotent: bool) -> float | None:
        """Seconds to wait before sending again, or None when the response is final."""
        status = response.status_code
        if status not in (429, 503):
            return None
        after = parse_retry_after(response.headers.get("Retry-After"))
        if status == 503 and (after is None or not idempotent):
            # a 503 without Retry-After is an answer (e.g. /health degraded), not a back-off
            return None
        # 429 means "not processed", so even a POST may be sent again
        return min(after if after is not None else 0.1, self.retry_after_cap)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    def head(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("HEAD", path, **kwargs)

    # ------------------------------------------------------------ evidence

    def _shown_path(self, url: str) -> str:
        """The redacted path (and query) the exchange log shows; cached per URL because
        polling asks for the same few URLs many times."""
        shown = self._shown.get(url)
        if shown is None:
            shown = self._redacted_path(url)
            if len(self._shown) < 256:
                self._shown[url] = shown
        return shown

    def _redacted_path(self, url: str) -> str:
        parts = urlsplit(url)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
            return redact_url(path, self._secrets)
        return redact_text(path, self._secrets) if self._secrets else path

    def _iso(self, epoch_ns: int) -> str:
        """``epoch_ns`` as ``2024-05-01T12:00:00.123456Z`` (UTC, microseconds, the Exchange
        form); the seconds part is formatted once per second, not per request."""
        second, ns = divmod(epoch_ns, 1_000_000_000)
        cached = self._second  # one read: another thread may replace it
        if cached[0] != second:
            cached = self._second = (second, _iso(second)[:19])
        return f"{cached[1]}.{ns // 1000:06d}Z"

    def _record(self, exchange: Exchange, sent: SentRequest) -> None:
        with self._lock:
            if len(self.exchanges) < MAX_EXCHANGES:
                self.exchanges.append(exchange)
            if self.evidence is not None and len(self.evidence.exchanges) < MAX_EXCHANGES:
                self.evidence.exchanges.append(exchange)
                self.evidence.sent[id(exchange)] = sent

    def _check_echo(self, method: str, path: str, response: requests.Response) -> None:
        echoed = response.headers.get(self._echo_header)
        if echoed == self.correlation_id:
            return
        route = _route_of(path)
        with self._lock:
            known = self._seen_echo_failures.get((method, route))
            if known is not None:
                # one finding per route and test, counting the repeats
                known.observed["count"] += 1
                return
            # echo = "record" keeps the evidence in the report but never fails the verdict
            recording = self._echo_policy == "record"
            finding = Finding(
                check="correlation-echo",
                outcome="pass" if recording else "fail",
                rule=f"every response echoes the request's {self._echo_header}"
                + (
                    " (recorded only: [tool.deployverify.correlation] echo = 'record')"
                    if recording
                    else ""
                ),
                observed={"echoed": echoed, "status": response.status_code, "count": 1},
                expected=self.correlation_id,
                path=f"{method} {path}",
                message=(
                    f"{method} {path} answered {response.status_code} "
                    + (
                        f"without a {self._echo_header} header"
                        if echoed is None
                        else f"with {self._echo_header}: {echoed!r}"
                    )
                    + f"; sent {self.correlation_id}"
                    + ("; recorded, not judged" if recording else "")
                ),
                correlation_ids=[self.correlation_id],
                kind="correlation",
                nodeid=self.evidence.nodeid if self.evidence is not None else "",
            )
            self._seen_echo_failures[(method, route)] = finding
            self.findings.append(finding)
            if self.evidence is not None:
                self.evidence.findings.append(finding)


_ID_SEGMENT = re.compile(r"/[0-9a-fA-F-]{16,}(?=/|$)|/\d+(?=/|$)")


def _route_of(path: str) -> str:
    """``/api/v2/jobs/<uuid>/events`` -> ``/api/v2/jobs/{id}/events`` for de-duplication."""
    return _ID_SEGMENT.sub("/{id}", path.split("?", 1)[0])


def _iso(epoch: float) -> str:
    when = datetime.fromtimestamp(epoch, timezone.utc)
    return f"{when:%Y-%m-%dT%H:%M:%S}.{when.microsecond:06d}Z"


def _request_size(response: requests.Response) -> int:
    body = response.request.body if response.request is not None else None
    if body is None:
        return 0
    if isinstance(body, (bytes, str)):
        return len(body)
    return 0


def _body_size(kwargs: Mapping[str, Any]) -> int:
    for key in ("data", "json"):
        value = kwargs.get(key)
        if isinstance(value, (bytes, str)):
            return len(value)
    return 0
