"""The window's settings: a JSON file under the config directory, written atomically, read back
field by field (a missing or unusable value gets its default; every usable value is kept)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from stagelens.fileio import write_atomic
from stagelens.settings.checked import check_fields
from stagelens.settings.definition import SettingError
from stagelens.settings.table import SETTINGS, bool_default, float_default, int_default, str_default

log = logging.getLogger(__name__)

FILE_NAME = "settings.json"


@dataclass(frozen=True)
class AppSettings:
    model_text: str = str_default("model_text")  # empty: the default model (demo, or the test model)
    model_mmproj: str = str_default("model_mmproj")
    beam: int = int_default("beam")
    scorer: str = str_default("scorer")
    temperature: float = float_default("temperature")
    max_stage_tokens: int = int_default("max_stage_tokens")
    format_instruction: str = str_default("format_instruction")  # the Settings dialog edits it (with a reset)
    n_gpu_layers: int = int_default("n_gpu_layers")
    gpu_auto: bool = bool_default("gpu_auto")  # let the model manager's planner pick the GPU layers
    n_threads: int = int_default("n_threads")
    n_ctx: int = int_default("n_ctx")
    image_max_side: int = int_default("image_max_side")
    reasoning_expanded: bool = bool_default("reasoning_expanded")  # how a finished answer's Reasoning panel starts
    preset: str = str_default("preset")  # fast | balanced | thorough | custom (beam, scorer, temperature above)
    theme: str = str_default("theme")  # system | light | dark
    window_geometry: str = str_default("window_geometry")  # hex of QWidget.saveGeometry()

    def __post_init__(self) -> None:
        check_fields(self, "window")

    def load_key(self) -> tuple[object, ...]:
        """What needs a model reload when it changes."""
        return (
            self.model_text,
            self.model_mmproj,
            self.n_gpu_layers,
            self.gpu_auto,
            self.n_threads,
            self.n_ctx,
            self.image_max_side,
        )

    def validated(self) -> AppSettings:
        """These settings as the file would give them back (construction already checked them)."""
        return validate(asdict(self))


def read_values(raw: object) -> tuple[AppSettings, tuple[str, ...]]:
    """Settings from untrusted data, and the keys whose stored values were unusable and got their
    default. Unknown keys are dropped; anything that is not an object gives the defaults."""
    defaults = AppSettings()
    if not isinstance(raw, dict):
        return defaults, ()
    values: dict[str, Any] = {}  # each checked against its setting
    reset: list[str] = []
    for f in fields(AppSettings):
        if f.name not in raw:
            continue
        try:
            values[f.name] = SETTINGS[f.name].from_stored(raw[f.name])
        except SettingError:
            reset.append(f.name)
    if "preset" not in values:  # a file from before presets: the preset its numbers are, else custom
        from stagelens.settings.presets import preset_named_by

        values["preset"] = preset_named_by(replace(defaults, **values))
    return replace(defaults, **values), tuple(reset)


def validate(raw: object) -> AppSettings:
    """Settings from untrusted data: unknown keys dropped, wrong or out-of-range values replaced."""
    return read_values(raw)[0]


def settings_path() -> Path:
    from stagelens.paths import config_dir

    return config_dir() / FILE_NAME


def load_settings(path: Path | None = None) -> AppSettings:
    path = path or settings_path()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return AppSettings()
    except (OSError, ValueError) as exc:
        log.warning("settings file %s unreadable (%s); using defaults", path, exc)
        return AppSettings()
    settings, reset = read_values(raw)
    if reset:
        log.warning("settings file %s: unusable values reset to their defaults: %s", path, ", ".join(reset))
    return settings


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    path = path or settings_path()
    write_atomic(path, json.dumps(asdict(settings), indent=2, sort_keys=True).encode("utf-8"))
