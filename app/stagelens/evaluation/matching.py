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

Lettered multiple choice (``lettered``: the choices are options A, B, C, ... in order, as in
VLMEvalKit's TSV files; the answer is a letter or an option's text): ``pick_option`` reads, in order,
1. the whole prediction as one letter: ``B``, ``b.``, ``(B)``, ``[b]``, ``B)``, ``Option B``;
2. a letter after "answer" / "option" / "choice": ``Answer: B``, ``the answer is (C)``, ``option d``;
3. the letters marked as options: the opening one (``B. blue``, ``(B) blue``, ``B: blue``, ``B) blue``)
   and any in parentheses (``I pick (B) because``), when they are all the same letter;
4. the option text, as for ``choices`` above;
5. one distinct capital letter standing alone, not an article (``A red one``) nor the word ``I``.
A letter outside the options (``E`` of four) is no pick; so are several at the same step.
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


LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_MARKER = r"\b(?:answer|option|choice)s?\b(?:\s+is)?\s*[:=]?\s*"
_WHOLE = re.compile(rf"^(?:{_MARKER})?[\(\[]?([A-Za-z])[\)\]]?[.:!]?$", re.IGNORECASE)
_MARKED = re.compile(rf"{_MARKER}([\(\[]?)([A-Za-z])(?![\w'])", re.IGNORECASE)
_LEADING = re.compile(r"^(?:\(([A-Za-z])\)|\[([A-Za-z])\]|([A-Z])[.:)])(?:\s|$)")
_PARENTHESISED = re.compile(r"\(([A-Za-z])\)")
# group 2: a lower-case word after the letter (so "A red one" is the article), but not "A or B", "A is right"
_ALONE = re.compile(r"(?<![\w'])([A-Z])(?![\w'])(\s+(?!(?:or|and|is|was)\b)[a-z])?")


def _one(letters: list[str], n_options: int) -> int | None:
    """The option of the one distinct letter found; None when none, several, or one past the options."""
    distinct = {letter.upper() for letter in letters}
    if len(distinct) != 1:
        return None
    index = LETTERS.find(distinct.pop())
    return index if 0 <= index < n_options else None


def _marked_letters(text: str) -> list[str]:
    """Letters after "answer" / "option" / "choice"; a bare lower-case "a" before a word is the article."""
    letters = []
    for m in _MARKED.finditer(text):
        bracket, letter = m.group(1), m.group(2)
        if letter == "a" and not bracket and re.match(r"\s+[a-z]", text[m.end() :]):
            continue
        letters.append(letter)
    return letters


def pick_option(prediction: str, choices: list[str]) -> int | None:
    """The index of the lettered option a prediction names (the rules above), or None."""
    text = " ".join(prediction.split()).strip(" \"'`*")
    n = len(choices)
    whole = _WHOLE.match(text)
    if whole:
        return _one([whole.group(1)], n)
    marked = _marked_letters(text)
    if marked:
        return _one(marked, n)
    leading = _LEADING.match(text)
    marked = [g for g in leading.groups() if g] if leading else []
    marked += _PARENTHESISED.findall(text)
    if marked:
        return _one(marked, n)
    named = pick_choice(text, choices)
    if named is not None:
        return choices.index(named)
    alone = [m.group(1) for m in _ALONE.finditer(text) if m.group(1) != "I" and not (m.group(1) == "A" and m.group(2))]
    return _one(alone, n) if alone else None


def is_option_correct(prediction: str, answer: str, choices: list[str]) -> bool:
    """Lettered multiple choice: the picked option's letter or text is the answer."""
    index = pick_option(prediction, choices)
    if index is None:
        return False
    target = answer.strip().strip("()[]. ").upper()
    return target == LETTERS[index] or normalize(choices[index]) == normalize(answer)


def is_correct(prediction: str, answer: str, choices: list[str] | None = None, *, lettered: bool = False) -> bool:
    if choices and lettered:
        return is_option_correct(prediction, answer, choices)
    if choices:
        picked = pick_choice(prediction, choices)
        return picked is not None and normalize(picked) == normalize(answer)
    return normalize(prediction) == normalize(answer)
