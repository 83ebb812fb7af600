"""The four stages and the judge prompt as text: tags, the spellings of a tag a model may use
instead (Markdown headings), what ends a stage early, and the judge's question and answer labels."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stagelens.settings import STAGE_NAMES

STAGE_TAGS = {name: (f"<{name.upper()}>", f"</{name.upper()}>") for name in STAGE_NAMES}
STAGE_PURPOSE = {
    "summary": "which briefly outlines what the question needs and how to approach it",
    "caption": "which describes the parts of the image that matter for the question",
    "reasoning": "which reasons step by step from the image to the answer",
    "conclusion": "which states the final answer",
}


def headings(name: str) -> tuple[str, ...]:
    """Markdown headings a model may write instead of a stage's tag ("**Summary:**", "## SUMMARY"...),
    longest first."""
    out: list[str] = []
    for title in (name.title(), name.upper()):
        out += [f"**{title}:**", f"**{title}**:", f"**{title}**", f"### {title}", f"## {title}", f"# {title}"]
    return tuple(sorted(out, key=len, reverse=True))


@dataclass(frozen=True)
class StageText:
    name: str
    open_text: str  # detected in the model's own output
    close_text: str
    forced_open: str  # what we write when forcing (with the separator before it)
    judge_head: str
    open_aliases: tuple[str, ...]  # other spellings of the opening (headings)
    stops: tuple[str, ...]  # what ends the stage early: any other stage's tag or heading, this one's again


@dataclass(frozen=True)
class JudgeLabels:
    """How the judge names the two candidates and what it answers with. The choice texts must be
    single tokens the vocabulary tells apart (after `lead`): the first set that is wins."""

    choice_a: str  # the text the model answers with, right after `lead`
    choice_b: str
    name_a: str  # how the prompt names the candidates
    name_b: str
    ask: str  # the instruction before the answer
    lead: str  # the reply's text the choice continues


_LETTERS = ("Candidate A", "Candidate B", "Answer with a single letter, A or B.")
_NUMBERS = ("Candidate 1", "Candidate 2", "Answer with a single number, 1 or 2.")
_WORDS = ("The first candidate", "The second candidate", "Answer with one word, first or second.")
_LEAD = "The better candidate is"
JUDGE_LABELS: tuple[JudgeLabels, ...] = (
    JudgeLabels(" A", " B", *_LETTERS, _LEAD),
    JudgeLabels("A", "B", *_LETTERS, _LEAD + " "),  # SentencePiece: "▁" then "A"
    JudgeLabels(" 1", " 2", *_NUMBERS, _LEAD),
    JudgeLabels("1", "2", *_NUMBERS, _LEAD + " "),
    JudgeLabels(" first", " second", *_WORDS, _LEAD + " the"),
    JudgeLabels("first", "second", *_WORDS, _LEAD + " the "),
)


@dataclass(frozen=True)
class JudgeText:
    mid: str
    tail: str
    choice_a: str
    choice_b: str
    answer_head: str  # best-of-N: the prompt before whole answer A (the rest as for a stage)


def _stops(index: int) -> tuple[str, ...]:
    own = STAGE_NAMES[index]
    out = [STAGE_TAGS[own][0], *headings(own)]  # the stage written again
    for other in STAGE_NAMES:
        if other != own:
            out += [*STAGE_TAGS[other], *headings(other)]
    return tuple(out)


def stage_texts(
    turn_pieces: tuple[str, str] | None, labels: JudgeLabels = JUDGE_LABELS[0]
) -> tuple[list[StageText], JudgeText]:
    """The four stages and the judge prompt. With turn pieces the judge asks as a new user turn and
    reads the answer in the assistant's reply; without, it asks inline."""
    user_open, reply_open = turn_pieces if turn_pieces else ("\n\n", "\n")
    stages = []
    for index, name in enumerate(STAGE_NAMES):
        open_tag, close_tag = STAGE_TAGS[name]
        head = (
            f"{user_open}Two candidates were written for the {name.upper()} stage of the answer, "
            f"{STAGE_PURPOSE[name]}. Judge which one is more accurate and more useful for answering "
            f"the question about the image.\n\n{labels.name_a}: "
        )
        stages.append(
            StageText(
                name=name,
                open_text=open_tag,
                close_text=close_tag,
                forced_open=open_tag if index == 0 else f"\n\n{open_tag}",
                judge_head=head,
                open_aliases=headings(name),
                stops=_stops(index),
            )
        )
    judge = JudgeText(
        mid=f"\n\n{labels.name_b}: ",
        tail=f"\n\n{labels.ask}{reply_open}{labels.lead}",
        choice_a=labels.choice_a,
        choice_b=labels.choice_b,
        answer_head=(
            f"{user_open}Two answers were written to the question about the image, each in four stages "
            f"({', '.join(n.upper() for n in STAGE_NAMES)}). Judge which one is more accurate and answers "
            f"the question better.\n\n{labels.name_a}: "
        ),
    )
    return stages, judge


def label_names(labels: Sequence[JudgeLabels]) -> str:
    return ", ".join(f"{lb.choice_a!r}/{lb.choice_b!r}" for lb in labels)
