"""One source of settings: every default, range, choice, stage name and exit code StageLens has.

- ``table.py``: the table of settings (data: type, default, range or choices, help, flag, groups).
- ``definition.py``: the Setting type and its check, the only validation layer.
- ``search.py``, ``load.py``: SearchSettings and LoadSettings (the engine's inputs).
- ``stored.py``: AppSettings, the window's settings file.
- ``arguments.py``: argparse options for a group of settings.
- ``stages.py``, ``exit_codes.py``: the stage names and the exit codes.

A new setting is one row in TABLE (plus a field in the dataclass of its group, with the table's
default; tests/settings/test_table.py checks they match). Answer presets are the ``preset`` row
and ``presets.py`` (what each one searches with); a settings file from before presets gets the
preset its numbers are.

This package imports nothing from the rest of StageLens but ``paths`` and ``fileio``, so every
layer (engine, window, commands) can use it. ``tests/settings/test_single_source.py`` fails
when a default, range, choice list, stage list or exit code is written anywhere else.
"""

from stagelens.settings.arguments import add_arguments, argument_type, from_args
from stagelens.settings.definition import AUTO, Setting, SettingError
from stagelens.settings.exit_codes import (
    EXIT_BAD_INPUT,
    EXIT_ENGINE,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NO_DISPLAY,
    EXIT_OK,
)
from stagelens.settings.load import FLASH_ATTN_TYPES, LoadSettings, flash_attn_type, max_beam_for
from stagelens.settings.presets import (
    PRESET_NAMES,
    PRESETS,
    Preset,
    SearchChoice,
    preset,
    preset_beams,
    preset_named_by,
    relative_cost,
    search_choice,
)
from stagelens.settings.search import MODES, SCORERS, SearchSettings
from stagelens.settings.stages import FINAL_STAGE, STAGE_NAMES
from stagelens.settings.stored import (
    FILE_NAME,
    AppSettings,
    SettingsRead,
    load_settings,
    read_settings_file,
    read_values,
    save_settings,
    settings_path,
    validate,
)
from stagelens.settings.table import (
    FORMAT_INSTRUCTION,
    GROUPS,
    SETTINGS,
    TABLE,
    bool_default,
    default,
    float_default,
    in_group,
    int_default,
    optional_int_default,
    setting,
    str_default,
)

__all__ = [
    "AUTO",
    "PRESETS",
    "PRESET_NAMES",
    "EXIT_BAD_INPUT",
    "EXIT_ENGINE",
    "EXIT_FAILED",
    "EXIT_INTERRUPTED",
    "EXIT_NO_DISPLAY",
    "EXIT_OK",
    "FILE_NAME",
    "FLASH_ATTN_TYPES",
    "FORMAT_INSTRUCTION",
    "FINAL_STAGE",
    "GROUPS",
    "MODES",
    "SCORERS",
    "SETTINGS",
    "STAGE_NAMES",
    "SettingsRead",
    "TABLE",
    "AppSettings",
    "LoadSettings",
    "Preset",
    "SearchChoice",
    "SearchSettings",
    "Setting",
    "SettingError",
    "add_arguments",
    "argument_type",
    "bool_default",
    "default",
    "flash_attn_type",
    "float_default",
    "from_args",
    "in_group",
    "int_default",
    "load_settings",
    "read_settings_file",
    "max_beam_for",
    "optional_int_default",
    "preset",
    "preset_beams",
    "preset_named_by",
    "read_values",
    "relative_cost",
    "search_choice",
    "save_settings",
    "setting",
    "settings_path",
    "str_default",
    "validate",
]
