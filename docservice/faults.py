"""Fault switches: each one reproduces a way the original deployment broke while looking healthy.

They are read from ``DOCSERVICE_FAULTS="name[=value],..."`` (the launcher's ``--fault`` flags
end up there too) so every process of one deployment sees the same set. See
docs/docservice.md for what each switch does and how a verifier can notice it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from docservice.statuses import STATUSES

#: name -> (takes a value?, one-line description used in errors and --help)
FAULTS: dict[str, tuple[bool, str]] = {
    "worker_down": (False, "the launcher starts no worker: jobs stay 'uploaded', health is 503"),
    "parser_mock": (False, "the parser reports itself as mock-llamaparse (non-deterministic)"),
    "schema_drift": (False, "migration 0002 is not applied: chunking fails (failed_chunking)"),
    "stall_at": (True, "jobs silently stop at this status; the heartbeat continues"),
    "vectors_not_written": (False, "status reaches complete but no vector is stored"),
    "instant_complete": (False, "jobs jump to complete with no work and identical timestamps"),
    "clock_skew": (True, "every server timestamp is shifted by this many seconds"),
    "empty_status": (False, "the job/document status field is served as null"),
    "config_drift": (False, "chunker markdown-simple@2 and 768-dimension embeddings"),
    "webhook_unsigned_ok": (False, "parser webhooks are accepted without a valid signature"),
    "health_lies": (False, "embeddings URL points at a dead port but /health says healthy"),
    "parser_down": (False, "parser URL points at a dead port: every parse fails (failed_parse)"),
    "drop_correlation": (False, "correlation IDs are neither echoed, stored nor propagated"),
    "slow": (True, "every pipeline stage takes this factor longer"),
    "slow_upload": (True, "the upload API answers this many seconds later (stages unchanged)"),
    "dedup_broken": (False, "the same bytes from the same user get a new document id each time"),
    "metrics_frozen": (False, "/metrics serves every series but its counters never move"),
}


class FaultError(ValueError):
    """A DOCSERVICE_FAULTS / --fault value that cannot be understood."""


def _usage() -> str:
    return ", ".join(f"{n}=<value>" if v else n for n, (v, _) in FAULTS.items())


@dataclass(frozen=True)
class Faults:
    """The active fault switches of one deployment (empty in a healthy one)."""

    active: dict[str, str] = field(default_factory=dict)

    def __contains__(self, name: str) -> bool:
        return name in self.active

    def __bool__(self) -> bool:
        return bool(self.active)

    @property
    def stall_at(self) -> str | None:
        return self.active.get("stall_at")

    @property
    def clock_skew_s(self) -> float:
        return float(self.active.get("clock_skew", "0"))

    @property
    def slow_factor(self) -> float:
        return float(self.active.get("slow", "1"))

    @property
    def slow_upload_s(self) -> float:
        return float(self.active.get("slow_upload", "0"))

    def to_env(self) -> str:
        """Serialise back to the DOCSERVICE_FAULTS syntax."""
        return ",".join(k if v == "" else f"{k}={v}" for k, v in self.active.items())


def parse_faults(*specs: str | None) -> Faults:
    """Parse one or more ``name[=value],...`` strings into :class:`Faults`.

    Raises FaultError with a one-paragraph message naming the bad entry and the valid
    names, so a typo in a launcher flag never silently runs a healthy deployment.
    """
    active: dict[str, str] = {}
    for spec in specs:
        for raw in (spec or "").split(","):
            item = raw.strip()
            if not item:
                continue
            name, sep, value = item.partition("=")
            name, value = name.strip(), value.strip()
            if name not in FAULTS:
                raise FaultError(
                    f"unknown fault {name!r} in DOCSERVICE_FAULTS/--fault {item!r}; "
                    f"valid faults: {_usage()}"
                )
            needs_value = FAULTS[name][0]
            if needs_value and not sep:
                raise FaultError(
                    f"fault {name!r} needs a value ({name}=<value>), got {item!r}; "
                    f"e.g. stall_at=chunking, clock_skew=3600, slow=3, slow_upload=0.5"
                )
            if not needs_value and sep:
                raise FaultError(f"fault {name!r} takes no value, got {item!r}; write just {name}")
            _check_value(name, value, item)
            active[name] = value
    return Faults(active)


def _check_value(name: str, value: str, item: str) -> None:
    if name == "stall_at" and value not in STATUSES:
        raise FaultError(
            f"fault {item!r}: {value!r} is not a status; use one of {', '.join(STATUSES)}"
        )
    if name in ("clock_skew", "slow", "slow_upload"):
        try:
            number = float(value)
        except ValueError:
            raise FaultError(f"fault {item!r}: {value!r} is not a number") from None
        if name == "slow" and number < 1:
            raise FaultError(f"fault {item!r}: the slow factor must be >= 1")
        if name == "slow_upload" and not 0 <= number <= 60:
            raise FaultError(f"fault {item!r}: the upload delay must be 0-60 seconds")
