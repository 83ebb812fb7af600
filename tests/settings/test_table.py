"""The table is consistent, the dataclasses are built from it, and every entry round-trips through
argparse and through the stored settings file."""

from __future__ import annotations

import argparse
import json
import math
from dataclasses import MISSING, fields
from pathlib import Path

import pytest

from stagelens.settings import (
    GROUPS,
    SETTINGS,
    TABLE,
    AppSettings,
    LoadSettings,
    SearchSettings,
    Setting,
    SettingError,
    add_arguments,
    from_args,
    in_group,
    load_settings,
    max_beam_for,
    read_values,
    save_settings,
    setting,
)

DATACLASSES = {"search": SearchSettings, "load": LoadSettings, "window": AppSettings}
WITH_FLAGS = [(s, g) for s in TABLE if s.flag for g in sorted(s.groups) if g not in ("window", "engine")]
IN_WINDOW = list(in_group("window"))


def other_value(s: Setting, group: str | None = None) -> object:
    """A valid value that is not the default (of `group`)."""
    current = s.default if group is None else s.default_for(group)
    if s.type is bool:
        return not current
    if s.choices:
        return next(c for c in s.choices if c != current)
    if s.type is str:
        return "/models/other.gguf" if current in (None, "") else current + ",16"
    low, high = s.bounds("window" if group == "window" else "code")
    base = current if isinstance(current, int | float) else (low if low is not None else 0)
    value = base + (3 if s.type is int else 0.25)
    if high is not None and value > high:
        value = base - (3 if s.type is int else 0.25)
    return value


def words(value: object) -> str:
    return str(value)


def parser_for(group: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(exit_on_error=False)
    add_arguments(parser, group)
    return parser


# --------------------------------------------------------------------------------- the table


def test_names_flags_and_groups_are_unique_and_known() -> None:
    assert len(SETTINGS) == len(TABLE)
    for group in GROUPS:
        flags = [s.flag for s in in_group(group) if s.flag]
        assert len(flags) == len(set(flags)), group
    for s in TABLE:
        assert s.groups and s.groups <= set(GROUPS), s.name
        assert s.help.strip(), s.name
        assert not s.choice_labels or len(s.choice_labels) == len(s.choices), s.name
        assert set(s.group_defaults) <= s.groups and set(s.group_help) <= s.groups, s.name


@pytest.mark.parametrize("s", TABLE, ids=lambda s: s.name)
def test_every_default_is_allowed_by_its_own_setting(s: Setting) -> None:
    for group in s.groups:
        value = s.default_for(group)
        assert s.check(value, "window" if group == "window" else "code") == value
        if value is not None and s.type is not bool:
            assert s.parse(words(value)) == value  # what --help shows parses back


@pytest.mark.parametrize("s", [s for s in TABLE if s.window_low is not None or s.window_high is not None])
def test_window_ranges_are_inside_the_settings_own(s: Setting) -> None:
    low, high = s.bounds("code")
    window_low, window_high = s.bounds("window")
    assert window_low is not None and window_high is not None
    assert (low is None or low <= window_low) and (high is None or window_high <= high)


@pytest.mark.parametrize("group", DATACLASSES)
def test_each_dataclass_has_the_groups_fields_and_the_tables_defaults(group: str) -> None:
    cls = DATACLASSES[group]
    names = [f.name for f in fields(cls) if f.name != "extra"]
    assert sorted(names) == sorted(s.name for s in in_group(group))
    for f in fields(cls):
        if f.default is not MISSING:
            assert f.default == SETTINGS[f.name].default and type(f.default) is type(SETTINGS[f.name].default), f.name


def test_the_engine_and_the_window_use_the_same_stage_names_and_settings() -> None:
    import stagelens.engine.settings as engine_settings
    from stagelens.engine.prompt import STAGE_NAMES as PROMPT_STAGES
    from stagelens.settings import STAGE_NAMES
    from stagelens.ui.stage_panel import HIDDEN_STAGES

    assert PROMPT_STAGES is STAGE_NAMES and STAGE_NAMES[:-1] == HIDDEN_STAGES
    assert engine_settings.SearchSettings is SearchSettings and engine_settings.LoadSettings is LoadSettings


def test_test_model_presets_are_what_the_writer_can_write() -> None:
    from stagelens_dev.testmodels import PRESETS

    assert setting("test_model_preset").choices == tuple(PRESETS)


# ------------------------------------------------------------------------------ the one check


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beam": 0}, "beam must be at least 1, got 0"),
        ({"scorer": "magic"}, "scorer must be one of logprob, judge, verifier, python, got 'magic'"),
        ({"temperature": -0.5}, "temperature must be at least 0, got -0.5"),
        ({"top_p": 0.0}, "top_p must be more than 0 and at most 1, got 0"),
        ({"top_p": 1.5}, "top_p must be more than 0 and at most 1, got 1.5"),
        ({"seed": 2**32}, "seed must be between 0 and 4294967295, got 4294967296"),
        ({"max_stage_tokens": 0}, "max_stage_tokens must be at least 1, got 0"),
        ({"mode": "fast"}, "mode must be one of batched, reference, got 'fast'"),
        ({"beam": 2.0}, "beam must be a whole number, got 2.0"),
        ({"temperature": math.nan}, "temperature must be a number, got nan"),
        ({"force_stages": 1}, "force_stages must be true or false, got 1"),
    ],
)
def test_search_settings_refuse_bad_values_with_one_line(kwargs: dict, message: str) -> None:
    with pytest.raises(SettingError) as info:
        SearchSettings(**kwargs)
    assert str(info.value) == message and isinstance(info.value, ValueError)


def test_code_may_use_the_internal_scorer_but_a_person_may_not() -> None:
    assert SearchSettings(scorer="python").scorer == "python"
    with pytest.raises(SettingError, match="one of logprob, judge, verifier, got 'python'"):
        setting("scorer").parse("python")
    with pytest.raises(SettingError):
        setting("scorer").from_stored("python")


def test_load_settings_check_their_numbers_but_not_the_model_paths() -> None:
    assert LoadSettings(Path("m.gguf"), None, n_ctx=256).n_ctx == 256  # type: ignore[arg-type]
    for bad in ({"n_ctx": 0}, {"n_gpu_layers": -2}, {"max_beam": 0}, {"image_max_side": 8}, {"n_threads": -1}):
        with pytest.raises(SettingError):
            LoadSettings("m.gguf", None, **bad)


def test_app_settings_hold_only_what_the_window_allows() -> None:
    assert AppSettings(beam=16).beam == 16
    with pytest.raises(SettingError, match="beam must be between 1 and 16, got 17"):
        AppSettings(beam=17)
    assert SearchSettings(beam=17).beam == 17  # the command line may go wider than the window


def test_gpu_layers_take_auto_on_the_command_line_only() -> None:
    s = setting("n_gpu_layers")
    assert s.parse("auto") == "auto" and s.parse(" AUTO ") == "auto" and s.parse("-1") == -1
    with pytest.raises(SettingError, match="GPU layers must be 'auto' or a whole number, got 'lots'"):
        s.parse("lots")
    with pytest.raises(SettingError):
        s.from_stored("auto")


def test_stored_numbers_follow_the_old_reader() -> None:
    s = setting("max_stage_tokens")
    assert s.from_stored(64.0) == 64 and isinstance(s.from_stored(64.0), int)
    assert setting("temperature").from_stored(1) == 1.0 and isinstance(setting("temperature").from_stored(1), float)
    for bad in (True, "64", None, math.nan, 4097, 7):
        with pytest.raises(SettingError):
            s.from_stored(bad)


def test_max_beam_for_is_never_below_the_default() -> None:
    assert max_beam_for() == max_beam_for(1, 2) == LoadSettings("m", None).max_beam
    assert max_beam_for(4, 32) == 32


# ------------------------------------------------------------------------ through argparse


@pytest.mark.parametrize(("s", "group"), WITH_FLAGS, ids=lambda x: x.name if isinstance(x, Setting) else x)
def test_every_option_round_trips_through_argparse(s: Setting, group: str) -> None:
    assert s.flag is not None
    parser = parser_for(group)
    assert getattr(parser.parse_args([]), s.name) == s.default_for(group)
    value = other_value(s, group)
    argv = [s.flag] if s.type is bool else [s.flag, words(value)]
    assert getattr(parser.parse_args(argv), s.name) == value


@pytest.mark.parametrize(
    ("group", "argv"),
    [
        ("search", ["--beam", "0"]),
        ("search", ["--beam", "two"]),
        ("search", ["--scorer", "python"]),
        ("search", ["--top-p", "0"]),
        ("load", ["--n-gpu-layers", "-2"]),
        ("load", ["--image-max-side", "15"]),
        ("bench", ["--repeat", "0"]),
        ("eval", ["--limit", "0"]),
        ("gpu", ["--n-ctx", "big"]),
    ],
)
def test_bad_options_are_argparse_errors_naming_the_flag(group: str, argv: list[str]) -> None:
    with pytest.raises(argparse.ArgumentError, match=argv[0]):
        parser_for(group).parse_args(argv)


def test_parsed_options_build_the_dataclasses() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser, "search")
    args = parser.parse_args(["--beam", "4", "--no-force-stages", "--seed", "7"])
    assert from_args(SearchSettings, args) == SearchSettings(beam=4, force_stages=False, seed=7)
    assert from_args(SearchSettings, args, beam=1).beam == 1


def test_every_command_of_the_real_parser_starts_from_the_table() -> None:
    from stagelens.cli import build_parser

    parser = build_parser()
    commands = {
        "load": ["ask", "x.png", "-q", "?"],
        "search": ["ask", "x.png", "-q", "?"],
        "bench": ["bench"],
        "eval": ["eval", "--dataset", "d.jsonl"],
        "gpu": ["models", "gpu"],
        "test-model": ["make-test-model", "--out", "o"],
    }
    for group, argv in commands.items():
        args = parser.parse_args(argv)
        for s in in_group(group):
            if s.flag:
                assert getattr(args, s.name) == s.default_for(group), (group, s.name)


# ---------------------------------------------------------------------- through the file


@pytest.mark.parametrize("s", IN_WINDOW, ids=lambda s: s.name)
def test_every_window_setting_round_trips_through_the_file(s: Setting, tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    value = other_value(s, "window")
    save_settings(AppSettings(**{s.name: value}), path)
    assert json.loads(path.read_text())[s.name] == value
    assert getattr(load_settings(path), s.name) == value


@pytest.mark.parametrize("s", IN_WINDOW, ids=lambda s: s.name)
def test_an_unusable_stored_value_is_reset_and_reported(s: Setting) -> None:
    bad: object = "not a number" if s.type in (int, float) else 3
    kept = {"n_ctx": 4096} if s.name != "n_ctx" else {"beam": 3}
    settings, reset = read_values({s.name: bad, **kept, "unknown": 1})
    assert getattr(settings, s.name) == s.default and reset == (s.name,)
    assert all(getattr(settings, k) == v for k, v in kept.items())
