"""Model text made safe to hand to the Markdown parser, with no Qt: control bytes (random-weight
models write NUL and worse) become visible replacement characters, and structures whose layout
cost grows with their depth (thousands of nested block quotes take seconds to lay out) are capped.
Everything else is left exactly as the model wrote it."""

from __future__ import annotations

import re

REPLACEMENT = "\ufffd"
MAX_QUOTE_DEPTH = 8  # block quotes nested deeper than this are shown at this depth
# C0 controls but tab, newline and carriage return; DEL and the C1 controls; lone surrogates
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
# the container prefix of a line: indentation, quote markers, list markers
_PREFIX = re.compile(r"^[ \t>*+\-0-9.)]*")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def clean(text: str) -> str:
    """The text as the parser is given it: same characters, same lines, but no control bytes and
    no block quote nested deeper than MAX_QUOTE_DEPTH."""
    text = _CONTROL.sub(REPLACEMENT, text.replace("\r\n", "\n").replace("\r", "\n"))
    if text.count(">") <= MAX_QUOTE_DEPTH:
        return text
    return "\n".join(_cap_quotes(line) for line in text.split("\n"))


def _cap_quotes(line: str) -> str:
    prefix = _PREFIX.match(line)
    if prefix is None or prefix.group().count(">") <= MAX_QUOTE_DEPTH:
        return line
    kept, seen = [], 0
    for char in prefix.group():
        if char == ">":
            seen += 1
            if seen > MAX_QUOTE_DEPTH:
                continue
        kept.append(char)
    return "".join(kept) + line[prefix.end() :]


def tail(text: str, limit: int) -> str:
    """The end of a text being written, at most about `limit` characters, starting at a line (or a
    word) so the Markdown of its last lines still reads; a code block cut open is opened again."""
    text = text.strip()
    if len(text) <= limit:
        return text
    cut = text[-limit:]
    newline = cut.find("\n")
    if 0 <= newline < len(cut) - 1:
        cut = cut[newline + 1 :]
    elif " " in cut:
        cut = cut[cut.find(" ") + 1 :]
    before = text[: len(text) - len(cut)]
    opened = sum(1 for line in before.split("\n") if _FENCE.match(line)) % 2 == 1
    return ("```\n" if opened else "…") + cut
