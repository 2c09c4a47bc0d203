"""Which requests of a test get a replay command, attached to its evidence at teardown.

Only a test that did not pass (failed, errored, or holding a failed check) gets replays:

* every failed request (no answer, or an HTTP status of 400 or more) the test made, one per
  distinct method, path and status, at most :data:`MAX_REPLAYS`; in the teardown only the
  ones with no answer or a 5xx (a clean-up's 404 means "already gone");
* every failed check: the replay of the request it names (a ``"METHOD /path"`` path), else
  of the last request carrying its correlation ID before the teardown;
* a failed test with neither: the last request it made before its teardown.

A request on a document the test has since deleted (its clean-up, or a DELETE it sent) is
replayed after the upload that created it (:func:`replay.command` with ``upload=``).
The in-memory request records (:attr:`TestEvidence.sent`) are dropped here in every case:
they hold bodies and the auth header and must not outlive the test.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from pytest_deployverify.config import Target
from pytest_deployverify.evidence import Exchange, Finding, TestEvidence

if TYPE_CHECKING:  # a test that sent requests has loaded it (the client did)
    from pytest_deployverify.replay import ReplaySettings, SentRequest

#: replays of failed requests kept per test (a poll loop may fail the same way 100 times)
MAX_REPLAYS = 5
#: the variable a replay names when the target does not say where its secret came from
FALLBACK_VARIABLE = "DEPLOYVERIFY_API_TOKEN"
_FAILED_CHECK = ("fail", "error")


def settings_for(target: Target) -> ReplaySettings:
    """Where the target's auth comes from, its secrets and a time bound, for replays."""
    from pytest_deployverify.replay import AuthReference, ReplaySettings

    auth = None
    headers = target.auth_headers()
    if target.auth is not None:
        source = target.secret_source(target.auth.secret_name)
        variable, env_file = source if source is not None else (FALLBACK_VARIABLE, "")
        auth = AuthReference(
            kind=target.auth.kind, header=target.auth.header, variable=variable, env_file=env_file
        )
    return ReplaySettings(
        auth=auth,
        auth_headers=frozenset(h.lower() for h in headers),
        secrets=tuple(target.secret_values()),
        max_time=math.ceil(target.connect_timeout + target.read_timeout),
    )


def attach(evidence: TestEvidence, target: Target | None) -> None:
    """Add the replays this test's failures call for (see the module docstring)."""
    if not evidence.sent:
        return  # the test sent nothing (most tests): nothing to replay
    from pytest_deployverify.replay import command

    sent, evidence.sent = evidence.sent, {}
    failed_checks = [f for f in evidence.findings if f.outcome in _FAILED_CHECK]
    failed_test = evidence.outcome in ("failed", "error")
    if target is None or not sent or not (failed_test or failed_checks):
        return
    settings = settings_for(target)
    recorded = [x for x in evidence.exchanges if id(x) in sent]
    boundary = evidence.exchanges_before_teardown
    in_test = {id(x) for x in evidence.exchanges[:boundary]} if boundary is not None else None
    before = [x for x in recorded if in_test is None or id(x) in in_test]
    deleted = _deleted_ids(evidence, recorded)
    uploads = [s for s in sent.values() if s.created]

    def replay(exchange: Exchange) -> str:
        request = sent[id(exchange)]
        return command(request, settings, upload=_upload_of(request, uploads, deleted))

    seen: set[tuple[str, str, int | None]] = set()
    for x in recorded:
        if len(evidence.replays) >= MAX_REPLAYS:
            break
        key = (x.method, x.path, x.status)
        if key in seen or not _failed(x, teardown=in_test is not None and id(x) not in in_test):
            continue
        seen.add(key)
        evidence.replays.append(
            {
                "request": f"{x.method} {x.path}",
                "status": x.status,
                "reason": f"answered {x.status}" if x.status is not None else "no answer",
                "command": replay(x),
            }
        )
    for finding in failed_checks:
        exchange = _exchange_for(finding, before)
        if exchange is not None:
            finding.replay = replay(exchange)
    if failed_test and not evidence.replays and before:
        last = before[-1]
        evidence.replays.append(
            {
                "request": f"{last.method} {last.path}",
                "status": last.status,
                "reason": "the last request before the failure",
                "command": replay(last),
            }
        )


def _failed(exchange: Exchange, *, teardown: bool) -> bool:
    if exchange.status is None:
        return True
    return exchange.status >= (500 if teardown else 400)


def _exchange_for(finding: Finding, before: list[Exchange]) -> Exchange | None:
    """The request a failed check is about: the one its path names, else the last one with
    its correlation ID (or the last one at all)."""
    method, _, path = (finding.path or "").partition(" ")
    named = [x for x in before if x.method == method and x.path == path]
    if named:
        return named[-1]
    cids = set(finding.correlation_ids)
    tagged = [x for x in before if not cids or x.correlation_id in cids]
    return tagged[-1] if tagged else None


def _deleted_ids(evidence: TestEvidence, recorded: Iterable[Exchange]) -> set[str]:
    """Ids of documents deleted by the test's clean-up or by a DELETE it sent."""
    ids = {c.document_id for c in evidence.cleanup if c.result in ("deleted", "gone")}
    for x in recorded:
        if x.method == "DELETE" and x.status is not None and x.status < 300:
            ids.update(x.path.split("?", 1)[0].split("/"))
    return {i for i in ids if i}


def _upload_of(
    request: SentRequest, uploads: list[SentRequest], deleted: set[str]
) -> SentRequest | None:
    """The upload that created a since-deleted document ``request`` names, if any."""
    tokens = set(request.url.replace("?", "/").replace("&", "/").replace("=", "/").split("/"))
    for upload in uploads:
        if upload is request or not deleted.intersection(upload.created):
            continue
        if tokens.intersection(upload.created):
            return upload
    return None
