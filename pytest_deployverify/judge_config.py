"""How one timing is judged (:class:`JudgeConfig`): the settings of :mod:`judge`'s rule,
validated when they are made.

Apart from the judge so that reading the configuration (``perf_config``, at every session's
start) does not load the statistics, which only a session with timings needs.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class JudgeConfig:
    """How one timing is judged. Every field can be set globally and per timing."""

    allowed_ratio: float = 1.2
    confidence: float = 0.98
    min_samples: int = 5
    #: medians closer than this (seconds) always pass
    abs_floor_s: float = 0.05
    #: the ratio estimate must exceed this to fail (None: the allowed ratio)
    effect_floor: float | None = None
    #: a pass needs a slowdown beyond this ruled out (None: 1 + 2 * (allowed_ratio - 1))
    pass_ratio: float | None = None
    #: the chance of passing a timing that is really ``pass_limit`` times slower (beta)
    pass_error: float = 0.05
    #: target samples between two sequential looks
    look_every: int = 5
    #: the most target samples ``timings.sample`` takes by default
    max_samples: int = 50

    def __post_init__(self) -> None:
        if not self.allowed_ratio > 1.0:
            raise ValueError(f"allowed ratio must be above 1.0, got {self.allowed_ratio!r}")
        if not 0.5 < self.confidence < 1.0:
            raise ValueError(f"confidence must be between 0.5 and 1, got {self.confidence!r}")
        if self.min_samples < 2:
            raise ValueError(f"min_samples must be at least 2, got {self.min_samples!r}")
        if self.abs_floor_s < 0:
            raise ValueError(f"abs_floor_s must not be negative, got {self.abs_floor_s!r}")
        if self.effect_floor is not None and self.effect_floor < 1.0:
            raise ValueError(f"effect_floor must be at least 1.0, got {self.effect_floor!r}")
        if self.pass_ratio is not None and self.pass_ratio < self.allowed_ratio:
            raise ValueError(
                f"pass_ratio must be at least the allowed ratio {self.allowed_ratio!r}, "
                f"got {self.pass_ratio!r}"
            )
        if not 0.0 < self.pass_error < 0.5:
            raise ValueError(f"pass_error must be between 0 and 0.5, got {self.pass_error!r}")
        if self.look_every < 1:
            raise ValueError(f"look_every must be at least 1, got {self.look_every!r}")
        if self.max_samples < self.min_samples:
            raise ValueError(
                f"max_samples ({self.max_samples!r}) must be at least min_samples "
                f"({self.min_samples!r})"
            )

    @property
    def floor(self) -> float:
        return self.allowed_ratio if self.effect_floor is None else self.effect_floor

    @property
    def alpha(self) -> float:
        """One-sided fail level of a single timing: an unchanged timing fails at most this often."""
        return (1.0 - self.confidence) / 2.0

    @property
    def pass_limit(self) -> float:
        if self.pass_ratio is not None:
            return self.pass_ratio
        return 1.0 + 2.0 * (self.allowed_ratio - 1.0)
