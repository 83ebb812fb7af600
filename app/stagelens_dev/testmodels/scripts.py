"""What each scripted model writes: the misbehaviours real models show with the four-stage format.

A script is a set of chains. In a chain every piece is one token and is followed by the next one,
whatever came before it (see scripted.py: the model is first order). A chain starts at a stage's
opening tag, the token the engine writes when it forces the stage, so each chain says what the model
writes in that stage. The tags are tokens of their own; ``<|im_end|>`` ends the model's turn; any
other piece is a token holding exactly that text. A piece must be followed by one piece only.
"""

from __future__ import annotations

from dataclasses import dataclass

EOS = "<|im_end|>"
S, C, R, K = "<SUMMARY>", "<CAPTION>", "<REASONING>", "<CONCLUSION>"
S_END, C_END, R_END, K_END = "</SUMMARY>", "</CAPTION>", "</REASONING>", "</CONCLUSION>"
TAGS = (S, S_END, C, C_END, R, R_END, K, K_END)

SUMMARY_TEXT = " I will count the red circles."
CAPTION_TEXT = " Three red circles on a white background."
REASONING_TEXT = " Each circle is counted once: one, two, three."
CONCLUSION_TEXT = " 3"


@dataclass(frozen=True)
class Script:
    name: str
    does: str  # what the model does, for people
    chains: tuple[tuple[str, ...], ...]


def _ramble(prefix: str, n: int) -> tuple[str, ...]:
    return tuple(f" {prefix}{i}" for i in range(1, n + 1))


SCRIPTS: tuple[Script, ...] = (
    Script(
        "well_behaved",
        "writes each stage between its tags and ends after the conclusion",
        (
            (S, SUMMARY_TEXT, S_END),
            (C, CAPTION_TEXT, C_END),
            (R, REASONING_TEXT, R_END),
            (K, CONCLUSION_TEXT, K_END, EOS),
        ),
    ),
    Script(
        "answer_in_summary",
        "writes the whole answer, every stage with its tags, inside SUMMARY, never closing it",
        (
            (S, SUMMARY_TEXT, C),
            (C, CAPTION_TEXT, C_END, R),
            (R, REASONING_TEXT, R_END, K),
            (K, CONCLUSION_TEXT, K_END, EOS),
        ),
    ),
    Script(
        "answer_in_summary_untagged",
        "puts its whole answer in SUMMARY, then ends its turn in every later stage",
        (
            (S, " There are three red circles, so the answer is 3.", S_END),
            (C, EOS),
            (R, EOS),
            (K, EOS),
        ),
    ),
    Script(
        "early_conclusion",
        "jumps to <CONCLUSION> from SUMMARY, CAPTION and REASONING",
        (
            (S, SUMMARY_TEXT, K),
            (C, K),
            (R, K),
            (K, CONCLUSION_TEXT, K_END, EOS),
        ),
    ),
    Script(
        "eos_first",
        "ends its turn before writing anything, in every stage",
        ((S, EOS), (C, EOS), (R, EOS), (K, EOS)),
    ),
    Script(
        "repeated_open",
        "writes each opening tag again after the one the engine wrote",
        (
            (S, " <SUMMARY>", SUMMARY_TEXT, S_END),
            (C, " <CAPTION>", CAPTION_TEXT, C_END),
            (R, " <REASONING>", REASONING_TEXT, R_END),
            (K, " <CONCLUSION>", CONCLUSION_TEXT, K_END, EOS),
        ),
    ),
    Script(
        "never_closes",
        "writes on and on in every stage without a closing tag (cut by the token budget)",
        tuple((tag, *_ramble(word, 40)) for tag, word in ((S, "sum"), (C, "cap"), (R, "why"), (K, "end"))),
    ),
    Script(
        "markdown_headings",
        "writes Markdown headings (**Summary:**) instead of tags, all in one go",
        (
            (S, " **Summary:**", SUMMARY_TEXT, " **Caption:**", CAPTION_TEXT, " **Reasoning:**"),
            (C, " **Caption:**"),
            (R, " **Reasoning:**", REASONING_TEXT, " **Conclusion:**", CONCLUSION_TEXT, EOS),
            (K, " **Conclusion:**"),
        ),
    ),
    Script(
        "loops",
        "repeats the same few words in SUMMARY until stopped",
        (
            (S, " I count", " the circles", " again and", " I count"),
            (C, CAPTION_TEXT, C_END),
            (R, REASONING_TEXT, R_END),
            (K, CONCLUSION_TEXT, K_END, EOS),
        ),
    ),
)

BY_NAME: dict[str, Script] = {s.name: s for s in SCRIPTS}

# Models for the search's own tests (not misbehaviours of the format, so not in SCRIPTS). A piece that
# ends a chain without a closing tag is followed by nothing the model is sure of: its logits are
# nearly flat, so every token after it costs about log(vocabulary) nats.
SEARCH_SCRIPTS: tuple[Script, ...] = (
    Script(
        "unsure_caption",
        "writes SUMMARY, REASONING and CONCLUSION surely, but CAPTION after its first word unsurely",
        (
            (S, SUMMARY_TEXT, S_END),
            (C, " Maybe"),
            (R, REASONING_TEXT, R_END),
            (K, CONCLUSION_TEXT, K_END, EOS),
        ),
    ),
    Script(
        "split_close_tag",
        "writes CAPTION's closing tag as plain text in two tokens (' </CAP', 'TION>')",
        (
            (S, SUMMARY_TEXT, S_END),
            (C, CAPTION_TEXT, " </CAP", "TION>"),
            (R, REASONING_TEXT, R_END),
            (K, CONCLUSION_TEXT, K_END, EOS),
        ),
    ),
)
ANY_BY_NAME: dict[str, Script] = {s.name: s for s in SCRIPTS + SEARCH_SCRIPTS}


def successors(script: Script) -> dict[str, str]:
    """Each piece's next piece; ValueError when a piece would be followed by two different ones."""
    follows: dict[str, str] = {}
    for chain in script.chains:
        for piece, after in zip(chain, chain[1:], strict=False):
            if follows.setdefault(piece, after) != after:
                raise ValueError(f"script {script.name}: {piece!r} is followed by {follows[piece]!r} and {after!r}")
    return follows


def pieces(script: Script) -> tuple[str, ...]:
    """The pieces that need a token of their own (not the tags, not the end of turn), in first-seen order."""
    seen = dict.fromkeys(p for chain in script.chains for p in chain if p not in TAGS and p != EOS)
    return tuple(seen)
