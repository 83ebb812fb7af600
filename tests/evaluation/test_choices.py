"""Multiple-choice answer extraction (letters, "(B)", "Answer: B", option text) and the method table."""

from __future__ import annotations

import pytest

from stagelens.evaluation import methods as methods_module
from stagelens.evaluation.matching import is_correct, pick_option
from stagelens.evaluation.methods import Method, MethodError, MethodKind, parse_method, parse_methods

OPTIONS = ["red circle", "blue square", "green triangle", "yellow star"]  # A, B, C, D


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [
        ("B", 1),
        ("b.", 1),
        ("(B)", 1),
        ("[c]", 2),
        ("D)", 3),
        ("**B**", 1),
        ("Option B", 1),
        ("Answer: B", 1),
        ("answers: b", 1),
        ("The correct option is D.", 3),
        ("The answer is (C) because the triangle is green", 2),
        ("Answer: C. The green triangle", 2),  # the letter, not the later text
        ("B. red circle", 1),  # a marked letter wins over the option text after it
        ("(B) blue", 1),
        ("I pick (B) because it is blue", 1),
        ("It is the blue square.", 1),  # the option text
        ("the answer is a blue square", 1),  # "a" is the article, not option A: the text decides
        ("A blue square", 1),  # the article again, then the text
        ("A big one", None),  # an article and no option: no pick
        ("A", 0),
        ("answer: a", 0),
        ("I think it's C.", 2),  # one capital letter alone ("I" is a word)
        ("Among the options, B is right", 1),  # "options" is not followed by a letter
        ("A or B", None),  # two letters: no pick
        ("(A) or (B)", None),
        ("E", None),  # past the four options
        ("Answer: E", None),
        ("blue square or red circle", None),  # two option texts
        ("purple", None),
        ("", None),
    ],
)
def test_pick_option_reads_letters_and_option_texts(prediction: str, expected: int | None) -> None:
    assert pick_option(prediction, OPTIONS) == expected


def test_lettered_answers_match_by_letter_or_by_the_options_text() -> None:
    assert is_correct("(B)", "B", OPTIONS, lettered=True)
    assert is_correct("blue square", "B", OPTIONS, lettered=True)
    assert is_correct("Answer: B", "blue square", OPTIONS, lettered=True)  # an answer given as text
    assert not is_correct("Answer: A", "B", OPTIONS, lettered=True)
    assert not is_correct("no idea", "B", OPTIONS, lettered=True)
    # without lettered, a bare letter is not an option (our JSONL's choices carry no letters)
    assert not is_correct("B", "blue square", OPTIONS)


def test_methods_parse_from_one_table() -> None:
    assert parse_methods("greedy, bestofn:4,beam:2,BEAM:4:judge,beam:4:verifier,bestofn:4:judge,retrace:4:2") == [
        Method("greedy"),
        Method("bestofn", 4),
        Method("beam", 2, "logprob"),
        Method("beam", 4, "judge"),
        Method("beam", 4, "verifier"),
        Method("bestofn", 4, "judge"),
        Method("retrace", 4, "logprob", (("retraces", 2),)),
    ]
    syntax = (
        r"use greedy, bestofn:N\[:logprob\|judge\|verifier\], beam:N\[:logprob\|judge\|verifier\] or "
        r"retrace:N:K\[:logprob\|judge\|verifier\]"
    )
    bad_specs = ("greedy:2", "beam:4:judge:1", "bestofn:0", "nothing", "bestofn:4:python", "retrace:4", "retrace:0:1")
    for bad in (*bad_specs, "retrace:4:0", "retrace:4:2:python", "retrace:4:2:judge:1"):
        with pytest.raises(MethodError, match=syntax):
            parse_method(bad)
    with pytest.raises(MethodError, match="given twice"):
        parse_methods("beam:2,beam:2:logprob")
    with pytest.raises(MethodError, match="given twice"):
        parse_methods("bestofn:2,bestofn:2:logprob")


def test_method_names_write_back_what_parses() -> None:
    specs = ["greedy", "bestofn:4", "bestofn:4:judge", "bestofn:2:verifier", "beam:4:logprob", "retrace:4:2:judge"]
    names = [m.name for m in parse_methods(",".join(specs))]
    assert names == specs
    assert parse_method("retrace:4:3").name == "retrace:4:3:logprob"
    assert [parse_method(n) for n in names] == parse_methods(",".join(specs))


def test_a_new_method_kind_is_one_table_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    def parse(args: list[str]) -> Method | None:
        return Method("sweep", int(args[0]), options=(("steps", int(args[1])),)) if len(args) == 2 else None

    kind = MethodKind("sweep:N:K", parse, lambda m: f"sweep:{m.n}:{m.option('steps')}")
    monkeypatch.setitem(methods_module.METHOD_KINDS, "sweep", kind)
    (method,) = parse_methods("sweep:4:2")
    assert method.name == "sweep:4:2" and method.option("steps") == 2
    with pytest.raises(MethodError, match="or sweep:N:K"):
        parse_method("sweep:4")
