"""User-facing latency: the client-side time of every request, per route template.

Every request the ``api`` client and ``upload_document`` make is already an ``Exchange`` in the
test's evidence (latency measured around the HTTP call, each retry attempt its own exchange).
This module groups those that got an answer by route template (method + path with IDs replaced,
:func:`fieldcoverage.route_of`, the same templates field coverage reports) so the ``timings``
fixture can judge them without sending a single extra request.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence

from pytest_deployverify.evidence import Exchange
from pytest_deployverify.fieldcoverage import route_of


def by_route(
    exchanges: Iterable[Exchange], routes: Sequence[str] | None = None
) -> dict[str, list[float]]:
    """Route template -> seconds of each answered request, in the order they were made.

    ``routes``: only templates matching one of these fnmatch patterns (e.g.
    ``"POST /api/v2/upload"``, ``"GET /api/v2/jobs/*"``); None keeps every route. A request
    that got no answer (connection error, timeout) has no latency to judge and is left out:
    the error itself fails the test.
    """
    out: dict[str, list[float]] = {}
    for exchange in exchanges:
        if exchange.status is None:
            continue
        route = route_of(exchange.method, exchange.path)
        if routes is not None and not any(fnmatch.fnmatchcase(route, p) for p in routes):
            continue
        out.setdefault(route, []).append(exchange.latency_ms / 1000.0)
    return out
