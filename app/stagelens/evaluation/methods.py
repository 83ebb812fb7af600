"""The decoding methods `stagelens eval` compares, and how their names parse.

A method is written ``kind[:arg[:arg]]`` (``greedy``, ``bestofn:4:judge``, ``beam:4:judge``,
``retrace:4:2:logprob``). Each kind is
one row of ``METHOD_KINDS``: how its arguments parse, how its name is written back, and the syntax
shown in errors. A new method is one new row (and its branch in ``evaluate.run_item``); a kind's
further arguments go in ``Method.options`` (``retrace:4:2`` -> ``options=(("retraces", 2),)``). A new
scorer needs no row: ``beam:N:<scorer>`` accepts every choice of the ``scorer`` setting.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from stagelens.settings import setting, str_default

SCORERS = setting("scorer").choices


class MethodError(ValueError):
    """A method spec does not parse."""


@dataclass(frozen=True)
class Method:
    kind: str  # a key of METHOD_KINDS
    n: int = 1  # candidates per stage (beam) or whole answers (best-of-N)
    scorer: str = str_default("scorer")
    options: tuple[tuple[str, int | str], ...] = ()  # further arguments of a kind, as (name, value)

    @property
    def name(self) -> str:
        return METHOD_KINDS[self.kind].name(self)

    def option(self, key: str, default: int | str | None = None) -> int | str | None:
        return dict(self.options).get(key, default)


@dataclass(frozen=True)
class MethodKind:
    syntax: str  # how a person writes it, for errors and help
    parse: Callable[[list[str]], Method | None]  # the arguments after the kind's name; None: they do not fit
    name: Callable[[Method], str]  # the canonical spelling (results files and reports use it)


def _count(text: str) -> int | None:
    """A whole number of at least 1, else None."""
    try:
        n = int(text)
    except ValueError:
        return None
    return n if n >= 1 else None


def _greedy(args: list[str]) -> Method | None:
    return Method("greedy") if not args else None


def _scorer(args: list[str], at: int) -> str | None:
    """The scorer named at args[at] (the default when it is not given), or None when it is no scorer."""
    scorer = args[at] if len(args) > at else str_default("scorer")
    return scorer if scorer in SCORERS else None


def _bestofn(args: list[str]) -> Method | None:
    if len(args) not in (1, 2):
        return None
    n, scorer = _count(args[0]), _scorer(args, 1)
    return Method("bestofn", n, scorer) if n and scorer else None


def _beam(args: list[str]) -> Method | None:
    if len(args) not in (1, 2):
        return None
    n, scorer = _count(args[0]), _scorer(args, 1)
    return Method("beam", n, scorer) if n and scorer else None


def _retrace(args: list[str]) -> Method | None:
    if len(args) not in (2, 3):
        return None
    n, retraces, scorer = _count(args[0]), _count(args[1]), _scorer(args, 2)
    return Method("retrace", n, scorer, (("retraces", retraces),)) if n and retraces and scorer else None


_SCORERS = "|".join(SCORERS)
METHOD_KINDS: dict[str, MethodKind] = {
    "greedy": MethodKind("greedy", _greedy, lambda m: "greedy"),
    # ranked by log-probability it is written without its scorer, as before the other scorers were offered
    "bestofn": MethodKind(
        f"bestofn:N[:{_SCORERS}]",
        _bestofn,
        lambda m: f"bestofn:{m.n}" + ("" if m.scorer == "logprob" else f":{m.scorer}"),
    ),
    "beam": MethodKind(f"beam:N[:{_SCORERS}]", _beam, lambda m: f"beam:{m.n}:{m.scorer}"),
    "retrace": MethodKind(
        f"retrace:N:K[:{_SCORERS}]", _retrace, lambda m: f"retrace:{m.n}:{m.option('retraces')}:{m.scorer}"
    ),
}


def method_syntax() -> str:
    """Every kind's syntax, for help and errors: "greedy, bestofn:N or beam:N[:logprob|judge|verifier]"."""
    forms = [kind.syntax for kind in METHOD_KINDS.values()]
    return ", ".join(forms[:-1]) + " or " + forms[-1] if len(forms) > 1 else forms[0]


def parse_method(text: str) -> Method:
    name, *args = text.strip().lower().split(":")
    kind = METHOD_KINDS.get(name)
    method = kind.parse(args) if kind else None
    if method is None:
        raise MethodError(f"unknown method {text!r}: use {method_syntax()} with N >= 1")
    return method


def parse_methods(spec: str) -> list[Method]:
    methods = [parse_method(part) for part in spec.split(",") if part.strip()]
    if not methods:
        raise MethodError("no methods given")
    names = [m.name for m in methods]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise MethodError(f"method {repeated[0]} is given twice")
    return methods
