"""What both stand-ins share: settings from the environment, faults, auth, latency, JSON logs.

Each stand-in is configured only from environment variables (the launcher passes them), so
a stand-in process and the real service it replaces are interchangeable behind a URL.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # FastAPI is imported lazily by the apps themselves
    from fastapi import FastAPI, Request, Response

CORRELATION_HEADER = "X-Correlation-ID"
DEFAULT_LATENCY_MS = 20.0
LOGGER_PREFIX = "docservice.standins"
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")


#: Per-component standard deviation of the embeddings noise with `DOCSERVICE_STANDIN_JITTER=on`:
#: real embedding APIs differ between calls from about the fifth decimal of a component on
#: (docs/standins.md), a cosine distance near 2e-6 for 1536 dimensions.
DEFAULT_JITTER = 5e-5
MAX_JITTER = 0.1


class StandinConfigError(ValueError):
    """A stand-in environment variable has a value it cannot use."""


def parse_faults(raw: str | None) -> dict[str, str]:
    """Parse `DOCSERVICE_FAULTS` ("name[=value],...") into {name: value}; flags get "1".

    Unknown names are kept (other components own them); the stand-ins read only theirs.
    """
    faults: dict[str, str] = {}
    for item in (raw or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, sep, value = item.partition("=")
        faults[name.strip()] = value.strip() if sep else "1"
    return faults


def utc_now_iso() -> str:
    """Current UTC time as ISO 8601 with microseconds and Z (the repository's one format)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_jitter(raw: str | None) -> float:
    """`DOCSERVICE_STANDIN_JITTER`: off (unset, `0`, `off`, `false`), on (`1`, `on`, `true`:
    DEFAULT_JITTER), or the per-component noise as a number in (0, 0.1], e.g. `2e-4`."""
    value = (raw or "").strip().lower()
    if value in ("", "0", "off", "false", "no"):
        return 0.0
    if value in ("1", "on", "true", "yes"):
        return DEFAULT_JITTER
    try:
        sigma = float(value)
    except ValueError:
        sigma = math.nan
    if not (math.isfinite(sigma) and 0 < sigma <= MAX_JITTER):
        raise StandinConfigError(
            f"DOCSERVICE_STANDIN_JITTER={raw!r} must be on, off or a noise level in "
            f"(0, {MAX_JITTER:g}], e.g. {DEFAULT_JITTER:g}"
        )
    return sigma


def _float_env(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < minimum:
        raise StandinConfigError(
            f"{name}={raw!r} is not a number >= {minimum:g}; set it to e.g. {default:g} or unset it"
        )
    return value


@dataclass(frozen=True)
class StandinSettings:
    """Settings shared by both stand-ins, read once when the app is created."""

    api_key: str | None = field(default=None, repr=False)  # never printed or logged
    latency_ms: float = DEFAULT_LATENCY_MS
    slow_factor: float = 1.0
    parser_mock: bool = False
    faults: dict[str, str] = field(default_factory=dict)
    #: 0.0: deterministic outputs; else the real services' run-to-run variability (embedding
    #: float noise of this standard deviation, parser whitespace)
    jitter: float = 0.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StandinSettings:
        """Read `DOCSERVICE_STANDIN_API_KEY`, `..._LATENCY_MS`, `..._JITTER`, `DOCSERVICE_FAULTS`."""
        env = os.environ if environ is None else environ
        faults = parse_faults(env.get("DOCSERVICE_FAULTS"))
        slow = 1.0
        if "slow" in faults:
            try:
                slow = float(faults["slow"])
            except ValueError:
                slow = math.nan
            if not math.isfinite(slow) or slow <= 0:
                raise StandinConfigError(
                    f"DOCSERVICE_FAULTS has slow={faults['slow']!r}; the factor must be a "
                    "positive number, e.g. slow=3"
                )
        return cls(
            api_key=env.get("DOCSERVICE_STANDIN_API_KEY") or None,
            latency_ms=_float_env(env, "DOCSERVICE_STANDIN_LATENCY_MS", DEFAULT_LATENCY_MS, 0.0),
            slow_factor=slow,
            parser_mock="parser_mock" in faults,
            faults=faults,
            jitter=parse_jitter(env.get("DOCSERVICE_STANDIN_JITTER")),
        )

    def delay_s(self, units: float = 1.0) -> float:
        """Seconds to wait for `units` of base latency, with the `slow` fault applied."""
        return self.latency_ms * self.slow_factor * units / 1000.0

    def key_matches(self, authorization: str | None) -> bool:
        """True when no key is configured, or the header is `Bearer <the key>`."""
        if self.api_key is None:
            return True
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(token.strip().encode(), self.api_key.encode())


def log_event(
    logger: logging.Logger, event: str, *, correlation_id: str | None, **fields: Any
) -> None:
    """Emit one JSON log line (None as correlation_id when the caller sent none).

    Same keys as docservice's own JSON logs (ts, level, service, logger, msg,
    correlation_id), plus `event` and the fields, so one parser reads every process's log.
    """
    record = {
        "ts": utc_now_iso(),
        "level": "INFO",
        "service": f"standin-{logger.name.rsplit('.', 1)[-1]}",
        "logger": logger.name,
        "msg": event,
        "correlation_id": correlation_id,
        "event": event,
        **fields,
    }
    logger.info(json.dumps(record, default=str, separators=(",", ":")))


def configure_json_logging(service: str) -> logging.Logger:
    """Send this stand-in's log lines, already JSON, to stderr one per line."""
    logger = logging.getLogger(f"{LOGGER_PREFIX}.{service}")
    if not any(getattr(h, "_standin_json", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._standin_json = True  # type: ignore[attr-defined]
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def correlation_id_of(request: Request) -> str | None:
    """The X-Correlation-ID the caller sent, else a W3C traceparent trace-id, else None.

    Values outside `[A-Za-z0-9._:-]{1,128}` are not trusted (same rule as docservice), so
    they can never reach a log line or a response header. A stand-in never invents one: a missing ID shows up as null in its log, which is how a
    dropped correlation ID upstream becomes visible.
    """
    cid = (request.headers.get(CORRELATION_HEADER) or "").strip()
    if _SAFE_ID.match(cid):
        return cid
    match = _TRACEPARENT.match(request.headers.get("traceparent", "").strip().lower())
    if match and match.group(1) != "0" * 32:
        return match.group(1)
    return None


def install_common(
    app: FastAPI,
    settings: StandinSettings,
    logger: logging.Logger,
    unauthorized: Callable[[], Response],
    open_paths: frozenset[str] = frozenset({"/health"}),
) -> None:
    """Add the middleware both stand-ins share: auth, latency, correlation echo, JSON log.

    `/health` is neither authenticated nor delayed, so readiness probes stay cheap.
    """

    @app.middleware("http")
    async def _common(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        cid = correlation_id_of(request)
        request.state.correlation_id = cid
        path = request.url.path
        if path in open_paths:
            response = await call_next(request)
        elif not settings.key_matches(request.headers.get("authorization")):
            response = unauthorized()
        else:
            delay = settings.delay_s()
            if delay > 0:
                await asyncio.sleep(delay)
            response = await call_next(request)
        if cid:
            response.headers[CORRELATION_HEADER] = cid
        if path not in open_paths:
            log_event(
                logger,
                "request",
                correlation_id=cid,
                method=request.method,
                path=path,
                status=response.status_code,
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
            )
        return response
