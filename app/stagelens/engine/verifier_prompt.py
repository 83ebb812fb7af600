"""What a verifier model reads, in the format its family was trained on, and which two tokens score it.

A verifier prompt is cut into the pieces the native side needs: the *prefix* (system turn, images,
question: read once per question and cached, the image encoded once), then the steps already taken,
each followed by *between*, then the candidate and the *tail* (up to where the verdict token goes).
The pieces come from the verifier's own chat template, rendered once with two sentinel steps, so
every family's turn markup is its own template's (the native side tokenizes the step texts as plain
text between them).

Formats (the README says which public verifier each was written for, and what was not checked):

- ``prm``: a process reward model trained as a multi-turn chat (VisualPRM, VL-PRM): the first user
  turn holds the image, ``### Question:`` and ``### Solution Process:`` with the first step; every
  later step is a user turn of its own; the assistant answers each with "+" (correct so far) or "-".
  Earlier steps are given the "+" they would need to be kept. Score: log p("+") - log p("-").
- ``judge``: any chat model asked, in one user turn, whether the last step of an answer is correct
  (outcome mode: whether the answer is). Score: log p("Yes") - log p("No").
"""

from __future__ import annotations

from dataclasses import dataclass

from stagelens.engine.prompt import ChatTemplate, Message, TemplateError, without_marker
from stagelens.settings import setting

FORMATS = tuple(c for c in setting("verifier_format").choices if c != "auto")

PRM_SYSTEM = (
    "You check solutions to questions about images, one step at a time. The first turn gives the image, the "
    "question and the first step; each later turn gives one more step. After every step, reply + if the solution "
    "is right up to and including that step, or - if there is any error so far. Reply with + or - only."
)
JUDGE_QUESTION = {"process": "Is the last step above correct?", "outcome": "Is the answer above correct?"}
# the verdicts each format can be scored by, in order of preference: the first pair the verifier's vocabulary
# has as two single tokens is used (the judge is asked to answer with those words)
SCORE_WORDS = {"prm": (("+", "-"),), "judge": (("Yes", "No"), ("yes", "no"))}

_S1, _S2 = "\x00STEP-ONE\x00", "\x00STEP-TWO\x00"


class VerifierFormatError(ValueError):
    """The verifier cannot take this format (its template, its vocabulary); one line for the user."""


@dataclass(frozen=True)
class VerifierPrompt:
    prefix: str  # up to the first step: system turn, one media marker per image, the question
    add_special: bool  # let the tokenizer add BOS (the template did not write it)
    between: str  # after a step that is not the scored one, up to the next step
    tail: str  # after the scored step, up to the verdict
    good: str  # the verdict that means "correct"
    bad: str


def pick_format(choice: str, model_name: str) -> str:
    """`choice` as given, or for "auto" the family's own: prm for a reward model (PRM in its name), else judge."""
    if choice != "auto":
        if choice not in FORMATS:
            raise VerifierFormatError(f"unknown verifier format {choice!r} (one of auto, {', '.join(FORMATS)})")
        return choice
    return "prm" if "prm" in model_name.lower() else "judge"


def _images(n_images: int, marker: str) -> str:
    return "".join(f"{marker}\n" for _ in range(n_images))


def messages(
    fmt: str, mode: str, question: str, steps: list[str], n_images: int, marker: str, words: tuple[str, str]
) -> list[Message]:
    """The whole conversation the verifier reads for `steps` (the last one is scored): the reference the
    pieces are cut from, and what tests render in one go to check the pieces token for token."""
    question = without_marker(question, marker)
    if fmt == "prm":
        out = [Message("system", PRM_SYSTEM)]
        first = f"{_images(n_images, marker)}### Question:\n{question}\n\n### Solution Process:\n{steps[0]}"
        out.append(Message("user", first))
        for step in steps[1:]:
            out += [Message("assistant", words[0]), Message("user", step)]
        return out
    body = "\n\n".join(steps)
    text = f"{_images(n_images, marker)}Question: {question}\n\nAn answer, step by step:\n\n{body}\n\n"
    return [Message("user", f"{text}{JUDGE_QUESTION[mode]} Answer {words[0]} or {words[1]}.")]


def verifier_prompt(
    template: ChatTemplate, fmt: str, mode: str, question: str, n_images: int, marker: str, words: tuple[str, str]
) -> VerifierPrompt:
    try:
        conversation = messages(fmt, mode, question, [_S1, _S2], n_images, marker, words)
        text = template.render(conversation, add_generation_prompt=True)
    except TemplateError as exc:
        raise VerifierFormatError(f"the verifier's chat template cannot render the {fmt} format: {exc}") from exc
    i1, i2 = text.find(_S1), text.find(_S2)
    if i1 < 0 or i2 < i1 or text[:i1].count(marker) != n_images:
        raise VerifierFormatError(f"the verifier's chat template does not render the {fmt} format's turns in order")
    prefix = text[:i1]
    bos = template.bos_token
    good, bad = words
    return VerifierPrompt(
        prefix=prefix,
        add_special=not (bos and prefix.startswith(bos)),
        between=text[i1 + len(_S1) : i2],
        tail=text[i2 + len(_S2) :],
        good=good,
        bad=bad,
    )
