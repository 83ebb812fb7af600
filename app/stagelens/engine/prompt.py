"""The model's own chat template, rendered the way llama.cpp renders it.

The template comes from the GGUF and is rendered in a sandbox, as llama-cpp-python does, but with
the real BOS/EOS strings (see shared/notes/llama-facts.md). What the template can take is found
the way llama.cpp's chat code finds it (common/jinja/caps.cpp), by rendering probes:

- *typed content*: a template that reads message content only as a list of parts (SmolVLM's drops
  a plain string) gets every message as ``[{"type": "text", "text": ...}]``, as llama.cpp's
  normalizer does (common/chat.cpp); images stay libmtmd's media marker inside that text;
- *system role*: a template that raises on a system message, or renders it nowhere, has none;
  what would go there goes at the start of the first user turn (llama.cpp merges it the same way).

Images appear as libmtmd's media marker inside the user's text; libmtmd adds each model's own image
tokens around them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment

from stagelens.engine.stage_text import STAGE_TAGS
from stagelens.settings import STAGE_NAMES

__all__ = [
    "FALLBACK_TEMPLATE",
    "STAGE_NAMES",
    "STAGE_TAGS",
    "ChatTemplate",
    "Message",
    "TemplateError",
    "user_content",
    "without_marker",
]

# Used when a GGUF has no chat template; declared in the trace as "fallback".
FALLBACK_TEMPLATE = (
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}SYSTEM: "
    "{% elif message['role'] == 'user' %}USER: {% else %}ASSISTANT: {% endif %}"
    "{{ message['content'] }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}ASSISTANT: {% endif %}"
)

_PROBE = "STAGELENS_STRING_MARKER"
# What a template may raise besides Jinja's own errors (a string added to a list of parts, ...).
_RENDER_ERRORS = (jinja2.TemplateError, TypeError, ValueError, LookupError, AttributeError)
_SYSTEM_PROBE = "STAGELENS_SYSTEM_MARKER"


class TemplateError(ValueError):
    """The model's chat template could not be rendered."""


@dataclass(frozen=True)
class Message:
    role: str  # "system", "user" or "assistant"
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
        self.typed_content = self._needs_typed_content()
        self.system_role = self._has_system_role()

    @property
    def bos_token(self) -> str:
        return self._bos

    @property
    def eos_token(self) -> str:
        return self._eos

    # -------------------------------------------------------------- what it takes
    def _try(self, messages: list[dict[str, Any]]) -> str | None:
        try:
            return self._render_dicts(messages, add_generation_prompt=True)
        except TemplateError:
            return None

    def _needs_typed_content(self) -> bool:
        """A plain string is lost (or raises) but a list of text parts comes through."""
        as_string = self._try([{"role": "user", "content": _PROBE}])
        if as_string is not None and _PROBE in as_string:
            return False
        as_parts = self._try([{"role": "user", "content": _parts(_PROBE)}])
        return as_parts is not None and _PROBE in as_parts

    def _has_system_role(self) -> bool:
        """A system message renders (somewhere: Gemma's template puts it into the first user turn)."""
        rendered = self._try(
            [
                {"role": "system", "content": self._content(_SYSTEM_PROBE)},
                {"role": "user", "content": self._content("q")},
            ]
        )
        return rendered is not None and _SYSTEM_PROBE in rendered

    def _content(self, text: str) -> str | list[dict[str, str]]:
        return _parts(text) if self.typed_content else text

    # ------------------------------------------------------------------- render
    def _render_dicts(self, messages: list[dict[str, Any]], add_generation_prompt: bool) -> str:
        try:
            return self._template.render(
                messages=messages,
                add_generation_prompt=add_generation_prompt,
                bos_token=self._bos,
                eos_token=self._eos,
            )
        except _RENDER_ERRORS as exc:
            raise TemplateError(f"the model's chat template failed: {exc}") from exc

    def render(self, messages: Sequence[Message], add_generation_prompt: bool = True) -> str:
        """Messages as the template writes them (a system message on a template without a system role
        is merged into the next message, as llama.cpp does)."""
        msgs = list(messages)
        if msgs and msgs[0].role == "system" and not self.system_role:
            system, rest = msgs[0], msgs[1:]
            msgs = [Message(rest[0].role, f"{system.content}\n{rest[0].content}"), *rest[1:]] if rest else []
        dicts = [{"role": m.role, "content": self._content(m.content)} for m in msgs]
        return self._render_dicts(dicts, add_generation_prompt)

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


def _parts(text: str) -> list[dict[str, str]]:
    return [{"type": "text", "text": text}]


def _raise_exception(message: str) -> None:
    raise jinja2.TemplateError(message)


def user_content(question: str, n_images: int, marker: str) -> str:
    return "".join(f"{marker}\n" for _ in range(n_images)) + without_marker(question, marker)


def without_marker(text: str, marker: str) -> str:
    """Text from the user or the model must not contain libmtmd's media marker: each one would
    claim an image of its own. A zero-width space keeps it readable but inert."""
    return text.replace(marker, f"{marker[:1]}\u200b{marker[1:]}")
