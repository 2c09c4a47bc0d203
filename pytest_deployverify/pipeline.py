"""``upload_document``: upload a file, follow its job to a terminal status, return a PipelineRun.

The service's shape comes from the target's :class:`~pytest_deployverify.profile.PipelineProfile`
(``[tool.deployverify.pipeline]``), so any service with an upload endpoint, a job resource
with a status field and optionally an event trail works.

Following a job: poll the job resource every fifth of the time its current status has lasted,
between ``poll_initial`` and ``poll_max`` seconds, so a fast pipeline is noticed within
milliseconds without hammering a slow one. A 429 waits its
``Retry-After``; a poll-interval hint header sets a floor. Two distinct limits:

* **stalled**: no status change for ``stall_timeout`` seconds (the job is stuck);
* **deadline**: the job is still moving but not terminal after ``deadline`` seconds.

What happened to a run (its statuses, outcome, timings and evidence) is
:mod:`pipeline_run`'s :class:`~pytest_deployverify.pipeline_run.PipelineRun`.
"""

from __future__ import annotations

import asyncio
import contextlib
import mimetypes
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import requests

from pytest_deployverify.client import ApiClient
from pytest_deployverify.clock import utc_timestamp
from pytest_deployverify.evidence import CleanupResult, Finding, TestEvidence
from pytest_deployverify.failfast import PIPELINE, Breaker
from pytest_deployverify.fieldcoverage_marks import redact_tracked
from pytest_deployverify.pipeline_cleanup import delete_created
from pytest_deployverify.pipeline_run import (
    PipelineRun,
    StatusEvent,
    fields_of,
    get_field,
    has_field,
    stage_durations,
)
from pytest_deployverify.profile import PipelineProfile
from pytest_deployverify.redact import redact_text, redact_value, response_error

# ---------------------------------------------------------------- following a job


class UploadMirror(Protocol):
    """Uploads what the target was sent to another deployment too (``reference.Mirror``)."""

    def upload(self, path: Path, options: dict[str, Any]) -> list[PipelineRun]: ...

    def learn_run(self, run: PipelineRun, runs: list[PipelineRun]) -> None: ...


@dataclass(frozen=True)
class Upload:
    """One ``upload_document`` call, as sent (and sent again for a vanished duplicate)."""

    #: the file uploaded (a replay command names it)
    source: Path
    filename: str
    data: bytes = field(repr=False)
    content_type: str
    #: the form fields besides the file (``form=`` and ``metadata=``), None for none
    form: dict[str, Any] | None
    expect_terminal: bool
    #: seconds from the upload to a terminal status
    deadline: float
    #: delete the document at teardown
    cleanup: bool


class PipelineFollower:
    """Uploads documents and follows their jobs for one test (thread-safe for the async twin).

    Keeps every upload it made so :meth:`cleanup` can delete them at teardown.
    """

    def __init__(
        self,
        client_factory: Callable[[], ApiClient],
        *,
        profile: PipelineProfile,
        deadline: float,
        stall_timeout: float,
        evidence: TestEvidence | None = None,
        secrets: list[str] | None = None,
        breaker: Breaker | None = None,
        timestamp_check: Callable[[PipelineRun], list[Finding]] | None = None,
        mirror: UploadMirror | None = None,
    ) -> None:
        #: the reference comparison: uploads the same file to the reference deployment
        self.mirror = mirror
        #: timestamp sanity: failing findings for a followed run's server timestamps
        self.timestamp_check = timestamp_check
        self._client_factory = client_factory
        #: fail fast: an upload needs a pipeline not proven broken; a stall proves it broken
        self.breaker = breaker
        self.profile = profile
        self.deadline = deadline
        self.stall_timeout = stall_timeout
        self.evidence = evidence
        self.secrets = secrets or []
        self.runs: list[PipelineRun] = []
        #: uploads whose document this test created and should delete: (run, client)
        self._created: list[PipelineRun] = []
        self._cleanup_exempt: set[int] = set()
        self._lock = threading.Lock()

    # --- upload

    def upload(
        self,
        path: str | Path,
        *,
        form: Mapping[str, Any] | None = None,
        metadata: Any = None,
        filename: str | None = None,
        content_type: str | None = None,
        expect_terminal: bool = True,
        deadline: float | None = None,
        cleanup: bool = True,
    ) -> PipelineRun:
        """Upload ``path`` and (with ``expect_terminal``) follow its job; see the module doc.

        ``form``: extra form fields sent as given (a list value sends the field once per
        item); ``metadata``: JSON-encoded into the profile's ``metadata_field``;
        ``filename`` / ``content_type``: what the file part is called and declared as
        (default: the file's name and the type its extension suggests).
        """
        path = Path(path)
        data = path.read_bytes()
        name = filename or path.name
        ctype = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        request = Upload(
            source=path,
            filename=name,
            data=data,
            content_type=ctype,
            form=self._form_fields(form, metadata),
            expect_terminal=expect_terminal,
            deadline=self.deadline if deadline is None else float(deadline),
            cleanup=cleanup,
        )
        if self.breaker is not None:
            self.breaker.check(PIPELINE, self.evidence.nodeid if self.evidence else "")
        run = self._upload_once(request)
        if run.duplicate and run.vanished:
            # The upload matched a document another test created, and that test deleted it
            # (its clean-up) before this run fetched it: the same bytes are new to the service
            # again, so upload once more; this run then owns (and cleans up) its own copy.
            run = self._upload_once(request)
        if self.mirror is not None:
            options = dict(
                form=form,
                metadata=metadata,
                filename=filename,
                content_type=content_type,
                expect_terminal=expect_terminal,
                deadline=deadline,
            )
            run.reference_runs = self.mirror.upload(path, options)
            self.mirror.learn_run(run, run.reference_runs)
        return run

    def _upload_once(self, request: Upload) -> PipelineRun:
        client = self._client_factory()
        try:
            return self._upload(client, request)
        finally:
            client.close()

    def _form_fields(self, form: Mapping[str, Any] | None, metadata: Any) -> dict[str, Any] | None:
        import json

        p = self.profile
        if form is not None and not isinstance(form, Mapping):
            raise TypeError(
                f"upload_document(form=...) takes a mapping of field name to value, got "
                f"{type(form).__name__}"
            )
        fields: dict[str, Any] = dict(form or {})
        if p.upload_field in fields:
            raise ValueError(
                f"upload_document(form=...): {p.upload_field!r} is the file's own field "
                f"(upload_field in the pipeline profile); give the other fields only"
            )
        if metadata is not None:
            if not p.metadata_field:
                raise ValueError(
                    "upload_document(metadata=...): this service's profile declares no "
                    "metadata field (metadata_field is absent); send options with form={...}"
                )
            if p.metadata_field in fields:
                raise ValueError(
                    f"upload_document: both metadata= and form[{p.metadata_field!r}] given; "
                    f"pass one of them"
                )
            fields[p.metadata_field] = json.dumps(metadata)
        return fields or None

    def _upload(self, client: ApiClient, request: Upload) -> PipelineRun:
        p = self.profile
        limit = request.deadline
        run = PipelineRun(
            filename=request.filename,
            correlation_id=client.correlation_id,
            rule=f"terminal status {'/'.join(p.terminal_success)} within {limit:g} s, "
            f"a status change at least every {self.stall_timeout:g} s",
            status_model=p.statuses,
            terminal_statuses=p.terminal,
        )
        started = time.monotonic()
        # registered before the request so an interrupted upload is still cleaned up if the
        # service answered
        with self._lock:
            self.runs.append(run)
            if request.cleanup:
                self._created.append(run)
        try:
            response = client.post(
                p.upload_path,
                files={p.upload_field: (request.filename, request.data, request.content_type)},
                data=request.form,
                file_paths={p.upload_field: str(request.source.resolve())},
            )
            sent = client.last_sent
            run.upload_status_code = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = None
            run.upload_response = redact_tracked(body, self.secrets)
            if not response.ok or not isinstance(body, dict):
                run.outcome = "rejected"
                run.last_error = response_error(response, self.secrets)
                return run
            run.document_id = _str_or_none(get_field(body, p.document_id_field))
            run.job_id = _str_or_none(get_field(body, p.job_id_field))
            run.duplicate = bool(get_field(body, p.duplicate_field))
            if sent is not None:
                # a replay of a later request on this document can upload it again first
                for value, dotted in (
                    (run.document_id, p.document_id_field),
                    (run.job_id, p.job_id_field),
                ):
                    if value:
                        sent.created[value] = dotted
            first_status = get_field(body, p.upload_status_field or p.status_field)
            if first_status:
                run.statuses.append(
                    StatusEvent(
                        status=str(first_status),
                        at=_str_or_none(
                            get_field(body, p.upload_timestamp_field or p.timestamp_field)
                        ),
                        source="poll",
                        correlation_id=_str_or_none(get_field(body, p.correlation_field)),
                        seen_s=round(time.monotonic() - started, 6),
                    )
                )
                run.final_status = str(first_status)
            if run.duplicate:
                # not created by this test: leave it to whoever created it
                with self._lock:
                    self._cleanup_exempt.add(id(run))
            if not run.job_id:
                run.outcome = "failed"
                run.last_error = redact_text(
                    f"the upload response has no {p.job_id_field!r} (job_id_field in the "
                    f"pipeline profile); {fields_of(body, p.job_id_field)}",
                    self.secrets,
                )
                return run
            if request.expect_terminal:
                self._follow(client, run, started, started + limit)
                if self.breaker is not None:
                    self.breaker.run_ended(
                        self.evidence,
                        run.correlation_id,
                        run.outcome,
                        run.describe(),
                        final_status=run.final_status,
                        proof_statuses=p.fail_fast_statuses,
                    )
                self._collect_outputs(client, run)
                if self.timestamp_check is not None and self.evidence is not None:
                    findings = self.timestamp_check(run)
                    with self._lock:
                        self.evidence.findings.extend(findings)
            else:
                run.outcome = "complete" if run.final_status in p.terminal_success else "deadline"
            return run
        finally:
            run.client_seconds = time.monotonic() - started
            run.exchanges = list(client.exchanges)
            if self.evidence is not None:
                with self._lock:
                    self.evidence.runs.append(run.summary())

    def _follow(
        self, client: ApiClient, run: PipelineRun, started: float, deadline_at: float
    ) -> None:
        from pytest_deployverify.client import parse_retry_after

        p = self.profile
        path = p.job_path.format(job_id=run.job_id, document_id=run.document_id)
        last_change = time.monotonic()
        consecutive_missing = 0
        without_status = 0
        floor = 0.0  # a wait the service asked for (429 Retry-After, poll hint)

        def pause() -> None:
            # Poll again after a fifth of the time the current status has lasted (between
            # poll_initial and poll_max): a status that just changed is likely to change soon,
            # one that has lasted long is not. Never past the stall or deadline limit.
            age = time.monotonic() - last_change
            wait = max(floor, min(p.poll_max, max(p.poll_initial, age * 0.2)))
            limit = min(deadline_at, last_change + self.stall_timeout) - time.monotonic()
            time.sleep(max(0.0, min(wait, limit)))

        while run.final_status not in p.terminal:
            now = time.monotonic()
            if now >= deadline_at:
                run.outcome = "deadline"
                return
            if now - last_change >= self.stall_timeout:
                run.outcome = "stalled"
                return
            floor = 0.0
            try:
                response = client.get(path, retry=False)
            except (requests.ConnectionError, requests.Timeout) as exc:
                run.last_error = redact_text(str(exc), self.secrets)[:500]
                pause()
                continue
            run.polls += 1
            if response.status_code == 429:
                wait = parse_retry_after(response.headers.get("Retry-After"))
                floor = min(wait if wait is not None else p.poll_max, 5.0)
                pause()
                continue
            if response.status_code == 404:
                consecutive_missing += 1
                run.last_error = response_error(response, self.secrets)
                if consecutive_missing >= 3:
                    run.outcome = "failed"  # the job vanished (deleted under us)
                    run.vanished = True
                    return
                pause()
                continue
            consecutive_missing = 0
            if not response.ok:
                run.last_error = response_error(response, self.secrets)
                pause()
                continue
            try:
                job = response.json()
            except ValueError:
                run.last_error = "job response is not JSON"
                pause()
                continue
            run.job = redact_tracked(job, self.secrets)
            if not has_field(job, p.status_field):
                # a profile that does not fit the service (or a renamed field): say which key,
                # and what the resource has, instead of stalling on "no status seen"
                without_status += 1
                run.last_error = redact_text(
                    f"the job resource GET {path} answered without {p.status_field!r} "
                    f"(status_field in the pipeline profile); {fields_of(job, p.status_field)}",
                    self.secrets,
                )
                if without_status >= 3:
                    run.outcome = "failed"
                    return
                pause()
                continue
            without_status = 0
            status = get_field(job, p.status_field)
            run.job_status = get_field(run.job, p.status_field)
            error = get_field(job, p.error_field)
            if error:
                run.last_error = redact_value(error, self.secrets)
            if status is not None and str(status) != run.final_status:
                run.statuses.append(
                    StatusEvent(
                        status=str(status),
                        at=_str_or_none(get_field(job, p.timestamp_field)),
                        source="poll",
                        correlation_id=_str_or_none(get_field(job, p.correlation_field)),
                        seen_s=round(time.monotonic() - started, 6),
                    )
                )
                run.final_status = str(status)
                last_change = time.monotonic()
            if run.final_status in p.terminal:
                break
            hint = response.headers.get(p.poll_hint_header) if p.poll_hint_header else None
            if hint:
                with contextlib.suppress(ValueError):
                    floor = min(float(hint), 5.0)
            pause()
        run.noticed_at = utc_timestamp()
        run.outcome = "complete" if run.final_status in p.terminal_success else "failed"

    def _collect_outputs(self, client: ApiClient, run: PipelineRun) -> None:
        """The event trail (when the service has one) and the document summary."""
        p = self.profile
        if p.events_path and run.job_id:
            path = p.events_path.format(job_id=run.job_id, document_id=run.document_id)
            try:
                response = client.get(path)
                if response.ok:
                    events = get_field(response.json(), p.events_field)
                    if isinstance(events, list) and events:
                        seen = run.client_seen
                        run.statuses = [
                            StatusEvent(
                                status=str(get_field(e, p.event_status_field)),
                                at=_str_or_none(get_field(e, p.event_time_field)),
                                source="events",
                                correlation_id=_str_or_none(
                                    get_field(e, p.event_correlation_field)
                                ),
                                seen_s=seen.get(str(get_field(e, p.event_status_field))),
                            )
                            for e in events
                            if isinstance(e, dict)
                        ]
            except (requests.RequestException, ValueError) as exc:
                run.last_error = run.last_error or redact_text(str(exc), self.secrets)[:500]
        run.stage_durations, run.total_seconds = stage_durations(run.statuses)
        # a result route keyed by the job (no document id) is fetched with the job id
        if p.document_path and (run.document_id or "{document_id}" not in p.document_path):
            path = p.document_path.format(document_id=run.document_id, job_id=run.job_id)
            try:
                response = client.get(path)
                if response.ok:
                    body = response.json()
                    run.document = redact_tracked(body, self.secrets)
                elif response.status_code == 404:
                    run.vanished = True
            except (requests.RequestException, ValueError) as exc:
                run.last_error = run.last_error or redact_text(str(exc), self.secrets)[:500]

    # --- cleanup

    def cleanup(self) -> list[CleanupResult]:
        """Delete every document this test created; return (and record) one result each."""
        with self._lock:
            pending = [r for r in self._created if id(r) not in self._cleanup_exempt]
            skipped = [r for r in self._created if id(r) in self._cleanup_exempt]
            self._created = []
        results = delete_created(
            pending,
            skipped,
            profile=self.profile,
            breaker=self.breaker,
            client_factory=self._client_factory,
            secrets=self.secrets,
        )
        if self.evidence is not None:
            with self._lock:
                self.evidence.cleanup.extend(results)
        return results

    # --- async twin

    async def upload_async(self, path: str | Path, **kwargs: Any) -> PipelineRun:
        """:meth:`upload` in a worker thread, so ``asyncio.gather`` runs N concurrently."""
        return await asyncio.to_thread(self.upload, path, **kwargs)


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
