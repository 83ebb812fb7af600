"""`stagelens bench --turns N`: one conversation of N turns (the first with the image, then text
follow-ups), each answered after the ones before it on the same engine, as the window asks them.
Every follow-up should read only its own turn (the conversation before it stays in the KV cache), so
its prompt tokens equal its own segment's and its wall time stays flat however long the conversation
grows."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from stagelens.engine import Engine, PastTurn, SearchSettings, Trace, UserTurn
from stagelens.images import PreparedImage

FOLLOW_UPS = (
    "Which of them is closest to the edge of the table?",
    "What colour is the table itself?",
    "Is anything standing behind the cups?",
    "How would you describe the lighting?",
)


@dataclass
class TurnRow:
    turn: int  # 1 is the question with the image
    wall_s: float  # median over the repeats
    prompt_tokens: int  # what the turn read before its first stage (Stats.prompt_tokens)
    own_tokens: int  # its own segment, less the unit each candidate decodes itself
    held_tokens: int  # what the conversation held before it: read again if the cache were lost
    image_encodes: int
    decode_tokens: int
    vs_first_follow_up: float | None = None  # wall / the second turn's wall

    @property
    def read_own_turn_only(self) -> bool:
        return self.prompt_tokens == self.own_tokens


def question(turn: int) -> str:
    """The conversation's questions: the bench's own first, then the follow-ups, round again if needed."""
    from stagelens.bench.runner import QUESTION

    return QUESTION if turn == 1 else FOLLOW_UPS[(turn - 2) % len(FOLLOW_UPS)]


def cells(units: Sequence[object]) -> int:
    """KV cells of units: a token takes one, an image chunk its n_tokens."""
    return sum(1 if isinstance(u, int) else int(getattr(u, "n_tokens")) for u in units)  # noqa: B009


def _conversation(engine: Engine, image: PreparedImage, settings: SearchSettings, turns: int) -> list[Trace]:
    engine.reset_cache()
    history: list[PastTurn] = []
    traces = []
    for turn in range(1, turns + 1):
        asked = UserTurn(question(turn), (image,) if turn == 1 else ())
        trace = engine.answer(asked, history, settings=settings)
        traces.append(trace)
        history.append(PastTurn(asked, trace.assistant_text, tuple(trace.assistant_tokens), trace.model.key))
    return traces


def run_turns(engine: Engine, image: PreparedImage, settings: SearchSettings, turns: int, repeat: int) -> list[TurnRow]:
    """The conversation `repeat` times (same seed, so the same tokens); each turn's median wall time."""
    runs = [_conversation(engine, image, settings, turns) for _ in range(max(1, repeat))]
    first = runs[0]
    rows: list[TurnRow] = []
    held = 0
    for index, trace in enumerate(first):
        turn = index + 1
        asked = UserTurn(question(turn), (image,) if turn == 1 else ())
        if turn == 1:
            own = cells(engine.prompt_units(asked.question, [image], settings))
        else:
            own = cells(engine.follow_up_units(asked))
        s = trace.stats
        rows.append(
            TurnRow(
                turn=turn,
                wall_s=round(statistics.median(run[index].stats.wall_s for run in runs), 3),
                prompt_tokens=s.prompt_tokens,
                own_tokens=own - 1,
                held_tokens=held,
                image_encodes=s.image_encodes,
                decode_tokens=s.decode_tokens,
            )
        )
        held += own + len(trace.assistant_tokens)
    if len(rows) > 1:
        for row in rows[1:]:
            row.vs_first_follow_up = round(row.wall_s / rows[1].wall_s, 2)
    return rows
