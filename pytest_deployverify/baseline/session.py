"""``BaselineSession``: one session's baseline settings, file cache and accounting.

Lives at ``DeployVerifySession.baseline``. On an xdist worker it accounts for the tests that worker ran and
hands the result to the controller through ``config.workeroutput``; the controller merges the
workers' parts in ``pytest_testnodedown`` and alone computes unused files and observations
not verified, deletes unused files (when asked and the whole suite was selected) and prints
the summary. Accounting entries are ``"<baseline file>::<observation name>"`` or file paths,
relative to the rootdir when the baseline directory is inside it.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from pytest_deployverify.atomic import TMP_PREFIX, WriteBatch
from pytest_deployverify.baseline import storage
from pytest_deployverify.baseline.model import BaselineFile, Rule
from pytest_deployverify.clock import utc_timestamp
from pytest_deployverify.config import Target
from pytest_deployverify.settings import BaselineSettings
from pytest_deployverify.workers import worker_input

WORKEROUTPUT_KEY = "deployverify_baseline"
WORKERINPUT_KEY = "deployverify_baseline_recorded_at"
_LIST_KEYS = (
    "verified",
    "mismatched",
    "missing",
    "errors",
    "written",
    "updated",
    "unchanged",
    "record_failed",
    "write_failed",
)


def _now_iso() -> str:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        moment = datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    else:
        moment = datetime.now(timezone.utc).replace(microsecond=0)
    return utc_timestamp(moment)


@dataclass(frozen=True)
class FileSummary:
    """What the session end needs of a baseline file (the verdict's provenance, the
    observations not verified, the timing reference), kept for every file the session read.
    The parsed file itself is kept only for the few files read last: holding every test's
    observations, rules and schemas until the session end made the collector walk a score of
    objects per test for nothing (benchmarks/README.md, "Figures after the sixth issue-20
    session")."""

    recorded_from: str | None
    recorded_at: str | None
    deployment_version: Any
    #: the observations' names
    names: tuple[str, ...]
    timings: Mapping[str, list[float]]

    @classmethod
    def of(cls, baseline: BaselineFile) -> FileSummary:
        return cls(
            baseline.recorded_from,
            baseline.recorded_at,
            baseline.deployment_version,
            tuple(baseline.observations),
            baseline.timings or _NO_TIMINGS,
        )

    def plain(self) -> list[Any]:
        """This summary as plain JSON data, in field order (``from_plain`` reads it back):
        what an xdist worker sends the controller (``BaselineSession._reads_json``)."""
        return [
            self.recorded_from,
            self.recorded_at,
            self.deployment_version,
            list(self.names),
            dict(self.timings),
        ]

    @classmethod
    def from_plain(cls, data: list[Any]) -> FileSummary:
        recorded_from, recorded_at, version, names, timings = data
        return cls(recorded_from, recorded_at, version, tuple(names), timings or _NO_TIMINGS)


_NO_TIMINGS: Mapping[str, list[float]] = {}


@dataclass(frozen=True)
class _Read:
    """One baseline file as the session read it."""

    mtime_ns: int
    size: int
    #: sha256 of its bytes (of no bytes when they could not be read)
    digest: bytes
    result: FileSummary | storage.BaselineFileError


#: parsed files kept whole (``BaselineSession._recent``): a test's checks, ``recorded`` and
#: ``json_schema`` calls read its one file, several times at most
_RECENT_FILES = 16


_NO_BYTES = hashlib.sha256(b"").digest()


def _summary_of(read: _Read | None) -> FileSummary | None:
    """``read``'s summary (None: no file); raises the error it holds."""
    if read is None:
        return None
    if isinstance(read.result, storage.BaselineFileError):
        raise read.result
    return read.result


def read_file(path: str | Path) -> tuple[os.stat_result, bytes]:
    """A file's status and bytes through one descriptor: ``os.stat`` then
    ``Path.read_bytes`` cost two more system calls and a buffered reader per baseline file,
    and this reads a file once per test (benchmarks/README.md, "Figures after the fifth
    issue-20 session")."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        st = os.fstat(fd)
        raw = os.read(fd, st.st_size + 1)
        if len(raw) > st.st_size:  # it grew since: read to the end
            rest = [raw]
            while chunk := os.read(fd, 1 << 16):
                rest.append(chunk)
            raw = b"".join(rest)
        return st, raw
    finally:
        os.close(fd)


class BaselineSession:
    """Per-session baseline state; see the module docstring."""

    def __init__(
        self, config: pytest.Config, cfg: BaselineSettings, tool: Mapping[str, Any]
    ) -> None:
        self.config = config
        #: ``[tool.deployverify]``: the refusal to record names the unprotected environments
        self.tool = tool
        self.rootpath = Path(config.rootpath)
        #: the session's target once resolved (set by the session object): for provenance,
        #: the protected-record refusal and the secrets redacted from observations
        self.target: Target | None = None
        self.config_rules: list[Rule] = list(cfg.rules)
        self.root = cfg.directory
        self.record_mode = cfg.record
        self.record_runs = cfg.record_runs
        self.fail_unverified = cfg.fail_unverified
        self.delete_unused = cfg.delete_unused
        worker_in = worker_input(config).get(WORKERINPUT_KEY)
        self.recorded_at: str = str(worker_in) if worker_in else _now_iso()
        self.lists: dict[str, list[str]] = {k: [] for k in _LIST_KEYS}
        # what each list holds, for a constant-time "already noted" (a list scan per check
        # made a session quadratic in its number of checks)
        self._listed: dict[str, set[str]] = {k: set() for k in _LIST_KEYS}
        self.used: set[str] = set()
        self.collected: set[str] = set()
        self.deselected: set[str] = set()
        self.collection_errors = False
        self.deleted: list[str] = []
        self.delete_refused: str | None = None
        # Files are known by their POSIX path relative to the directory (``rel``), not by
        # ``Path`` objects: making one per file and hashing it at every lookup cost 77
        # thousand instructions per small check (benchmarks/README.md, "Figures after the
        # thirteenth issue-20 session"). ``file_for`` still gives a ``Path`` to whoever asks.
        self._cache: dict[str, _Read] = {}
        #: the last files parsed, whole, each with the read it came from (see ``FileSummary``)
        self._recent: dict[str, tuple[_Read, BaselineFile]] = {}
        #: the recording's baseline files, put in place together at the session end
        #: (``publish``)
        self.writes = WriteBatch()
        self._final: dict[str, Any] | None = None
        #: set at session end (controller, or a run without xdist): accounting is complete
        self.finished = False
        self._version: Any = _UNSET
        #: each test's file (node id -> ``rel``)
        self._files: dict[str, str] = {}
        self._paths: dict[str, Path] = {}
        #: each file's display text, by ``rel``
        self._shown: dict[str, str] = {}
        #: files whose cached read was checked against the disk since the session ended
        #: (``finished``): the session end asks for each file up to three times (accounting,
        #: provenance, timing names), and one ``stat`` each is enough
        self._fresh: set[str] = set()
        #: where ``rel`` is opened: the directory's own spelling, then "/" and ``rel``
        self._base = os.path.join(os.fspath(self.root), "")
        try:
            self._root_shown: str | None = self.root.relative_to(self.rootpath).as_posix()
        except ValueError:
            self._root_shown = None
        self._no_tests: bool | None = None

    # ------------------------------------------------------------ names

    def file_for(self, nodeid: str) -> Path:
        """``nodeid``'s baseline file."""
        return self.path_of(self.rel_for(nodeid))

    def rel_for(self, nodeid: str) -> str:
        """``nodeid``'s baseline file as a POSIX path relative to the directory: what the
        methods below take. Asked several times per test (check, accounting, timings): worked
        out once."""
        rel = self._files.get(nodeid)
        if rel is None:
            rel = self._files[nodeid] = storage.relative_name(nodeid)
        return rel

    def path_of(self, rel: str) -> Path:
        """The file at ``rel``, one object per file for the whole session."""
        path = self._paths.get(rel)
        if path is None:
            path = self._paths[rel] = self.root / rel
        return path

    def os_path(self, rel: str) -> str:
        """The file at ``rel`` as ``open`` takes it."""
        return self._base + rel

    def shown(self, rel: str) -> str:
        """The file at ``rel`` as messages show it (``display``), worked out from ``rel``:
        pathlib's parsing and ``relative_to`` were a tenth of a small check's cost."""
        shown = self._shown.get(rel)
        if shown is None:
            root_shown = self._root_shown
            if root_shown is None:
                shown = self.display(self.path_of(rel))
            else:
                shown = rel if root_shown == "." else f"{root_shown}/{rel}"
            self._shown[rel] = shown
        return shown

    def holds_no_tests(self, path: Path) -> bool:
        """Whether collection may skip ``path``: it is the baseline directory, and no Python
        file is anywhere in it (so a directory that also holds tests is walked as usual).

        pytest would otherwise visit every baseline file, one per test, with its own hooks and
        stats (about as much as a small check costs, measured in benchmarks/README.md).
        """
        root = self.root
        if path.name != root.name or path.resolve() != root:
            return False
        if self._no_tests is None:
            self._no_tests = not any(
                name.endswith(".py") for _, _, names in os.walk(root) for name in names
            )
        return self._no_tests

    def display(self, path: Path) -> str:
        """``path`` as messages show it: relative to the rootdir when inside it."""
        try:
            return path.relative_to(self.rootpath).as_posix()
        except ValueError:
            return path.as_posix()

    def record_command(self, nodeid: str) -> str:
        """The command that re-records ``nodeid``, as the user would type it where they ran
        pytest: the node id relative to the invocation directory and the environment they used
        (or, when that one is protected, the one the baseline was recorded from)."""
        env = self._record_env(nodeid)
        return f"pytest '{self.user_nodeid(nodeid)}' --record-baseline --target-env {env}"

    def user_nodeid(self, nodeid: str) -> str:
        """``nodeid`` (rootdir-relative) as seen from the directory pytest was started in."""
        module, sep, rest = nodeid.partition("::")
        here = Path(self.config.invocation_params.dir).resolve()
        try:
            shown = os.path.relpath(self.rootpath.resolve() / module, here)
        except ValueError:  # another drive (Windows)
            shown = str(self.rootpath / module)
        return Path(shown).as_posix() + sep + rest

    def _record_env(self, nodeid: str) -> str:
        from pytest_deployverify import settings

        target = self.target
        if target is not None and not target.protected:
            return str(target.name)
        if target is None:  # not activated (no test needed it): the name it would have had
            return settings.get(self.config).env_name
        try:
            stored = self.summary(self.rel_for(nodeid))
        except storage.BaselineFileError:
            stored = None
        # a protected target is never recorded from: name the environment the baseline came from
        return str(getattr(stored, "recorded_from", None) or "<an-unprotected-env>")

    # ------------------------------------------------------------ files

    def load(self, rel: str) -> BaselineFile | None:
        """The file at ``rel`` (None: there is none); raises ``BaselineFileError``."""
        read = self._read(rel)
        recent = self._recent.get(rel)
        if recent is None or recent[0] is not read:
            if _summary_of(read) is None:
                return None
            # read and summarised before, its parse since let go: read it whole again
            read = self._read(rel, again=True)
            recent = self._recent.get(rel)
        if _summary_of(read) is None:
            return None
        assert recent is not None and recent[0] is read
        return recent[1]

    def summary(self, rel: str) -> FileSummary | None:
        """What the session end needs of the file at ``rel`` (None: there is none), without
        keeping it whole; raises ``BaselineFileError``."""
        return _summary_of(self._read(rel))

    def publish(self) -> None:
        """Put this process's recorded files in place, durably: one filesystem sync for all
        of them, a rename each, an fsync per directory (``atomic.WriteBatch``). Called first
        at the session end (on an xdist worker, before its results go to the controller), and
        again at unconfigure should the session end not have run. A file not put in place
        moves from ``written``/``updated`` to ``write_failed`` (which fails the verdict, and
        reaches the controller from an xdist worker): its old content, if any, stays."""
        for path, exc in self.writes.publish():
            rel = path.relative_to(self.root).as_posix()
            shown = self.shown(rel)
            for key in ("written", "updated"):
                if shown in self._listed[key]:
                    self._listed[key].discard(shown)
                    self.lists[key].remove(shown)
            self._forget(rel)  # what is on disk is the old file, or none
            reason = exc.strerror or type(exc).__name__
            self.note("write_failed", f"{shown}: {reason}")

    def remember(self, rel: str, raw: bytes, written: BaselineFile, status: os.stat_result) -> None:
        """``raw`` was just written to ``rel`` as ``written`` (``status``: the written file's,
        from :meth:`atomic.WriteBatch.stage`): the verdict's checksum and provenance at the session
        end need not read and parse it again."""
        if status.st_size == len(raw):
            read = _Read(
                status.st_mtime_ns,
                status.st_size,
                hashlib.sha256(raw).digest(),
                FileSummary.of(written),
            )
            self._cache[rel] = read
            self._fresh.discard(rel)
            self._keep(rel, read, written)

    def let_go(self) -> None:
        """The session is over and its accounting written: drop the files' caches (one path,
        read summary and display text per file)."""
        self._cache.clear()
        self._fresh.clear()
        self._recent.clear()
        self._files.clear()
        self._paths.clear()
        self._shown.clear()

    def _forget(self, rel: str) -> None:
        self._cache.pop(rel, None)
        self._fresh.discard(rel)
        self._recent.pop(rel, None)

    def _keep(self, rel: str, read: _Read, baseline: BaselineFile) -> None:
        recent = self._recent
        recent.pop(rel, None)
        recent[rel] = (read, baseline)
        if len(recent) > _RECENT_FILES:
            del recent[next(iter(recent))]  # the oldest (dicts keep insertion order)

    def _read(self, rel: str, again: bool = False) -> _Read | None:
        """The file at ``rel`` as last read, read again only when its mtime or size changed,
        or when ``again`` (None: there is none). The bytes' digest is kept for the verdict's
        checksum, so a file is read once per session, not once for the check and again for
        the checksum."""
        cached = self._cache.get(rel)
        path = self._base + rel
        if cached is not None and not again:
            if rel in self._fresh:
                return cached
            try:
                st = os.stat(path)
            except FileNotFoundError:
                return None
            if cached.mtime_ns == st.st_mtime_ns and cached.size == st.st_size:
                if self.finished:
                    self._fresh.add(rel)
                return cached
        self._fresh.discard(rel)
        try:
            st, raw = read_file(path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            unreadable = storage.BaselineFileError(self.shown(rel), f"cannot be read ({exc})")
            try:
                st = os.stat(path)
            except OSError:  # not even its status: say so now, and ask again next time
                return _Read(0, -1, _NO_BYTES, unreadable)
            cached = _Read(st.st_mtime_ns, st.st_size, _NO_BYTES, unreadable)
        else:
            digest = hashlib.sha256(raw).digest()
            try:
                baseline = storage.parse_bytes(rel, raw)
            except storage.BaselineFileError as exc:
                error = storage.BaselineFileError(self.shown(rel), exc.problem)
                cached = _Read(st.st_mtime_ns, st.st_size, digest, error)
            else:
                cached = _Read(st.st_mtime_ns, st.st_size, digest, FileSummary.of(baseline))
                self._keep(rel, cached, baseline)
        self._cache[rel] = cached
        if self.finished:  # read just now: the session end need not stat it again
            self._fresh.add(rel)
        return cached

    # ------------------------------------------------------------ accounting

    def note(self, key: str, entry: str) -> None:
        if entry not in self._listed[key]:
            self._listed[key].add(entry)
            self.lists[key].append(entry)
        if key in ("verified", "mismatched", "missing", "errors"):
            self.used.add(entry)

    def to_worker_output(self) -> dict[str, Any]:
        return {
            "lists": self.lists,
            "used": sorted(self.used),
            "collected": sorted(self.collected),
            "deselected": sorted(self.deselected),
            "collection_errors": self.collection_errors,
            "reads": self._reads_json(),
        }

    def _reads_json(self) -> str | None:
        """What this worker read (or wrote) of each file, summarised, as one JSON text: the
        controller's session end (checksum, provenance, observations not verified) then
        checks each file's status instead of reading, hashing, parsing and validating it a
        second time (issue 20: validation once per value). Files that could not be read
        are left out (the controller reads them, for its own error); None when a summary
        is not plain JSON data."""
        entries = [
            [rel, read.mtime_ns, read.size, read.digest.hex(), read.result.plain()]
            for rel, read in self._cache.items()
            if isinstance(read.result, FileSummary)
        ]
        try:
            return json.dumps(entries, allow_nan=False)
        except (TypeError, ValueError):
            return None

    def _adopt_reads(self, text: str) -> None:
        """A worker's ``_reads_json``: each file it read, as this process's cached read of
        it, unless this process read it itself. Nothing is marked current: ``_read`` checks
        each file's mtime and size first, and reads a file that changed since."""
        cache = self._cache
        for rel, mtime_ns, size, digest, summary in json.loads(text):
            if rel not in cache:
                read = _Read(mtime_ns, size, bytes.fromhex(digest), FileSummary.from_plain(summary))
                cache[rel] = read

    def merge(self, data: dict[str, Any]) -> None:
        """Add one xdist worker's part (from its ``workeroutput``)."""
        reads = data.get("reads")
        if isinstance(reads, str):
            self._adopt_reads(reads)
        for key, entries in data.get("lists", {}).items():
            for e in entries:
                if key in self.lists and e not in self._listed[key]:
                    self._listed[key].add(e)
                    self.lists[key].append(e)
        self.used.update(data.get("used", []))
        self.collected.update(data.get("collected", []))
        self.deselected.update(data.get("deselected", []))
        self.collection_errors = self.collection_errors or bool(data.get("collection_errors"))

    # ------------------------------------------------------------ recording

    def secrets(self) -> list[str]:
        """The target's secret values: redacted from every observation before it is kept."""
        return self.target.secret_values() if self.target is not None else []

    def deployment_version(self) -> Any:
        """The target's deployment version, redacted, read once: a baseline file's provenance."""
        if self._version is _UNSET:
            from pytest_deployverify.baseline.redaction import redact_observation

            self._version = redact_observation(_deployment_version(self.target), self.secrets())
        return self._version

    # ------------------------------------------------------------ session end

    def _scope_prefixes(self) -> list[Path] | None:
        """Baseline sub-directories this run's arguments cover (None: the whole directory)."""
        prefixes: list[Path] = []
        for arg in self.config.args:
            raw = str(arg).split("::", 1)[0]
            p = Path(raw)
            if not p.is_absolute():
                p = Path(self.config.invocation_params.dir) / p
            try:
                rel = p.resolve().relative_to(self.rootpath.resolve())
            except ValueError:
                continue
            if rel == Path("."):
                return None
            if p.suffix == ".py":
                prefixes.append(storage.module_dir(rel.as_posix()))
            else:
                prefixes.append(Path(*[storage.safe_component(s) for s in rel.parts]))
        return prefixes

    def narrowed_by_options(self) -> str | None:
        """Why the command line selects a subset of the suite (known before collection)."""
        opt = self.config.option
        if getattr(opt, "keyword", "") or getattr(opt, "markexpr", ""):
            return "-k/-m selected a subset"
        if getattr(opt, "lf", False) or getattr(opt, "deselect", None):
            return "--lf/--deselect selected a subset"
        if any("::" in str(a) for a in self.config.args):
            return "test ids were given on the command line"
        return None

    def whole_suite_selected(self) -> str | None:
        """None when the whole suite was collected and selected, else why not."""
        if self.collection_errors:
            return "collection had errors"
        if self.deselected:
            return f"{len(self.deselected)} tests were deselected"
        return self.narrowed_by_options()

    def all_files(self) -> list[str]:
        """Every baseline file in the directory (not a recording's temporaries), in path
        order, as POSIX paths relative to it (what ``summary`` takes)."""
        return self._listing()

    def _listing(self) -> list[str]:
        """``all_files``. os.walk, not Path.rglob: a session lists the directory twice, and
        rglob cost several times more per file."""
        root = os.fspath(self.root)
        found: list[tuple[str, ...]] = []
        for dirpath, _, names in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            parts = () if rel == "." else tuple(rel.split(os.sep))
            found.extend(
                (*parts, name)
                for name in names
                if name.endswith(".json") and not name.startswith(TMP_PREFIX)
            )
        found.sort()  # by path components, as Path objects sort
        return ["/".join(parts) for parts in found]

    def finish(self) -> None:
        """Session end (controller, or a run without xdist): accounting is now complete."""
        self.finished = True
        self.finalise()

    def in_use(self) -> bool:
        """The baseline session exists in every run; it counts once it recorded or compared.
        (Asked after every test until it does: the lists themselves, not ``accounting``'s
        copies of them.)"""
        if self.record_mode:
            return True
        lists = self.lists
        return bool(lists["verified"] or lists["mismatched"] or lists["missing"] or lists["errors"])

    def finalise(self) -> dict[str, Any]:
        """Compute unused files and unverified observations, delete unused files if asked.

        Only once the session has ended (``finished``): other components read
        ``accounting()`` during the run, when nothing can be called unused or unverified yet.
        """
        if self._final is not None:
            return self._final
        if not self.finished:
            return {"unused_files": [], "not_verified": []}
        files = self._listing()
        # no baseline files (a run that uses none): no test's file path is needed
        expected = {self.rel_for(n) for n in self.collected | self.deselected} if files else set()
        prefixes = self._scope_prefixes()
        unused: list[str] = []
        not_verified: list[str] = []
        for rel in files:
            parts = tuple(rel.split("/"))
            in_scope = prefixes is None or any(parts[: len(p.parts)] == p.parts for p in prefixes)
            if rel not in expected and in_scope:
                unused.append(rel)
                continue
            if self.record_mode or not (in_scope or rel in expected):
                continue  # baselines of tests outside this run's paths are not its business
            try:
                baseline = self.summary(rel)
            except storage.BaselineFileError as exc:
                entry = self.shown(rel)
                if not any(e.startswith(entry) for e in self.lists["errors"]):
                    self.note("errors", f"{entry}: {exc.problem}")
                continue
            if baseline is None:
                continue
            shown = self.shown(rel)
            for name in baseline.names:
                entry = f"{shown}::{name}"
                if entry not in self.used:
                    not_verified.append(entry)
        if self.delete_unused and unused:
            reason = self.whole_suite_selected()
            if reason is None:
                for rel in unused:
                    try:
                        os.unlink(self.os_path(rel))
                        self._forget(rel)
                        self.deleted.append(self.shown(rel))
                    except OSError as exc:
                        self.note("errors", f"{self.shown(rel)}: cannot delete ({exc})")
            else:
                self.delete_refused = delete_refusal(reason)
        if self.record_mode:
            storage.remove_stale_temporaries(self.root)
        self._final = {
            "unused_files": [self.shown(rel) for rel in unused],
            "not_verified": sorted(not_verified),
        }
        return self._final

    def accounting(self) -> dict[str, Any]:
        """The contract's accounting block (see docs/architecture.md)."""
        final = self.finalise()
        out: dict[str, Any] = {
            "record_mode": self.record_mode,
            "verified": list(self.lists["verified"]),
            "mismatched": list(self.lists["mismatched"]),
            "missing": list(self.lists["missing"]),
            "errors": list(self.lists["errors"]),
            "not_verified": list(final["not_verified"]),
            "unused_files": list(final["unused_files"]),
            "deleted_files": list(self.deleted),
            "fail_unverified": self.fail_unverified,
        }
        if self.record_mode:
            for key in ("written", "updated", "unchanged", "record_failed", "write_failed"):
                out[key] = list(self.lists[key])
        return out

    def failure_reason(self) -> str | None:
        """Why the baselines alone fail the run (``--fail-unverified``), else None."""
        acc = self.accounting()
        if self.fail_unverified and acc["not_verified"]:
            return (
                f"{len(acc['not_verified'])} stored baseline observations were not verified "
                "(--fail-unverified)"
            )
        return None

    def baseline_timings(self, nodeids: Any) -> dict[str, list[float]]:
        """Recorded timing samples per timing name for the given tests (contract)."""
        out: dict[str, list[float]] = {}
        if not self.root.is_dir():
            return out  # no baselines at all: no test's file path is needed
        for nodeid in nodeids:
            try:
                baseline = self.summary(self.rel_for(nodeid))
            except storage.BaselineFileError:
                continue
            if baseline is None:
                continue
            for name, samples in baseline.timings.items():
                out.setdefault(name, []).extend(samples)
        return out

    def identity(self) -> dict[str, Any]:
        """The verdict's baseline block: dir, checksum, files, provenance (contract)."""
        files = self._listing()
        digests: list[tuple[str, bytes]] = []
        recorded_from: set[str] = set()
        recorded_at: list[str] = []
        versions: list[Any] = []
        for rel in files:
            read = self._read(rel)
            if read is None:
                continue  # deleted since it was listed
            digests.append((rel, read.digest))
            baseline = read.result
            if isinstance(baseline, storage.BaselineFileError):
                continue
            if baseline.recorded_from:
                recorded_from.add(baseline.recorded_from)
            if baseline.recorded_at:
                recorded_at.append(baseline.recorded_at)
            if (
                baseline.deployment_version is not None
                and baseline.deployment_version not in versions
            ):
                versions.append(baseline.deployment_version)
        return {
            "dir": self.display(self.root),
            "checksum": storage.checksum(digests) if files else None,
            "files": len(files),
            "recorded_from": ", ".join(sorted(recorded_from)) or None,
            "recorded_at": max(recorded_at) if recorded_at else None,
            "deployment_version": versions[0] if len(versions) == 1 else (versions or None),
        }

    # ------------------------------------------------------------ terminal

    def summary_lines(self) -> list[str]:
        acc = self.accounting()
        lines = []
        if self.record_mode:
            lines.append(
                f"deployverify baselines (recorded into {self.display(self.root)}, "
                f"{self.record_runs} runs): {len(acc['written'])} written, "
                f"{len(acc['updated'])} updated, {len(acc['unchanged'])} unchanged"
                + (
                    f", {len(acc['record_failed'])} not written (test failed)"
                    if acc["record_failed"]
                    else ""
                )
                + (
                    f", {len(acc['write_failed'])} not written (write failed)"
                    if acc["write_failed"]
                    else ""
                )
            )
        else:
            lines.append(
                f"deployverify baselines: {len(acc['verified'])} verified, "
                f"{len(acc['mismatched'])} mismatched, {len(acc['missing'])} missing, "
                f"{len(acc['not_verified'])} not verified, {len(acc['unused_files'])} unused files"
                + (f", {len(acc['errors'])} unreadable" if acc["errors"] else "")
            )
        for key, title in (
            ("missing", "missing"),
            ("errors", "unreadable"),
            ("not_verified", "not verified"),
            ("unused_files", "unused file"),
            ("record_failed", "not recorded, the test failed"),
            ("write_failed", "not written"),
        ):
            entries = acc.get(key, [])
            for e in entries[:20]:
                lines.append(f"  {title}: {e}")
            if len(entries) > 20:
                lines.append(f"  ... and {len(entries) - 20} more {title}")
        for path in self.deleted:
            lines.append(f"  deleted unused: {path}")
        if acc["unused_files"] and not self.deleted and not self.delete_refused:
            lines.append(
                "  delete unused files with --delete-unused-baselines (whole-suite runs only)"
            )
        if self.delete_refused:
            lines.append(f"  {self.delete_refused}")
        if acc["not_verified"] and self.fail_unverified:
            lines.append("  --fail-unverified: unverified observations fail this run")
        return lines


def delete_refusal(reason: str) -> str:
    return (
        f"--delete-unused-baselines refused: {reason}; unused baseline files are only deleted "
        "after a run of the whole suite (no -k/-m, test ids, --lf or deselection)"
    )


_UNSET = object()


def _deployment_version(target: Target | None) -> Any:
    """The target's deployment version, as the core read it once at activation.

    The core GETs the target's ``version_path`` (with auth, or not at all when it is off);
    None means the target has none. Provenance is informative, never a test failure.
    """
    value = target.deployment_version if target is not None else None
    if not value:
        return None
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return value if isinstance(value, str | int | float) else str(value)


BASELINE_KEY = pytest.StashKey[BaselineSession]()


def session_of(config: pytest.Config) -> BaselineSession | None:
    """The session's ``BaselineSession`` (kept on the stash by the session object), for the
    components below it that need its samples (perf's timing reference)."""
    return config.stash.get(BASELINE_KEY, None)
