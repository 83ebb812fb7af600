"""What a question is answered with: search settings and model-loading settings."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, replace

SCORERS = ("logprob", "judge", "python")
MODES = ("batched", "reference")


@dataclass(frozen=True)
class SearchSettings:
    beam: int = 2
    scorer: str = "logprob"
    temperature: float = 0.6
    top_p: float = 0.9
    top_k: int = 40
    seed: int | None = None  # None: a fresh random seed, recorded in the trace
    max_stage_tokens: int = 160
    force_stages: bool = True
    mode: str = "batched"

    def __post_init__(self) -> None:
        if self.beam < 1:
            raise ValueError(f"beam must be at least 1, got {self.beam}")
        if self.scorer not in SCORERS:
            raise ValueError(f"scorer must be one of {', '.join(SCORERS)}, got {self.scorer!r}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.temperature < 0:
            raise ValueError("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.max_stage_tokens < 1:
            raise ValueError("max_stage_tokens must be positive")
        if self.seed is not None and not 0 <= self.seed < 2**32:
            raise ValueError("seed must be in 0 .. 2**32-1")

    def with_seed(self) -> SearchSettings:
        """The same settings with a concrete seed."""
        if self.seed is not None:
            return self
        return replace(self, seed=int.from_bytes(os.urandom(4), "little"))

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class LoadSettings:
    model: str
    mmproj: str | None
    n_gpu_layers: int = 0
    n_ctx: int = 8192
    n_batch: int = 1024
    n_threads: int = 0  # 0: one per core (up to 4 cores), else half the cores
    max_beam: int = 8  # sequences are reserved for this many candidates
    image_max_side: int = 768
    extra: dict = field(default_factory=dict)
