"""What a question is answered with. Defaults and allowed values are the table's; the check runs
on construction."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, replace
from typing import Any

from stagelens.settings.checked import check_fields
from stagelens.settings.table import (
    bool_default,
    float_default,
    int_default,
    optional_int_default,
    setting,
    str_default,
)

SCORERS = setting("scorer").allowed_choices("code")
MODES = setting("mode").allowed_choices("code")


@dataclass(frozen=True)
class SearchSettings:
    beam: int = int_default("beam")
    scorer: str = str_default("scorer")
    temperature: float = float_default("temperature")
    top_p: float = float_default("top_p")
    top_k: int = int_default("top_k")
    seed: int | None = optional_int_default("seed")  # None: a fresh random seed, recorded in the trace
    max_stage_tokens: int = int_default("max_stage_tokens")
    force_stages: bool = bool_default("force_stages")
    format_instruction: str = str_default("format_instruction")  # "": none (see Engine: trained models get none)
    mode: str = str_default("mode")
    retrace: int = int_default("retrace")  # at most this many retraces per answer (stage-level search only)
    retrace_margin: float = float_default("retrace_margin")
    best_of: int = int_default("best_of")  # > 1: best-of-N whole answers; beam is then not used

    def __post_init__(self) -> None:
        check_fields(self)
        if self.best_of > 1 and self.retrace > 0:
            raise ValueError(
                "retracing goes back one stage of a stage-level search; best-of-N has no stages to retrace"
            )
        if self.best_of > 1 and self.mode != "batched":
            raise ValueError("best-of-N runs in batched mode only (the reference cost model is stage-level search's)")

    @property
    def width(self) -> int:
        """Sequences the search decodes together: the beam, or best-of-N's answers."""
        return self.best_of if self.best_of > 1 else self.beam

    def with_seed(self) -> SearchSettings:
        """The same settings with a concrete seed."""
        if self.seed is not None:
            return self
        return replace(self, seed=int.from_bytes(os.urandom(4), "little"))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
