"""What a model is loaded with. Defaults and allowed values are the table's; the check runs on
construction (the model files themselves are checked by the engine)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stagelens.settings.checked import check_fields
from stagelens.settings.table import int_default, str_default

# llama.cpp's enum llama_flash_attn_type for each choice of the flash_attn setting
FLASH_ATTN_TYPES = {"auto": -1, "off": 0, "on": 1}


@dataclass(frozen=True)
class LoadSettings:
    model: str
    mmproj: str | None
    n_gpu_layers: int = int_default("n_gpu_layers")
    n_ctx: int = int_default("n_ctx")
    n_batch: int = int_default("n_batch")
    flash_attn: str = str_default("flash_attn")  # auto | on | off
    n_threads: int = int_default("n_threads")  # 0: one per core (up to 4 cores), else half the cores
    max_beam: int = int_default("max_beam")  # sequences are reserved for this many candidates
    image_max_side: int = int_default("image_max_side")
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_fields(self)


def max_beam_for(*beams: int) -> int:
    """The max_beam to load with so every one of these beam widths can run (never below the default)."""
    return max((int_default("max_beam"), *beams))


def flash_attn_type(choice: str) -> int:
    """llama.cpp's value for a flash_attn choice."""
    return FLASH_ATTN_TYPES[choice]
