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

    def __post_init__(self) -> None:
        check_fields(self)

    def with_seed(self) -> SearchSettings:
        """The same settings with a concrete seed."""
        if self.seed is not None:
            return self
        return replace(self, seed=int.from_bytes(os.urandom(4), "little"))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)
