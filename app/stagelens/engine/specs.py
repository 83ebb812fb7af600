"""The stage specs and judge prompt as token ids: given to the native engine once, at load."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from stagelens.engine.prompt import JudgeText, StageText, TemplateError


class StageSpec(NamedTuple):
    """One stage, in the order the native `configure` reads it."""

    name: str
    open_text: str  # detected in the model's own output
    close_text: str
    open_tokens: list[int]  # written by us when forcing (with the separator before the tag)
    close_tokens: list[int]  # written by us when the model did not close the stage
    judge_head: list[int]  # the judge prompt before candidate A


class JudgeSpec(NamedTuple):
    mid: list[int]
    tail: list[int]
    choice_a: int  # -1: this vocabulary cannot tell the two choices apart by their first token
    choice_b: int


Tokenize = Callable[[str, bool], list[int]]  # (text, parse_special) -> ids


def stage_specs(stages: Sequence[StageText], tokenize: Tokenize) -> list[StageSpec]:
    return [
        StageSpec(
            name=s.name,
            open_text=s.open_text,
            close_text=s.close_text,
            open_tokens=tokenize(s.forced_open, True),
            close_tokens=tokenize(s.close_text, True),
            judge_head=tokenize(s.judge_head, True),
        )
        for s in stages
    ]


def judge_spec(judge: JudgeText, tokenize: Tokenize) -> JudgeSpec:
    """The judge prompt's tokens; the choice tokens are -1 when this vocabulary cannot tell the
    two choices apart by their first token (only the judge scorer needs them)."""
    a = tokenize(judge.choice_a, False)
    b = tokenize(judge.choice_b, False)
    distinct = bool(a) and bool(b) and a[0] != b[0]
    return JudgeSpec(
        mid=tokenize(judge.mid, True),
        tail=tokenize(judge.tail, True),
        choice_a=a[0] if distinct else -1,
        choice_b=b[0] if distinct else -1,
    )


def check_judge_usable(spec: JudgeSpec, judge: JudgeText) -> None:
    if spec.choice_a < 0:
        raise TemplateError(
            f"the judge scorer cannot be used with this model: its answers {judge.choice_a!r} and "
            f"{judge.choice_b!r} do not start with different tokens; use the logprob scorer"
        )
