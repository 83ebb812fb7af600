"""Prompt text: the model's own chat template, the four stages, the judge prompt.

The template comes from the GGUF and is rendered in a sandbox, as
llama-cpp-python does, but with the real BOS/EOS strings (see
shared/notes/llama-facts.md). Images appear as libmtmd's media marker inside
the user's text; libmtmd adds each model's own image tokens around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from stagelens.settings import STAGE_NAMES

STAGE_TAGS = {name: (f"<{name.upper()}>", f"</{name.upper()}>") for name in STAGE_NAMES}
STAGE_PURPOSE = {
    "summary": "which briefly outlines what the question needs and how to approach it",
    "caption": "which describes the parts of the image that matter for the question",
    "reasoning": "which reasons step by step from the image to the answer",
    "conclusion": "which states the final answer",
}

# Used when a GGUF has no chat template; declared in the trace as "fallback".
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT: {% endif %}"
)


class TemplateError(ValueError):
    """The model's chat template could not be rendered."""


@dataclass(frozen=True)
class Message:
    role: str  # "user" or "assistant"
    content: str


class ChatTemplate:
    def __init__(self, source: str | None, bos_token: str = "", eos_token: str = "") -> None:
        self.is_fallback = not source
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, loader=jinja2.BaseLoader())
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
        try:
            self._template = env.from_string(source or FALLBACK_TEMPLATE)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"the model's chat template does not parse: {exc}") from exc
        self._bos = bos_token
        self._eos = eos_token

    @property
    def bos_token(self) -> str:
        return self._bos

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        try:
            return self._template.render(
                messages=[{"role": m.role, "content": m.content} for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=self._bos,
                eos_token=self._eos,
            )
        except jinja2.TemplateError as exc:
            raise TemplateError(f"the model's chat template failed: {exc}") from exc

    def turn_pieces(self) -> tuple[str, str] | None:
        """(after an assistant message up to a new user message's text,
        after that user text up to the assistant's reply), derived by rendering
        sentinels; None if the template does not render them in order."""
        a, u = "\x00ASSISTANT\x00", "\x00USER\x00"
        try:
            text = self.render(
                [Message("user", "q"), Message("assistant", a), Message("user", u)], add_generation_prompt=True
            )
        except TemplateError:
            return None
        ia, iu = text.find(a), text.find(u)
        if ia < 0 or iu < ia:
            return None
        return text[ia + len(a) : iu], text[iu + len(u) :]


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def user_content(question: str, n_images: int, marker: str) -> str:
    return "".join(f"{marker}\n" for _ in range(n_images)) + without_marker(question, marker)


def without_marker(text: str, marker: str) -> str:
    """Text from the user or the model must not contain libmtmd's media marker: each one would
    claim an image of its own. A zero-width space keeps it readable but inert."""
    return text.replace(marker, f"{marker[:1]}\u200b{marker[1:]}")


@dataclass(frozen=True)
class StageText:
    name: str
    open_text: str  # detected in the model's own output
    close_text: str
    forced_open: str  # what we write when forcing (with the separator before it)
    judge_head: str


@dataclass(frozen=True)
class JudgeText:
    mid: str
    tail: str
    choice_a: str
    choice_b: str


def stage_texts(turn_pieces: tuple[str, str] | None) -> tuple[list[StageText], JudgeText]:
    """The four stages and the judge prompt. With turn pieces the judge asks as
    a new user turn and reads the answer in the assistant's reply; without, it
    asks inline."""
    user_open, reply_open = turn_pieces if turn_pieces else ("\n\n", "\n")
    stages = []
    for index, name in enumerate(STAGE_NAMES):
        open_tag, close_tag = STAGE_TAGS[name]
        head = (
            f"{user_open}Two candidates were written for the {name.upper()} stage of the answer, "
            f"{STAGE_PURPOSE[name]}. Judge which one is more accurate and more useful for answering "
            f"the question about the image.\n\nCandidate A: "
        )
        stages.append(
            StageText(
                name=name,
                open_text=open_tag,
                close_text=close_tag,
                forced_open=open_tag if index == 0 else f"\n\n{open_tag}",
                judge_head=head,
            )
        )
    judge = JudgeText(
        mid="\n\nCandidate B: ",
        tail=f"\n\nAnswer with a single letter, A or B.{reply_open}The better candidate is",
        choice_a=" A",
        choice_b=" B",
    )
    return stages, judge
