"""Fail fast on a proven-broken deployment.

Once one test *proves* the pipeline broken (an upload whose job stalled, or ended in a failure
status the pipeline profile lists in ``fail_fast_statuses``) or the target down
(``errors`` consecutive connection errors or timeouts, no answer in between), the tests that
need what is broken end at once as "not run: ... proven broken by <nodeid>, correlation ID
<id>" instead of each waiting out its own stall or read timeout. The first proof is a failing
finding (``kind="failfast"``) in the evidence of the test that made it, so the verdict fails
and its reason names that proof.

Which test needs what is read from its fixtures: ``upload_document``/``upload_document_async``
need the pipeline (and the target), ``api`` needs the target. A test already running stops at
its next request (target) or upload (pipeline).

Under pytest-xdist each worker counts its own errors; the first proof of any worker is written
to a marker file in a directory the controller creates for the session and hands to the workers
(``workerinput``), created with ``O_EXCL`` so exactly one proof is the first. Every check reads
that file (one ``stat`` when there is no proof). The directory exists only while a distributed
run does (``-n``); its name carries the controller's process ID, so a later run removes the
directories of controllers that died without removing theirs (SIGKILL, a crash).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path

import pytest

from pytest_deployverify.evidence import Finding, TestEvidence
from pytest_deployverify.settings import FailFastSettings

WORKERINPUT_KEY = "deployverify_failfast_dir"
#: the shared directory's name: this prefix, the controller's process ID, "-", mkdtemp's suffix
DIR_PREFIX = "deployverify-failfast-"
PROOF_FILE = "proof.json"
PIPELINE, TARGET = "pipeline", "target"
#: fixtures whose tests need the pipeline / the target
PIPELINE_FIXTURES = frozenset(
    {"upload_document", "upload_document_async", "_deployverify_pipeline"}
)
TARGET_FIXTURES = frozenset({"api"}) | PIPELINE_FIXTURES


class NotRun(pytest.skip.Exception):  # type: ignore[misc,name-defined]
    """Ends a test that needs a part already proven broken (reported as skipped, "not run")."""


@dataclass(frozen=True)
class Proof:
    """The first evidence that the deployment is broken."""

    kind: str  # PIPELINE or TARGET
    nodeid: str
    correlation_id: str
    detail: str
    #: what counts as proof (the finding's rule); empty: the kind's own rule
    rule: str = ""

    def reason(self) -> str:
        what = "pipeline proven broken" if self.kind == PIPELINE else "target proven unreachable"
        return f"{what} by {self.nodeid}, correlation ID {self.correlation_id}: {self.detail}"

    def not_run(self) -> str:
        return f"not run: {self.reason()}"

    def finding(self) -> Finding:
        rule = self.rule or (
            "a job that stalls proves the pipeline broken"
            if self.kind == PIPELINE
            else "consecutive connection errors or timeouts prove the target unreachable"
        )
        return Finding(
            check=f"failfast:{self.kind}",
            outcome="fail",
            rule=rule,
            observed=self.detail,
            message=self.reason(),
            correlation_ids=[self.correlation_id] if self.correlation_id else [],
            kind="failfast",
            nodeid=self.nodeid,
        )


class Breaker:
    """One per process (controller or worker): counts errors, keeps and shares the first proof.

    ``enabled=False`` makes every method a no-op: the old behaviour.
    """

    def __init__(
        self, *, enabled: bool, errors: int, directory: Path | None, owned: bool = False
    ) -> None:
        self.enabled = enabled
        self.errors = errors
        self.directory = directory
        #: this process created ``directory`` (the xdist controller) and removes it
        self.owned = owned
        self._lock = threading.Lock()
        self._consecutive = 0
        self._proof: Proof | None = None

    # --- reading

    def proof(self) -> Proof | None:
        """The session's first proof (this process's or, under xdist, another worker's)."""
        if not self.enabled:
            return None
        if self._proof is None and self.directory is not None:
            path = self.directory / PROOF_FILE
            with contextlib.suppress(OSError, ValueError, TypeError):
                self._proof = Proof(**json.loads(path.read_text(encoding="utf-8")))
        return self._proof

    def blocking(self, needs: str) -> Proof | None:
        """The proof that stops a test needing ``needs`` (PIPELINE or TARGET), if any."""
        proof = self.proof()
        if proof is None or (needs == TARGET and proof.kind != TARGET):
            return None
        return proof

    def check(self, needs: str, nodeid: str = "") -> None:
        """Raise :class:`NotRun` when what the caller needs is proven broken.

        The test that made the proof fails with it instead (AssertionError): it ran, and its
        own evidence is the proof.
        """
        proof = self.blocking(needs)
        if proof is None:
            return
        if nodeid and proof.nodeid == nodeid:
            raise AssertionError(proof.reason())
        raise NotRun(proof.not_run())

    # --- sharing (xdist)

    def worker_input(self) -> dict[str, str]:
        """What the controller hands each worker: the shared proof directory."""
        return {WORKERINPUT_KEY: str(self.directory)} if self.owned else {}

    def close(self) -> None:
        if self.owned and self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)

    # --- evidence

    def answered(self) -> None:
        """The target answered a request (any status): the error run is over."""
        if self.enabled:
            with self._lock:
                self._consecutive = 0

    def request_failed(
        self, evidence: TestEvidence | None, correlation_id: str, error: str, *, proves: bool = True
    ) -> None:
        """A request ended in a connection error or timeout. ``proves=False``: a request of no
        test (the version read at session start) counts towards the run, but the proof is
        always a test's request, named with its correlation ID."""
        if not self.enabled:
            return
        with self._lock:
            self._consecutive += 1
            count = self._consecutive
        if proves and count >= self.errors:
            self.prove(
                TARGET,
                evidence,
                correlation_id,
                f"{count} consecutive requests got no answer, the last: {error}",
            )

    def run_ended(
        self,
        evidence: TestEvidence | None,
        correlation_id: str,
        outcome: str,
        detail: str,
        *,
        final_status: str | None = None,
        proof_statuses: tuple[str, ...] = (),
    ) -> None:
        """An upload was followed to ``outcome`` (its job last at ``final_status``): a stall,
        or a failed job whose status is one of ``proof_statuses``, proves the pipeline
        broken."""
        if not self.enabled:
            return
        if outcome == "stalled":
            self.prove(PIPELINE, evidence, correlation_id, detail)
        elif outcome == "failed" and final_status is not None and final_status in proof_statuses:
            self.prove(
                PIPELINE,
                evidence,
                correlation_id,
                f"job ended in {final_status!r}: {detail}",
                rule=f"a job ending in {final_status!r} (fail_fast_statuses of the pipeline "
                f"profile) proves the pipeline broken",
            )

    def prove(
        self,
        kind: str,
        evidence: TestEvidence | None,
        correlation_id: str,
        detail: str,
        *,
        rule: str = "",
    ) -> None:
        """Keep the first proof; the test that made it carries it as a failing finding."""
        if self.proof() is not None:
            return
        proof = Proof(kind, evidence.nodeid if evidence else "", correlation_id, detail[:600], rule)
        with self._lock:
            if self._proof is not None:
                return
            if self.directory is not None and not _write_once(self.directory / PROOF_FILE, proof):
                return  # another worker proved it first: proof() reads theirs
            self._proof = proof
        if evidence is not None:
            evidence.findings.append(proof.finding())


def _write_once(path: Path, proof: Proof) -> bool:
    """Create ``path`` holding ``proof``; False when it already exists (someone was first)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    except OSError:
        return True  # no shared directory to write to: this worker's proof stays local
    # readers treat a half-written file as no proof yet (ValueError), then read it again
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(asdict(proof), fh)
    return True


# ---------------------------------------------------------------- session glue


def for_process(config: pytest.Config, cfg: FailFastSettings) -> Breaker:
    """This process's breaker. The xdist controller creates the directory the workers share
    (handed to them in ``workerinput``: :meth:`Breaker.worker_input`), a worker takes it."""
    directory: Path | None = None
    owned = False
    workerinput = getattr(config, "workerinput", None)
    if workerinput is not None:
        raw = workerinput.get(WORKERINPUT_KEY)
        directory = Path(raw) if raw else None
    elif cfg.enabled and getattr(config.option, "dist", "no") != "no":
        # only a run with workers needs one (xdist installed is not enough: a serial run's
        # breaker keeps its proof in memory)
        remove_orphans(Path(tempfile.gettempdir()))
        directory = Path(tempfile.mkdtemp(prefix=f"{DIR_PREFIX}{os.getpid()}-"))
        owned = True
    return Breaker(enabled=cfg.enabled, errors=cfg.errors, directory=directory, owned=owned)


def remove_orphans(parent: Path) -> None:
    """Remove the shared directories in ``parent`` whose controller is gone (killed before it
    could remove its own). A directory of a live process, of another user, or not named by
    this version (no process ID) is left alone."""
    if os.name == "nt":  # os.kill(pid, 0) would signal the process there, not probe it
        return
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        pid, dash, _ = entry.name[len(DIR_PREFIX) :].partition("-")
        if not (entry.name.startswith(DIR_PREFIX) and dash and pid.isdigit()):
            continue
        if not _alive(int(pid)) and entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (PermissionError), or cannot tell: keep it
        return True
    return True


def skip_if_proven(item: pytest.Item, breaker: Breaker) -> None:
    """pytest_runtest_setup: end a test needing a part already proven broken, before its
    fixtures run."""
    names = set(getattr(item, "fixturenames", ()))
    needs = PIPELINE if names & PIPELINE_FIXTURES else TARGET if names & TARGET_FIXTURES else None
    if needs is not None:
        breaker.check(needs)
