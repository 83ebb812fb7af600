"""Whether a model is told the four-stage format, and where.

General models (every catalog family) were never trained on SUMMARY / CAPTION / REASONING /
CONCLUSION: they get the format instruction (a setting, stagelens.settings' ``format_instruction``)
in the system turn, or at the start of the first user turn when the chat template has no system
role. Models trained on the format get none: a GGUF that says so (``stagelens.trained_format``,
written by the demo model's export) or one of the models shipped before that key existed, known by
``general.name``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TRAINED_FORMAT_KEY = "stagelens.trained_format"
# general.name of models trained on the format before the key above existed: the demo model as shipped
TRAINED_FORMAT_NAMES = ("stagelens-demo-shapes",)


def trained_on_format(meta: dict[str, str | None]) -> bool:
    """From the GGUF's metadata as llama.cpp reports it (values as strings)."""
    flag = meta.get(TRAINED_FORMAT_KEY)
    if flag is not None:
        return flag.strip().lower() in ("true", "1")
    return meta.get("general.name") in TRAINED_FORMAT_NAMES


@dataclass(frozen=True)
class FormatPrompt:
    """What the model is told about the format, for the trace."""

    instruction: str | None  # None: nothing
    placement: str  # "system" | "first user turn" | "none"
    reason: str  # why (for people)

    def to_json(self) -> dict[str, Any]:
        return {"format_instruction": self.instruction, "placement": self.placement, "reason": self.reason}


def format_prompt(setting: str, trained: bool, system_role: bool) -> FormatPrompt:
    if trained:
        return FormatPrompt(None, "none", "the model was trained on the four-stage format")
    if not setting.strip():
        return FormatPrompt(None, "none", "the format instruction setting is empty")
    if system_role:
        return FormatPrompt(setting, "system", "the model was not trained on the format")
    return FormatPrompt(
        setting, "first user turn", "the model was not trained on the format; its chat template has no system role"
    )
