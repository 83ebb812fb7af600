"""Command-line options built from the table: one call adds a group's settings to a parser, with
the table's flag, default, choices and help, and a type function that runs the setting's check
(so a bad value is argparse's one-line error: "argument --beam: beam must be at least 1, got 0")."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import fields
from typing import TYPE_CHECKING, Any, TypeVar

from stagelens.settings.definition import Setting, SettingError, Value
from stagelens.settings.table import in_group

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    T = TypeVar("T", bound=DataclassInstance)

_Adder = argparse.ArgumentParser | argparse._ArgumentGroup


def add_arguments(parser: _Adder, group: str, *, skip: Iterable[str] = ()) -> None:
    """Every setting of `group` that has a flag, in table order (`skip`: names left out)."""
    skipped = set(skip)
    for s in in_group(group):
        if s.flag is not None and s.name not in skipped:
            _add(parser, s, group)


def _add(parser: _Adder, s: Setting, group: str) -> None:
    assert s.flag is not None
    names = [s.flag, s.short] if s.short else [s.flag]
    helptext = argparse.SUPPRESS if s.hidden else s.help_for(group)
    default = s.default_for(group)
    if s.type is bool:
        # a flag turns the setting away from its default: --no-force-stages, --no-reference
        action = "store_false" if default else "store_true"
        parser.add_argument(*names, dest=s.name, action=action, default=default, help=helptext)
        return
    if default is not None and not s.hidden and "default" not in helptext:
        helptext += f" (default: {default})"
    metavar = s.flag.lstrip("-").upper().replace("-", "_")
    kwargs: dict[str, Any] = {"dest": s.name, "default": default, "type": argument_type(s), "help": helptext}
    kwargs["metavar"] = None if s.choices else metavar
    if s.choices:
        kwargs["choices"] = s.choices
    parser.add_argument(*names, **kwargs)


def argument_type(s: Setting) -> Callable[[str], Value]:
    """argparse's type= for a setting: the table's parse and check, errors as argparse errors."""

    def parse(text: str) -> Value:
        try:
            return s.parse(text)
        except SettingError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = s.name
    return parse


def from_args(cls: type[T], args: argparse.Namespace, **overrides: object) -> T:
    """A settings dataclass from the parsed options named like its fields (`overrides` win;
    fields the command has no option for keep their defaults)."""
    values = {f.name: getattr(args, f.name) for f in fields(cls) if hasattr(args, f.name)}
    values.update(overrides)
    return cls(**values)
