"""Live comparison with a reference deployment: ``--reference-url`` / ``--reference-env``.

The reference is asked every request the test's ``api`` client and ``upload_document`` send
to the target, the way Diffy does it: twice (the same reference twice, or two reference
deployments once each), so what differs between the two reference answers is the service's
own noise and is checked for shape only (``baseline/live.py`` compares).

* **Correlation IDs.** The reference's requests carry the target's correlation ID with its
  last group replaced by :data:`ASKING_GROUPS` (``...-0000000000a1`` for the first asking,
  ``...-0000000000b2`` for the second): still a UUID, so a correlation ID field has the
  same shape on both sides, and a log search for the first 24 characters finds all three.
* **Identifiers.** A request the test builds from the target's answer (``/jobs/<target job
  id>``) is sent to each reference with that reference's own identifier: identifiers are
  learned by walking the target's and each reference's JSON answer side by side (a string
  that differs at the same place) and from the upload runs (document and job IDs).
* **Uploads** are mirrored whole: the reference uploads the same bytes and follows its own
  job (:class:`~pytest_deployverify.pipeline.PipelineFollower`, no evidence of its own). The
  same reference asked twice deletes the first copy before the second upload, so a service
  that de-duplicates uploads answers "new" both times. Reference documents are deleted at
  teardown like the target's (their clean-up results join the test's evidence).
* **Protected references** (``protected = true``) are asked only by tests marked
  ``nondestructive`` or ``canary``; other tests' checks fall back to the stored baseline.

Nothing here knows a service's routes or fields: paths and fields come from the target's
requests and the reference environment's pipeline profile.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from pytest_deployverify.client import ApiClient
from pytest_deployverify.config import Target, resolve_target
from pytest_deployverify.evidence import TestEvidence
from pytest_deployverify.judge import TimingResult
from pytest_deployverify.pipeline import PipelineFollower
from pytest_deployverify.pipeline_run import PipelineRun
from pytest_deployverify.redact import redact_text, redact_url
from pytest_deployverify.settings import ConfigError, Settings

#: what replaces a UUID correlation ID's last group for the first and the second asking
ASKING_GROUPS = ("0000000000a1", "0000000000b2")
#: the verdict's and the report's name for what the reference comparison compared with
LABEL = "reference deployment"
#: the name prefix of a check's comparison with the reference (``reference:<name>``)
CHECK_PREFIX = "reference:"
#: answers kept per test (each holds two reference responses)
MAX_MIRRORED = 500
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
#: what an identifier worth translating looks like (no spaces, not a tiny word or number)
_IDENT = re.compile(r"^[A-Za-z0-9._:~-]{6,200}$")


def reference_correlation_id(correlation_id: str, asking: int) -> str:
    """The correlation ID the reference's ``asking`` (0 or 1) of a request carries."""
    group = ASKING_GROUPS[asking]
    if _UUID.match(correlation_id):
        return correlation_id[:24] + group
    return f"{correlation_id}-ref-{'ab'[asking]}"


@dataclass(frozen=True)
class Reference:
    """The reference deployment(s): ``askings`` are the targets asked first and second (the
    same one twice when one URL is given)."""

    askings: tuple[Target, Target]
    #: how it was chosen, for the verdict: "--reference-url", "--reference-env NAME", ...
    source: str

    @property
    def distinct(self) -> bool:
        """Two reference deployments (each asked once) rather than one asked twice."""
        return self.askings[0].base_url != self.askings[1].base_url

    @property
    def protected(self) -> bool:
        return any(t.protected for t in self.askings)

    def secret_values(self) -> list[str]:
        return sorted({v for t in self.askings for v in t.secret_values()}, key=len, reverse=True)

    def urls(self) -> list[str]:
        """The reference URLs (secrets in them redacted), one per deployment."""
        seen: list[str] = []
        for t in self.askings:
            shown = redact_url(t.base_url, self.secret_values())
            if shown not in seen:
                seen.append(shown)
        return seen

    def block(self) -> dict[str, Any]:
        """The verdict's ``reference.deployment`` facts."""
        return {
            "env": self.askings[0].name,
            "urls": self.urls(),
            "source": self.source,
            "asked": "two deployments, once each" if self.distinct else "one deployment, twice",
        }


def resolve(settings: Settings, environ: Mapping[str, str] | None = None) -> Reference | None:
    """The reference the settings name (None without ``--reference-url``/``--reference-env``).

    ``--reference-env NAME`` resolves that environment like a target (its URL, env file,
    secrets, auth); ``--reference-url`` alone uses the target's environment (its secrets and
    profile) at another URL; both: the environment at the given URL(s). A reference must be
    running already: an environment that only has a ``launch`` command is refused.
    """
    ref = settings.reference
    if not ref.enabled:
        return None
    env = ref.env or settings.env_name
    source = f"--reference-env {ref.env}" if ref.env else "--reference-url"
    targets: list[Target] = []
    for url in ref.urls or (None,):
        chosen = replace(
            settings,
            target_env=env,
            target_env_source="--reference-env" if ref.env else "the target's environment",
            target_url=url,
            target_url_source="--reference-url" if url else "",
        )
        try:
            target = resolve_target(chosen, environ)
        except ConfigError as exc:
            raise ConfigError(f"the reference deployment ({source}): {exc}") from None
        if not target.base_url:
            raise ConfigError(
                f"the reference deployment ({source}): environment {env!r} has only a launch "
                f"command; a reference must be running already. Give its URL with "
                f"--reference-url URL or base_url in [tool.deployverify.envs.{env}]."
            )
        targets.append(target)
    first = targets[0]
    return Reference((first, targets[1] if len(targets) > 1 else first), source)


def probe(reference: Reference, timeout: float) -> None:
    """Stop the run before any test when a reference deployment does not answer its health
    path within ``timeout`` seconds (``--probe-timeout``), as for the target: a comparison
    with an absent reference verifies nothing."""
    from pytest_deployverify.target_probe import probe as probe_target

    seen: set[str] = set()
    for target in reference.askings:
        if target.base_url in seen:
            continue
        seen.add(target.base_url)
        reason = probe_target(target, timeout=timeout)
        if reason is not None:
            shown = redact_url(target.base_url, reference.secret_values())
            raise ConfigError(
                f"the reference deployment ({reference.source}) at {shown} is unreachable: "
                f"GET {target.health_path} gave no answer within {timeout:g} s ({reason}). "
                f"Start it, or fix --reference-url / base_url of "
                f"[tool.deployverify.envs.{target.name}]."
            )


# ---------------------------------------------------------------- one test's mirror


@dataclass
class Counterpart:
    """The reference's two answers to one target request (None where it could not answer)."""

    answers: list[Any]
    errors: list[str] = field(default_factory=list)
    #: the session's secrets (target's and reference's): redacted from the answers
    secrets: list[str] = field(default_factory=list)
    #: the reference URL(s), for messages
    where: str = LABEL


class Mirror:
    """Sends one test's requests and uploads to the reference as well (see module doc).

    ``ApiClient`` calls :meth:`prepare` and :meth:`mirror` (its ``mirror`` hook); the upload
    follower calls :meth:`upload`; ``baseline.check`` asks :meth:`counterpart`.
    """

    def __init__(
        self,
        reference: Reference,
        correlation_id: str,
        *,
        evidence: TestEvidence | None,
        deadline: float,
        stall_timeout: float,
        secrets: list[str],
    ) -> None:
        self.reference = reference
        self.correlation_id = correlation_id
        self.evidence = evidence
        self.deadline = deadline
        self.stall_timeout = stall_timeout
        self.secrets = secrets
        #: target identifier -> the identifier each asking knows it by
        self.ids: list[dict[str, str]] = [{}, {}]
        self._clients: list[ApiClient | None] = [None, None]
        self._followers: list[PipelineFollower] = []
        #: id(target answer) -> (the answer, kept so the id stays its own, its counterpart)
        self._answers: dict[int, tuple[Any, Counterpart]] = {}
        #: why a mirrored upload could not be made (the reference did not answer)
        self._upload_errors: list[str] = []
        self._lock = threading.RLock()

    # --- the api client's hook

    def prepare(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Request arguments that can be sent more than once: open files are read into bytes."""
        files = kwargs.get("files")
        if not files:
            return kwargs
        items = files.items() if isinstance(files, Mapping) else files
        materialised = []
        for name, part in items:
            if isinstance(part, tuple):
                part = tuple(p.read() if hasattr(p, "read") else p for p in part)
            elif hasattr(part, "read"):
                part = (Path(str(getattr(part, "name", name))).name, part.read())
            materialised.append((name, part))
        return {**kwargs, "files": materialised}

    def mirror(
        self, method: str, path: str, kwargs: dict[str, Any], response: requests.Response
    ) -> None:
        """Send the request the target just answered to each asking; keep the answers."""
        relative = self._relative(path)
        answers: list[Any] = []
        errors: list[str] = []
        for asking in (0, 1):
            try:
                answer = self._client(asking).request(
                    method,
                    self._translate(relative, asking),
                    check_echo=False,
                    **self._translate_kwargs(kwargs, asking),
                )
            except (requests.RequestException, ValueError) as exc:
                answers.append(None)
                errors.append(self._reason(exc))
                continue
            answers.append(answer)
            self._learn_ids(_json_or_none(response), _json_or_none(answer), asking)
        self._keep(response, Counterpart(answers, errors))

    # --- upload_document's hook

    def upload(self, path: Path, options: dict[str, Any]) -> list[PipelineRun]:
        """Upload ``path`` to each asking as the target's upload was made; return their runs."""
        options = {**options, "cleanup": True}  # the test cannot delete the reference's copy
        runs: list[PipelineRun] = []
        for asking in (0, 1):
            follower = self._follower(asking)
            try:
                run = follower.upload(path, **options)
            except (requests.RequestException, OSError) as exc:
                # the reference is down: the target's test goes on, its checks say so
                self._upload_errors.append(self._reason(exc))
                return []
            runs.append(run)
            if asking == 0 and not self.reference.distinct and follower.profile.delete_path:
                # one reference asked twice: the first copy goes, so a de-duplicating
                # service treats the second upload as new, like the target's
                self._record_cleanup(follower.cleanup())
        return runs

    def learn_run(self, run: PipelineRun, runs: list[PipelineRun]) -> None:
        """Identifiers and answers of a mirrored upload, for later requests and checks."""
        if len(runs) != 2:
            failed = Counterpart([None, None], errors=list(self._upload_errors))
            self._keep(run, failed)
            for part in ("document", "job", "upload_response", "last_error"):
                if getattr(run, part) is not None:
                    self._keep(getattr(run, part), failed)
            return
        for asking, ref in enumerate(runs):
            for mine, theirs in ((run.document_id, ref.document_id), (run.job_id, ref.job_id)):
                if mine and theirs and mine != theirs:
                    self.ids[asking][mine] = theirs
        # the run's parts a test may check on their own
        for part in ("document", "job", "upload_response", "last_error"):
            mine = getattr(run, part)
            if mine is not None:
                self._keep(mine, Counterpart([getattr(r, part) for r in runs]))

    # --- baseline.check's question

    def counterpart(self, value: Any) -> Counterpart | None:
        """The reference's answers to ``value`` (a response, a run or a part of one)."""
        found: Counterpart | None = None
        if isinstance(value, PipelineRun) and len(value.reference_runs) == 2:
            found = Counterpart(list(value.reference_runs))
        else:
            with self._lock:
                kept = self._answers.get(id(value))
            if kept is not None and kept[0] is value:
                found = kept[1]
        if found is None:
            return None
        where = f"{LABEL} {' and '.join(self.reference.urls())}"
        return replace(found, secrets=self.secrets, where=where)

    # --- teardown

    def close(self) -> None:
        """Delete the reference's documents; close its clients."""
        for follower in self._followers:
            self._record_cleanup(follower.cleanup())
        for client in self._clients:
            if client is not None:
                client.close()

    # --- plumbing

    def _reason(self, exc: Exception) -> str:
        """One redacted line: why the reference did not answer."""
        text = str(exc)
        name = type(exc).__name__
        if not text.startswith(name):  # the client's re-raised errors already say it
            text = f"{name}: {text}"
        return redact_text(text, self.secrets)[:300]

    def _keep(self, value: Any, counterpart: Counterpart) -> None:
        with self._lock:
            if len(self._answers) < MAX_MIRRORED:
                self._answers[id(value)] = (value, counterpart)

    def _record_cleanup(self, results: list[Any]) -> None:
        if self.evidence is not None:
            self.evidence.cleanup.extend(results)

    def _client(self, asking: int) -> ApiClient:
        with self._lock:
            client = self._clients[asking]
            if client is None:
                client = self._clients[asking] = self._new_client(asking)
            return client

    def _new_client(self, asking: int) -> ApiClient:
        return ApiClient(
            self.reference.askings[asking],
            correlation_id=reference_correlation_id(self.correlation_id, asking),
        )

    def _follower(self, asking: int) -> PipelineFollower:
        with self._lock:
            while len(self._followers) <= asking:
                index = len(self._followers)
                target = self.reference.askings[index]
                self._followers.append(
                    PipelineFollower(
                        lambda i=index: self._new_client(i),  # type: ignore[misc]
                        profile=target.profile,
                        deadline=self.deadline,
                        stall_timeout=self.stall_timeout,
                        secrets=self.secrets,
                    )
                )
            return self._followers[asking]

    def _relative(self, path: str) -> str:
        if "://" not in path:
            return path
        parts = urlsplit(path)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def _translate(self, text: str, asking: int) -> str:
        for mine, theirs in self.ids[asking].items():
            if mine in text:
                text = text.replace(mine, theirs)
        return text

    def _translate_kwargs(self, kwargs: dict[str, Any], asking: int) -> dict[str, Any]:
        if not self.ids[asking]:
            return dict(kwargs)
        out = dict(kwargs)
        for key in ("params", "json", "data"):
            if key in out and not isinstance(out[key], bytes):
                out[key] = self._translate_value(out[key], asking)
        return out

    def _translate_value(self, value: Any, asking: int) -> Any:
        if isinstance(value, str):
            return self._translate(value, asking)
        if isinstance(value, Mapping):
            return {k: self._translate_value(v, asking) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._translate_value(v, asking) for v in value)
        return value

    def _learn_ids(self, mine: Any, theirs: Any, asking: int) -> None:
        """Identifiers: strings that differ at the same place of two JSON answers."""
        if isinstance(mine, dict) and isinstance(theirs, dict):
            for key, value in mine.items():
                if key in theirs:
                    self._learn_ids(value, theirs[key], asking)
        elif isinstance(mine, list) and isinstance(theirs, list):
            for a, b in zip(mine, theirs, strict=False):
                self._learn_ids(a, b, asking)
        elif (
            isinstance(mine, str)
            and isinstance(theirs, str)
            and mine != theirs
            and _IDENT.match(mine)
            and _IDENT.match(theirs)
        ):
            with self._lock:
                self.ids[asking].setdefault(mine, theirs)


def _json_or_none(response: requests.Response | None) -> Any:
    if response is None:
        return None
    try:
        return response.json()
    except ValueError:
        return None


MIRROR_KEY = pytest.StashKey[Mirror]()


def mirror_for(
    item: pytest.Item,
    reference: Reference | None,
    correlation_id: str,
    *,
    deadline: float,
    stall_timeout: float,
    secrets: list[str],
    evidence: TestEvidence | None,
) -> Mirror | None:
    """This test's mirror (shared by ``api`` and ``upload_document``), None without a
    reference or when a protected reference may not be asked by this test."""
    if reference is None:
        return None
    existing = item.stash.get(MIRROR_KEY, None)
    if existing is not None:
        return existing
    if reference.protected and not any(
        item.get_closest_marker(m) for m in ("nondestructive", "canary")
    ):
        return None
    mirror = Mirror(
        reference,
        correlation_id,
        evidence=evidence,
        deadline=deadline,
        stall_timeout=stall_timeout,
        secrets=secrets,
    )
    item.stash[MIRROR_KEY] = mirror
    return mirror


def counterpart_of(item: pytest.Item, value: Any) -> Counterpart | None:
    """The reference's answers to ``value`` in test ``item`` (None: not mirrored)."""
    mirror = item.stash.get(MIRROR_KEY, None)
    return mirror.counterpart(value) if mirror is not None else None


def verdict_block(
    reference: Reference, evidence: Mapping[str, TestEvidence], timings: Sequence[TimingResult]
) -> dict[str, Any]:
    """The verdict's ``reference`` block: the deployment, and what was compared with it."""
    outcomes: dict[tuple[str, str], set[str]] = {}
    for nodeid, ev in evidence.items():
        for f in ev.findings:
            if f.check.startswith(CHECK_PREFIX):
                outcomes.setdefault((f.nodeid or nodeid, f.check), set()).add(f.outcome)
    live = [t for t in timings if t.reference == LABEL]
    return {
        "deployment": reference.block(),
        "checks": {
            "compared": len(outcomes),
            "passed": sum(1 for o in outcomes.values() if o == {"pass"}),
            "failed": sum(1 for o in outcomes.values() if "fail" in o),
            "unavailable": sum(1 for o in outcomes.values() if "error" in o),
        },
        "timings": {
            "judged": len(live),
            "failed": sum(1 for t in live if t.outcome == "fail"),
            "inconclusive": sum(1 for t in live if t.outcome == "inconclusive"),
        },
    }
