"""The stage specs and judge prompt as token ids: given to the native engine once, at load."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

from stagelens.engine.prompt import TemplateError
from stagelens.engine.stage_text import JUDGE_LABELS, JudgeLabels, JudgeText, StageText, label_names, stage_texts

Tokenize = Callable[[str, bool], list[int]]  # (text, parse_special) -> ids
Detokenize = Callable[[list[int]], bytes]


class StageSpec(NamedTuple):
    """One stage, in the order the native `configure` reads it."""

    name: str
    open_text: str  # detected in the model's own output
    close_text: str
    open_tokens: list[int]  # written by us when forcing (with the separator before the tag)
    close_tokens: list[int]  # written by us when the model did not close the stage
    judge_head: list[int]  # the judge prompt before candidate A
    open_aliases: tuple[str, ...]  # headings taken as the opening
    stops: tuple[str, ...]  # text that ends the stage early (a candidate's "stop" indexes this)


class JudgeSpec(NamedTuple):
    mid: list[int]
    tail: list[int]
    choice_a: int  # -1: no label pair this vocabulary tells apart
    choice_b: int
    answer_head: list[int]  # best-of-N judged: the prompt before whole answer A


def stage_specs(stages: Sequence[StageText], tokenize: Tokenize) -> list[StageSpec]:
    return [
        StageSpec(
            name=s.name,
            open_text=s.open_text,
            close_text=s.close_text,
            open_tokens=tokenize(s.forced_open, True),
            close_tokens=tokenize(s.close_text, True),
            judge_head=tokenize(s.judge_head, True),
            open_aliases=s.open_aliases,
            stops=s.stops,
        )
        for s in stages
    ]


def choice_token(lead: str, choice: str, tokenize: Tokenize, detokenize: Detokenize) -> int | None:
    """The one token that writes `choice` right after `lead`, as the model would produce it; None when
    `choice` there is more than one token, or a token that does not read back as `choice`."""
    head = tokenize(lead, True)
    full = tokenize(lead + choice, True)
    if len(full) != len(head) + 1 or full[: len(head)] != head:
        return None
    token = full[-1]
    return token if detokenize([token]) == choice.encode("utf-8") else None


def pick_judge_labels(
    turn_pieces: tuple[str, str] | None, tokenize: Tokenize, detokenize: Detokenize
) -> tuple[JudgeLabels | None, int, int]:
    """The first label pair whose choices are single, different tokens of this vocabulary (SentencePiece
    vocabularies often have no "▁A" token, so " A" and " B" both start with "▁")."""
    for labels in JUDGE_LABELS:
        _, judge = stage_texts(turn_pieces, labels)
        a = choice_token(judge.tail, labels.choice_a, tokenize, detokenize)
        b = choice_token(judge.tail, labels.choice_b, tokenize, detokenize)
        if a is not None and b is not None and a != b:
            return labels, a, b
    return None, -1, -1


def judge_spec(judge: JudgeText, tokenize: Tokenize, choice_a: int, choice_b: int) -> JudgeSpec:
    return JudgeSpec(
        mid=tokenize(judge.mid, True),
        tail=tokenize(judge.tail, True),
        choice_a=choice_a,
        choice_b=choice_b,
        answer_head=tokenize(judge.answer_head, True),
    )


def check_judge_usable(spec: JudgeSpec) -> None:
    if spec.choice_a < 0:
        raise TemplateError(
            "the judge scorer cannot be used with this model: none of the answer pairs "
            f"{label_names(JUDGE_LABELS)} are two different single tokens of its vocabulary; use the logprob scorer"
        )
