"""How a predicted conclusion is matched against a dataset answer.

Normalisation (``normalize``), applied to both sides:
1. lower-case; every run of whitespace becomes one space; leading/trailing spaces go;
2. trailing punctuation ``. , ! ? ; :`` and surrounding quotes are removed;
3. a leading article (``the``, ``a``, ``an``) is removed;
4. a number word zero..twenty becomes its digits (``"two"`` -> ``"2"``), when it is the whole answer.

Without choices, an answer is correct when the normalised prediction equals the normalised answer.
With ``choices`` (multiple choice), the prediction picks the choice it equals after normalisation,
or else the one choice whose normalised text appears in it as whole words (none, or several:
no pick); it is correct when the pick is the answer.
"""

from __future__ import annotations

import re

_NUMBER_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
)
_ARTICLE = re.compile(r"^(?:the|a|an)\s+")


def normalize(text: str) -> str:
    text = " ".join(text.lower().split())
    text = text.strip(" \"'`").rstrip(".,!?;:").strip(" \"'`")
    text = _ARTICLE.sub("", text)
    if text in _NUMBER_WORDS:
        text = str(_NUMBER_WORDS.index(text))
    return text


def pick_choice(prediction: str, choices: list[str]) -> str | None:
    """The choice a prediction names, or None."""
    pred = normalize(prediction)
    for choice in choices:
        if normalize(choice) == pred:
            return choice
    named = [c for c in choices if re.search(rf"(?<!\w){re.escape(normalize(c))}(?!\w)", pred)]
    return named[0] if len(named) == 1 else None


def is_correct(prediction: str, answer: str, choices: list[str] | None = None) -> bool:
    if choices:
        picked = pick_choice(prediction, choices)
        return picked is not None and normalize(picked) == normalize(answer)
    return normalize(prediction) == normalize(answer)
