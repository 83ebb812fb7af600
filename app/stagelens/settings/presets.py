"""Answer presets: named choices of how hard each answer is searched for, for people who would
rather not set a beam width. The window shows the label, the one-line explanation and an estimate
of the time relative to Fast (stagelens.session.timing measures it on the current model).

Each preset fixes the beam, the scorer and the temperature (and searches without retracing or
best-of-N); the stage token budget stays the user's. Custom uses the numbers in the settings (what
StageLens asked before there were presets), retracing and best-of-N included.
Balanced is the table's default search, so a new user's answers are searched as before.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from stagelens.settings.search import SearchSettings
from stagelens.settings.table import float_default, int_default, setting, str_default

if TYPE_CHECKING:
    from stagelens.settings.stored import AppSettings

# The prior cost model, before anything was measured on the current model (see relative_cost).
# Measured with `stagelens bench` on the bench test model (2 CPU cores, 48-token stages, medians
# of 3): beam 2 took 1.3x and beam 4 1.9x the time of beam 1 (batched decoding: each extra
# candidate costs about 0.3 of the first), and the judge's comparisons added about 0.25 per
# extra candidate.
EXTRA_CANDIDATE_COST = 0.3
JUDGE_COMPARISON_COST = 0.25


@dataclass(frozen=True)
class Preset:
    name: str  # a choice of the "preset" setting
    explanation: str  # one line, for the picker
    beam: int | None = None  # None: the settings' own number (custom)
    scorer: str | None = None
    temperature: float | None = None
    retrace: int | None = None
    best_of: int | None = None

    @property
    def label(self) -> str:
        return setting("preset").choice_label(self.name)


PRESETS: tuple[Preset, ...] = (
    Preset("fast", "One candidate per stage, the likeliest words (greedy).", 1, "logprob", 0.0, 0, 1),
    Preset(
        "balanced",
        "Two candidates per stage; the likelier one goes on.",
        int_default("beam"),
        str_default("scorer"),
        float_default("temperature"),
        int_default("retrace"),
        int_default("best_of"),
    ),
    Preset(
        "thorough",
        "Four candidates per stage, judged in pairs by the model.",
        4,
        "judge",
        float_default("temperature"),
        int_default("retrace"),
        int_default("best_of"),
    ),
    Preset("custom", "Your own beam width, scorer, temperature, retracing or best-of-N (Settings)."),
)
PRESET_NAMES = tuple(p.name for p in PRESETS)
FAST = PRESETS[0]
if setting("preset").choices != PRESET_NAMES:
    raise RuntimeError("every choice of the preset setting is described in PRESETS, in the same order")


def preset(name: str) -> Preset:
    try:
        return next(p for p in PRESETS if p.name == name)
    except StopIteration:
        raise KeyError(f"no preset is called {name!r} (the presets: {', '.join(PRESET_NAMES)})") from None


@dataclass(frozen=True)
class SearchChoice:
    """What a preset searches with, given the user's settings."""

    beam: int
    scorer: str
    temperature: float
    retrace: int = int_default("retrace")
    best_of: int = int_default("best_of")


def search_choice(settings: AppSettings, name: str | None = None) -> SearchChoice:
    """The beam, scorer, temperature, retraces and best-of of preset `name` (default: the settings' preset)."""
    chosen = preset(name or settings.preset)
    return SearchChoice(
        chosen.beam if chosen.beam is not None else settings.beam,
        chosen.scorer if chosen.scorer is not None else settings.scorer,
        chosen.temperature if chosen.temperature is not None else settings.temperature,
        chosen.retrace if chosen.retrace is not None else settings.retrace,
        chosen.best_of if chosen.best_of is not None else settings.best_of,
    )


def search_settings(settings: AppSettings, name: str | None = None) -> SearchSettings:
    choice = search_choice(settings, name)
    best_of = choice.best_of
    return replace(
        SearchSettings(),
        beam=choice.beam,
        scorer=choice.scorer,  # best-of-N ranks whole answers with it
        temperature=choice.temperature,
        retrace=0 if best_of > 1 else choice.retrace,  # best-of-N has no stage to go back to
        best_of=best_of,
        max_stage_tokens=settings.max_stage_tokens,
        format_instruction=settings.format_instruction,
    )


def preset_beams() -> tuple[int, ...]:
    """The beam widths the presets use (the engine is loaded for all of them: no reload to switch)."""
    return tuple(p.beam for p in PRESETS if p.beam is not None)


def preset_named_by(settings: AppSettings) -> str:
    """The preset whose numbers these settings hold (custom when none does)."""
    numbers = (settings.beam, settings.scorer, settings.temperature, settings.retrace, settings.best_of)
    for p in PRESETS:
        if p.beam is not None and (p.beam, p.scorer, p.temperature, p.retrace, p.best_of) == numbers:
            return p.name
    return "custom"


def relative_cost(beam: int, scorer: str) -> float:
    """The prior estimate of an answer's thinking time relative to Fast (beam 1):
    1 + EXTRA_CANDIDATE_COST per extra candidate, + JUDGE_COMPARISON_COST per extra candidate when
    the judge compares them (a knockout of `beam` candidates is beam - 1 comparisons)."""
    extra = max(0, beam - 1)
    judged = extra if scorer == "judge" and beam > 1 else 0
    return 1.0 + EXTRA_CANDIDATE_COST * extra + JUDGE_COMPARISON_COST * judged
