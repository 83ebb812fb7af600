"""The four stages of an answer (LLaVA-CoT), in order. The engine's prompt text, the stage tags,
the window's panels and the demo model's training scenes are all derived from this tuple."""

from __future__ import annotations

STAGE_NAMES: tuple[str, ...] = ("summary", "caption", "reasoning", "conclusion")
FINAL_STAGE = STAGE_NAMES[-1]  # the stage the user reads as the answer
