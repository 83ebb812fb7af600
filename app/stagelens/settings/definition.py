"""One setting as data: its type, default, allowed values, help text and command-line flag,
and the one check every layer uses (the dataclasses, the argparse types, the settings file)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

Value = int | float | str | bool | None
Number = int | float

# Where a value comes from decides which choices and which range apply:
#   "code":   a dataclass built by the program (also the internal choices, e.g. the "python" scorer);
#   "person": the command line (what a person may type; the dataclass range);
#   "window": the Settings dialog and the settings file (the window's narrower range, if any).
Source = Literal["code", "person", "window"]
AUTO = "auto"


class SettingError(ValueError):
    """A value outside what a setting allows; the message is one line for the user."""


@dataclass(frozen=True, eq=False)
class Setting:
    name: str  # the field of the dataclasses, the key in the settings file, the argparse dest
    type: type[int] | type[float] | type[str] | type[bool]
    default: Value
    help: str
    groups: frozenset[str]  # load | search | window | engine | bench | eval | gpu | test-model
    flag: str | None = None  # None: not on the command line
    short: str | None = None
    low: Number | None = None  # inclusive unless low_exclusive; None: unbounded
    high: Number | None = None
    low_exclusive: bool = False
    window_low: Number | None = None  # the window's range, when narrower than low/high
    window_high: Number | None = None
    choices: tuple[str, ...] = ()  # what a person may choose
    choice_labels: tuple[str, ...] = ()  # how the window names each choice
    code_choices: tuple[str, ...] = ()  # also accepted from code, never offered to a person
    optional: bool = False  # None is a value (it means "decide for me")
    auto: bool = False  # the command line also takes "auto"
    hidden: bool = False  # not listed in --help
    label: str = ""  # how messages name it (default: its name)
    aliases: tuple[str, ...] = ()  # other names code uses for it (load_image's max_side)
    group_defaults: Mapping[str, Value] = field(default_factory=dict)  # a command's own default
    group_help: Mapping[str, str] = field(default_factory=dict)

    @property
    def what(self) -> str:
        return self.label or self.name

    def default_for(self, group: str) -> Value:
        return self.group_defaults.get(group, self.default)

    def help_for(self, group: str) -> str:
        return self.group_help.get(group, self.help)

    def bounds(self, source: Source = "code") -> tuple[Number | None, Number | None]:
        if source == "window":
            low = self.window_low if self.window_low is not None else self.low
            high = self.window_high if self.window_high is not None else self.high
            return low, high
        return self.low, self.high

    def lowest(self, source: Source = "code") -> Number:
        """The lowest allowed value (TypeError when the range has no lower end)."""
        low = self.bounds(source)[0]
        if low is None:
            raise TypeError(f"{self.name} has no lowest value")
        return low

    def int_bounds(self, source: Source = "window") -> tuple[int, int]:
        """Both ends of a bounded integer range (for a spin box)."""
        low, high = self.bounds(source)
        if self.type is not int or low is None or high is None:
            raise TypeError(f"{self.name} has no bounded integer range")
        return int(low), int(high)

    def float_bounds(self, source: Source = "window") -> tuple[float, float]:
        low, high = self.bounds(source)
        if self.type is not float or low is None or high is None:
            raise TypeError(f"{self.name} has no bounded range")
        return float(low), float(high)

    def allowed_choices(self, source: Source = "code") -> tuple[str, ...]:
        return self.choices + self.code_choices if source == "code" else self.choices

    def choice_label(self, choice: str) -> str:
        labels = dict(zip(self.choices, self.choice_labels, strict=False))
        return labels.get(choice, choice)

    def check(self, value: object, source: Source = "code") -> Value:
        """The value itself when it is allowed; otherwise SettingError with a one-line message."""
        if value is None:
            if self.optional:
                return None
            raise SettingError(f"{self.what} must be set")
        if self.type is bool:
            if not isinstance(value, bool):
                raise SettingError(f"{self.what} must be true or false, got {value!r}")
            return value
        if self.type is str:
            if not isinstance(value, str):
                raise SettingError(f"{self.what} must be text, got {value!r}")
            allowed = self.allowed_choices(source)
            if allowed and value not in allowed:
                raise SettingError(f"{self.what} must be one of {', '.join(allowed)}, got {value!r}")
            return value
        if self.type is int and (isinstance(value, bool) or not isinstance(value, int)):
            raise SettingError(f"{self.what} must be a whole number, got {value!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
            raise SettingError(f"{self.what} must be a number, got {value!r}")
        self._check_range(value, source)
        return value

    def parse(self, text: str) -> Value:
        """A command-line word as this setting's value (for argparse's type=)."""
        if self.auto and text.strip().lower() == AUTO:
            return AUTO
        value: Value = text
        if self.type is int:
            try:
                value = int(text)
            except ValueError:
                either = f"'{AUTO}' or a whole number" if self.auto else "a whole number"
                raise SettingError(f"{self.what} must be {either}, got {text!r}") from None
        elif self.type is float:
            try:
                value = float(text)
            except ValueError:
                raise SettingError(f"{self.what} must be a number, got {text!r}") from None
        return self.check(value, "person")

    def from_stored(self, raw: object) -> Value:
        """A value read back from the settings file: the same type (a whole float is fine for an
        integer), within the window's range; SettingError otherwise."""
        if self.type in (int, float):
            if isinstance(raw, bool) or not isinstance(raw, int | float) or math.isnan(raw):
                raise SettingError(f"{self.what} must be a number, got {raw!r}")
            self._check_range(raw, "window")
            raw = int(raw) if self.type is int else float(raw)
        return self.check(raw, "window")

    def _check_range(self, value: Number, source: Source) -> None:
        low, high = self.bounds(source)
        too_low = low is not None and (value <= low if self.low_exclusive else value < low)
        too_high = high is not None and value > high
        if not (too_low or too_high):
            return
        if low is not None and high is not None:
            first = "more than" if self.low_exclusive else "between"
            rule = f"{first} {_num(low)} and {'at most ' if self.low_exclusive else ''}{_num(high)}"
        elif low is not None:
            rule = f"more than {_num(low)}" if self.low_exclusive else f"at least {_num(low)}"
        else:
            rule = f"at most {_num(high)}"
        raise SettingError(f"{self.what} must be {rule}, got {_num(value)}")


def _num(value: Number | None) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
