"""The judge answers with labels the vocabulary tells apart: the first pair whose answers are single,
different tokens that read back as themselves right after the reply's lead."""

from __future__ import annotations

from stagelens.engine.specs import choice_token, pick_judge_labels
from stagelens.engine.stage_text import JUDGE_LABELS


class Pieces:
    """A toy tokenizer: the longest known piece first, unknown characters one by one."""

    def __init__(self, pieces: list[str]) -> None:
        self.pieces = sorted(set(pieces) | {chr(c) for c in range(32, 127)} | {"\n"}, key=len, reverse=True)
        self.ids = {p: i for i, p in enumerate(self.pieces)}

    def tokenize(self, text: str, parse_special: bool) -> list[int]:
        out, at = [], 0
        while at < len(text):
            piece = next(p for p in self.pieces if text.startswith(p, at))
            out.append(self.ids[piece])
            at += len(piece)
        return out

    def detokenize(self, ids: list[int]) -> bytes:
        return "".join(self.pieces[i] for i in ids).encode()


def test_the_first_pair_a_vocabulary_tells_apart_wins():
    with_letters = Pieces([" A", " B", " is"])
    labels, a, b = pick_judge_labels(None, with_letters.tokenize, with_letters.detokenize)
    assert labels is JUDGE_LABELS[0] and (a, b) == (with_letters.ids[" A"], with_letters.ids[" B"])
    # a SentencePiece-like vocabulary without " A"/" B": the space is its own token, then the letter
    spm_like = Pieces([" ", " is"])
    labels, a, b = pick_judge_labels(None, spm_like.tokenize, spm_like.detokenize)
    assert labels is not None and (labels.choice_a, labels.choice_b) == ("A", "B")
    assert spm_like.detokenize([a]) == b"A" and a != b


def test_a_choice_must_be_one_token_that_reads_back_as_itself():
    vocab = Pieces([" first", " is"])
    assert choice_token("The better candidate is the", " first", vocab.tokenize, vocab.detokenize) is not None
    assert choice_token("The better candidate is the", " second", vocab.tokenize, vocab.detokenize) is None
    merged = Pieces(["is A", "is B"])  # the answer merges with the lead: not the token the model writes next
    assert choice_token("The better candidate is ", "A", merged.tokenize, merged.detokenize) is None


def test_no_pair_gives_no_choice_tokens():
    class Opaque(Pieces):
        def detokenize(self, ids: list[int]) -> bytes:
            return b"?"

    vocab = Opaque([])
    assert pick_judge_labels(None, vocab.tokenize, vocab.detokenize) == (None, -1, -1)
