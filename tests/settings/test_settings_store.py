"""Settings file: defaults, validation of what is read back, atomic writes."""

from __future__ import annotations

import json
import math

import pytest

from stagelens.fileio import write_atomic
from stagelens.settings import AppSettings, load_settings, save_settings, settings_path, validate


def test_missing_file_gives_defaults(tmp_path):
    assert load_settings(tmp_path / "none.json") == AppSettings()


def test_round_trip(tmp_path):
    path = tmp_path / "s.json"
    settings = AppSettings(
        model_text="/m/a.gguf",
        model_mmproj="/m/b.gguf",
        beam=4,
        scorer="judge",
        temperature=0.3,
        max_stage_tokens=64,
        n_gpu_layers=-1,
        n_threads=3,
        n_ctx=4096,
        image_max_side=512,
        reasoning_expanded=True,
    )
    save_settings(settings, path)
    assert load_settings(path) == settings
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"], "no temporary file is left behind"


def test_default_location_is_under_the_config_dir():
    save_settings(AppSettings(beam=3))
    assert settings_path().parent.name == "config" and load_settings().beam == 3


@pytest.mark.parametrize("raw", ["not json", "[1, 2]", "null", ""])
def test_unreadable_file_gives_defaults(tmp_path, raw):
    path = tmp_path / "s.json"
    path.write_text(raw)
    assert load_settings(path) == AppSettings()


def test_bad_values_are_replaced_and_good_ones_kept():
    got = validate(
        {
            "beam": 0,
            "scorer": "magic",
            "temperature": math.nan,
            "max_stage_tokens": "64",
            "n_ctx": 1e12,
            "reasoning_expanded": 1,
            "image_max_side": 1024,
            "unknown": 5,
            "model_text": 7,
            "n_gpu_layers": True,
        }
    )
    d = AppSettings()
    assert (got.beam, got.scorer, got.temperature, got.max_stage_tokens, got.n_ctx) == (
        d.beam,
        d.scorer,
        d.temperature,
        d.max_stage_tokens,
        d.n_ctx,
    )
    assert got.reasoning_expanded is False and got.model_text == "" and got.n_gpu_layers == 0
    assert got.image_max_side == 1024


def test_load_key_changes_only_with_loading_options():
    base = AppSettings()
    assert base.load_key() == AppSettings(beam=5, temperature=1.0).load_key()
    assert base.load_key() != AppSettings(n_ctx=2048).load_key()


def test_failed_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "s.json"
    path.write_text(json.dumps({"beam": 4}))

    def boom(*_args):
        raise OSError("disk full")

    monkeypatch.setattr("os.replace", boom)
    with pytest.raises(OSError):
        write_atomic(path, b"{}")
    assert json.loads(path.read_text()) == {"beam": 4}
    assert [p.name for p in tmp_path.iterdir()] == ["s.json"]


def test_a_settings_folder_or_an_unreadable_file_is_moved_aside(tmp_path):
    from stagelens.settings import read_settings_file

    path = tmp_path / "settings.json"
    path.mkdir()
    (path / "inside").write_text("kept")
    read = read_settings_file(path)
    assert read.settings == AppSettings() and read.problem == "it is a folder"
    assert read.backup is not None and (read.backup / "inside").read_text() == "kept"
    assert f"kept as {read.backup}" in read.notice
    assert json.loads(path.read_text()) == json.loads(json.dumps(AppSettings().__dict__)), "defaults written after"


def test_settings_that_could_be_read_are_written_back_only_after_the_backup(tmp_path, monkeypatch):
    from stagelens.settings import read_settings_file, stored

    path = tmp_path / "settings.json"
    path.write_text('{"beam": 4, "scorer": 7}')
    order: list[str] = []
    real_save = stored.save_settings
    monkeypatch.setattr(stored, "save_settings", lambda s, p: (order.append("write"), real_save(s, p)))
    real_backup = stored._backup_path
    monkeypatch.setattr(stored, "_backup_path", lambda p: (order.append("backup"), real_backup(p))[1])
    read = read_settings_file(path)
    assert order == ["backup", "write"] and read.reset == ("scorer",) and read.settings.beam == 4
    assert read.backup.read_text() == '{"beam": 4, "scorer": 7}' and json.loads(path.read_text())["beam"] == 4
