"""Response mutation testing: would any check notice if this field were wrong?

After the clean run (``--mutate-responses``), mutants are chosen from the response fields that
run saw (:mod:`fieldcoverage`): one operator on one path of one route - a value changed, a
number bumped, a boolean flipped, a timestamp shifted, a key removed, a list's item dropped or
its order reversed, a header stripped. Each mutant reruns, in a fresh ``pytest`` subprocess
against the same target, the tests that received that route and passed; that process's
client alters the field in every response of the route as it is received (never what it
sends). A mutant is *killed* when a test or a check failed there, else it *survived*.

Why subprocesses (docs/decisions.md): a mutant's run must not leak into the clean run's
verdict, baseline accounting, report or alerts, and a mutant that hangs a test must be
killable; a child process gives that isolation for the price of its start-up.

Deterministic: candidates are enumerated in a fixed order and shuffled by ``--mutate-seed``.
Bounded: ``--mutate-max`` mutants and ``--mutate-time`` seconds in all. Safe on a protected
environment: requests are never altered (an altered ID sent back is restored), IDs the clean
run sent back and the fields the pipeline follower bases clean-up on are never mutated, and
the child's uploads are deleted by its own teardown like any run's.
"""

from __future__ import annotations

import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pytest_deployverify.config import Target
from pytest_deployverify.fieldcoverage import (
    HEADER,
    FieldCoverage,
    route_of,
)
from pytest_deployverify.mutation_operators import OPERATORS
from pytest_deployverify.mutation_runner import MUTANT_ENV, MutantSpec, MutationBlock
from pytest_deployverify.settings import FieldSettings

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
#: headers a mutant may strip: what a client could depend on (not Date, Server, lengths)
_SKIP_HEADERS = frozenset(
    {"date", "server", "content-length", "connection", "keep-alive", "transfer-encoding"}
)


@dataclass
class Mutant:
    id: str
    route: str
    path: str
    operator: str
    tests: list[str]
    outcome: str = "not_run"  # killed | survived | not_run | error
    killed_by: list[str] = field(default_factory=list)
    seconds: float = 0.0
    detail: str = ""

    @property
    def description(self) -> str:
        where = f"header {self.path}" if self.operator == "strip_header" else self.path
        return f"{self.route} {where}: {OPERATORS[self.operator]}"


# ---------------------------------------------------------------- choosing mutants


def operators_for(path: str, example: Any) -> list[str]:
    """The operators that make sense for a leaf path with this example value."""
    ops: list[str] = []
    if isinstance(example, bool):
        ops.append("flip")
    elif isinstance(example, (int, float)):
        ops.append("bump")
    elif isinstance(example, str):
        ops.append("shift_time" if _TIMESTAMP.match(example) else "change")
    elif example is None:
        ops.append("fill")
    if example is not None and not (isinstance(example, (dict, list)) and not example):
        ops.append("null")
    if not path.endswith("[*]") and path != "$":
        ops.append("remove")
    return ops


def likely_killers_first(
    tests: Iterable[str], touched_by: Iterable[str], durations: Mapping[str, float]
) -> list[str]:
    """``tests`` in the order a mutant child runs them: those that touched the field first
    (a check of it is the likely killer), each group quickest first (by the clean run's
    ``durations``), then by node ID. The child stops at the first failure, so a killed
    mutant costs its first killer's run, not every test's."""
    touching = set(touched_by)
    return sorted(tests, key=lambda t: (t not in touching, durations.get(t, 0.0), t))


def candidates(
    cov: FieldCoverage,
    passed: set[str],
    excluded: Mapping[tuple[str, str], str],
    headers: Mapping[str, Iterable[str]],
    durations: Mapping[str, float] | None = None,
) -> list[Mutant]:
    """Every mutant the clean run makes possible, in a fixed order (ids assigned later);
    each one's tests ordered by :func:`likely_killers_first`."""
    out: list[Mutant] = []
    took = durations or {}
    for route in sorted(cov.routes):
        paths = cov.routes[route]
        route_tests: set[str] = set()
        lists: dict[str, tuple[set[str], set[str]]] = {}
        for path in sorted(paths):
            entry = paths[path]
            tests = entry.nodeids & passed
            route_tests.update(tests)
            if not tests or (route, path) in excluded or cov.declared(route, path):
                continue
            ordered = likely_killers_first(tests, entry.touched_by, took)
            for op in operators_for(path, entry.example):
                out.append(Mutant("", route, path, op, ordered))
            head = path
            while "[*]" in head:
                head = head[: head.rindex("[*]")]
                received, touching = lists.setdefault(head, (set(), set()))
                received.update(tests)
                touching.update(entry.touched_by)
        for head in sorted(lists):
            if cov.declared(route, head):
                continue
            ordered = likely_killers_first(*lists[head], took)
            for op in ("drop_item", "reorder"):
                out.append(Mutant("", route, head, op, ordered))
        for name in sorted(headers.get(route, ())):
            if cov.declared(route, HEADER + name):
                continue
            if route_tests and name.lower() not in _SKIP_HEADERS:
                ordered = likely_killers_first(route_tests, (), took)
                out.append(Mutant("", route, name, "strip_header", ordered))
    return out


def choose(all_mutants: list[Mutant], seed: int, limit: int) -> list[Mutant]:
    """``limit`` mutants drawn with ``seed`` (same seed and clean run, same mutants)."""
    picked = list(all_mutants)
    random.Random(seed).shuffle(picked)
    picked = picked[: max(0, limit)]
    for i, m in enumerate(picked, 1):
        m.id = f"m{i}"
    return picked


# ---------------------------------------------------------------- running them


def _excluded(cov: FieldCoverage, target: Target | None) -> dict[tuple[str, str], str]:
    """Paths never mutated, for safety: IDs the client sent back, and the fields the
    pipeline follower's clean-up depends on in the upload response."""
    out: dict[tuple[str, str], str] = {}
    for route, paths in cov.routes.items():
        for path, entry in paths.items():
            if "used" in entry.kinds:
                out[(route, path)] = "sent back to the target in a later request"
    profile = target.profile if target is not None else None
    if profile is not None:
        upload = route_of("POST", profile.upload_path)
        for name in (profile.document_id_field, profile.job_id_field, profile.duplicate_field):
            if name:
                out[(upload, "$." + name)] = "the pipeline follower's clean-up depends on it"
    return out


def run_mutants(
    config: pytest.Config,
    cfg: FieldSettings,
    cov: FieldCoverage,
    passed: set[str],
    target: Target | None,
    durations: Mapping[str, float] | None = None,
) -> MutationBlock:
    """Choose, run and judge the mutants: the verdict's ``mutation`` block."""
    seed, limit, budget = cfg.mutate_seed, cfg.mutate_max, cfg.mutate_time
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    pool = candidates(cov, passed, _excluded(cov, target), cov.headers, durations)
    mutants = choose(pool, seed, limit)
    started = time.monotonic()
    if reporter is not None:
        reporter.write_sep("-", f"deployverify: {len(mutants)} response mutants (seed {seed})")
    if target is not None and mutants:
        with tempfile.TemporaryDirectory(prefix="dv-mutants-") as tmp:
            for m in mutants:
                left = budget - (time.monotonic() - started)
                if left <= 1:
                    break
                _run_one(config, target, m, Path(tmp), left)
                if reporter is not None:
                    who = f" by {', '.join(m.killed_by[:2])}" if m.killed_by else ""
                    reporter.write_line(f"  {m.id} {m.outcome}{who}: {m.description}")
    return _block(mutants, seed, len(pool), time.monotonic() - started, cov)


def _block(
    mutants: list[Mutant], seed: int, pool: int, seconds: float, cov: FieldCoverage
) -> MutationBlock:
    killed = sum(1 for m in mutants if m.outcome == "killed")
    survived = sum(1 for m in mutants if m.outcome == "survived")
    return {
        "seed": seed,
        "candidates": pool,
        "killed": killed,
        "survived": survived,
        "not_run": sum(1 for m in mutants if m.outcome == "not_run"),
        "errors": sum(1 for m in mutants if m.outcome == "error"),
        "score": round(killed / (killed + survived), 4) if killed + survived else None,
        "seconds": round(seconds, 2),
        "mutants": [
            {
                **{k: v for k, v in asdict(m).items() if k != "detail"},
                "description": m.description,
                "seconds": round(m.seconds, 2),
                "declared": None,
                **({"detail": m.detail} if m.detail else {}),
            }
            for m in mutants
        ],
    }


def child_args(config: pytest.Config, tests: Sequence[str], tmp: Path) -> list[str]:
    """The mutant run's pytest command line: the same options that choose the target and
    baseline, its own verdict and report files, stop at the first failure."""
    from pytest_deployverify import settings
    from pytest_deployverify.rollback import same_target_args

    args = [sys.executable, "-m", "pytest", *tests, "-p", "no:cacheprovider", "-x", "-q"]
    args += ["-p", "no:xdist"] if config.pluginmanager.hasplugin("xdist") else []
    args += same_target_args(settings.get(config))
    args += ["--verdict-file", str(tmp / "verdict.json"), "--report-dir", str(tmp / "reports")]
    return args


def child_env(tmp: Path) -> dict[str, str]:
    """A mutant child's environment: the re-check's (no alerts), with compiled modules
    cached in the mutation run's temporary directory. With bytecode writing off
    (``PYTHONDONTWRITEBYTECODE``) every child would compile the plugin, the suite and
    pytest's rewritten test modules again (~0.6 s CPU each); the cache lives and dies with
    the run and writes nothing into the project."""
    from pytest_deployverify.rollback import recheck_env

    env = recheck_env()
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.setdefault("PYTHONPYCACHEPREFIX", str(tmp / "pycache"))
    return env


def _run_one(config: pytest.Config, target: Target, m: Mutant, tmp: Path, left: float) -> None:
    from pytest_deployverify.rollback import run_bounded, tail

    where = tmp / m.id
    where.mkdir()
    spec = where / "mutant.json"
    content: MutantSpec = {
        "mutant": {"route": m.route, "path": m.path, "operator": m.operator},
        "target": target.to_wire(),
    }
    spec.write_text(json.dumps(content), encoding="utf-8")
    spec.chmod(0o600)
    env = child_env(tmp)
    env[MUTANT_ENV] = str(spec)
    done = run_bounded(
        child_args(config, m.tests, where), timeout=left, cwd=config.rootpath, env=env
    )
    m.seconds = done.duration_s
    if done.timed_out or done.error:
        m.outcome = "not_run" if done.timed_out else "error"
        m.detail = done.error or ""
        return
    try:
        verdict = json.loads((where / "verdict.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        m.outcome = "error"
        m.detail = tail(done.output, target.secret_values(), 400)
        return
    failed = [
        t["nodeid"] for t in verdict.get("tests") or [] if t.get("outcome") in ("failed", "error")
    ]
    checks = [
        str(c.get("name"))
        for c in verdict.get("checks") or []
        if c.get("outcome") in ("fail", "error")
    ]
    m.killed_by = failed or sorted(set(checks))
    m.outcome = "killed" if m.killed_by else "survived"
