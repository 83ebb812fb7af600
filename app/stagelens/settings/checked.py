"""The dataclasses' own check: every field that is a table setting holds an allowed value."""

from __future__ import annotations

from dataclasses import MISSING, fields
from typing import TYPE_CHECKING

from stagelens.settings.definition import Source
from stagelens.settings.table import SETTINGS

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def check_fields(instance: DataclassInstance, source: Source = "code") -> None:
    """SettingError (a ValueError) for the first field with a value its setting does not allow.
    Fields without a default (a model's paths) are the caller's to check."""
    for f in fields(instance):
        if f.name in SETTINGS and (f.default is not MISSING or f.default_factory is not MISSING):
            SETTINGS[f.name].check(getattr(instance, f.name), source)
