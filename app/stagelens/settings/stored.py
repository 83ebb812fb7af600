"""The window's settings: a JSON file under the config directory, written atomically, read back
field by field (a missing or unusable value gets its default; every usable value is kept).

A file that cannot be read as it is (garbage, cut short, not UTF-8, not a JSON object, values of
the wrong type, a folder, no permission) is never lost and never silently replaced: it is kept
beside as `settings.json.backup-<timestamp>` before anything is written, every value that can
still be read from it is kept, and `SettingsRead.notice` says what was reset, for the window."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
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
    retrace: int = int_default("retrace")  # Custom's retraces per answer
    best_of: int = int_default("best_of")  # Custom's best-of-N (1: stage-level search)
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
    verifier_text: str = str_default("verifier_text")  # the scorer "verifier"'s model (empty: none chosen)
    verifier_projector: str = str_default("verifier_projector")  # its projector (empty: it reads text only)
    verifier_mode: str = str_default("verifier_mode")  # process | outcome
    verifier_format: str = str_default("verifier_format")  # auto | prm | judge

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
            self.verifier_text,  # the verifier is loaded beside the model, with its format and mode
            self.verifier_projector,
            self.verifier_format,
            self.verifier_mode,
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


# how the window names each setting (the Settings dialog's labels), for messages about the file
WINDOW_NAMES = {
    "model_text": "Text model",
    "model_mmproj": "Vision projector",
    "beam": "Beam width",
    "scorer": "Scorer",
    "temperature": "Temperature",
    "max_stage_tokens": "Stage token budget",
    "n_gpu_layers": "GPU layers",
    "gpu_auto": "Automatic GPU layers",
    "n_threads": "CPU threads",
    "n_ctx": "Context size",
    "image_max_side": "Image max side",
    "reasoning_expanded": "Reasoning panel open",
    "window_geometry": "Window size and place",
    "verifier_text": "Verifier model",
    "verifier_projector": "Verifier projector",
    "verifier_mode": "Verifier mode",
    "verifier_format": "Verifier format",
}
TEMPORARY_AFTER_S = 600.0  # a leftover `.settings.json.*.tmp` older than this belongs to no running write


@dataclass(frozen=True)
class SettingsRead:
    """What the settings file gave: the settings, the ones whose stored values were reset, and, when
    the file was not fine as it was, why and where it is kept."""

    settings: AppSettings
    reset: tuple[str, ...] = ()  # fields whose stored values were unusable
    kept: tuple[str, ...] = ()  # fields read from a file that could not be read as a whole
    problem: str | None = None  # why the file could not be read as a whole
    backup: Path | None = None  # the file as it was

    @property
    def notice(self) -> str | None:
        """For the window: what happened, what was reset, where the file as it was is kept."""
        if self.problem is None and not self.reset:
            return None
        where = f" It was kept as {self.backup}." if self.backup else " It could not be kept aside."
        if self.problem is not None:
            kept = f"Read from it: {_names(self.kept)}. " if self.kept else ""
            reset = f"Unusable values, reset: {_names(self.reset)}. " if self.reset else ""
            rest = "Every other setting is" if self.kept or self.reset else "Every setting is"
            return (
                f"The settings file could not be read ({self.problem}).{where} {kept}{reset}{rest} back to its default."
            )
        return f"Settings with values StageLens cannot use are back to their defaults: {_names(self.reset)}.{where}"


def _names(keys: tuple[str, ...]) -> str:
    return ", ".join(WINDOW_NAMES.get(k, k) for k in keys)


def read_settings_file(path: Path | None = None) -> SettingsRead:
    """The settings in the file; a file that was not fine is kept beside first, then replaced by
    what could be read from it (see the module's docstring)."""
    path = path or settings_path()
    _remove_old_temporary_files(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return SettingsRead(AppSettings())
    except OSError as exc:  # a folder, no permission: moved aside (it cannot be copied)
        why = "it is a folder" if path.is_dir() else f"it cannot be read: {exc.strerror or exc}"
        return _replace_bad_file(path, SettingsRead(AppSettings(), problem=why), move=True)
    problem: str | None = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text, problem = data.decode("utf-8", "replace"), "it is not UTF-8 text"
    raw: object
    try:
        raw = json.loads(text)
    except ValueError:
        raw = _salvage(text)
        problem = problem or ("it is cut short" if text.strip().startswith("{") else "it is not JSON")
    if not isinstance(raw, dict):
        problem = f"it holds {_JSON_KINDS.get(type(raw), 'a JSON value')} instead of a JSON object"
        raw = {}
    settings, reset = read_values(raw)
    if problem is None and not reset:
        return SettingsRead(settings)
    kept = tuple(f.name for f in fields(AppSettings) if f.name in raw and f.name not in reset) if problem else ()
    return _replace_bad_file(path, SettingsRead(settings, reset, kept, problem))


def load_settings(path: Path | None = None) -> AppSettings:
    return read_settings_file(path).settings


def _replace_bad_file(path: Path, read: SettingsRead, move: bool = False) -> SettingsRead:
    """Keep the file as it was beside it, then write what was read; never the other way round."""
    try:
        backup = _backup_path(path)
        if move:
            os.rename(path, backup)
        else:
            with backup.open("xb") as fh:  # "x": a backup is never overwritten
                fh.write(path.read_bytes())
                fh.flush()
                os.fsync(fh.fileno())
    except OSError as exc:
        log.warning("settings file %s could not be kept aside (%s); it is left as it is", path, exc)
        return replace(read, backup=None)
    log.info("settings file %s: %s; kept as %s", path, read.problem or f"reset {read.reset}", backup)
    try:
        save_settings(read.settings, path)
    except OSError as exc:
        log.warning("settings file %s could not be rewritten: %s", path, exc)
    return replace(read, backup=backup)


def _backup_path(path: Path) -> Path:
    stem = f"{path.name}.backup-{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(1, 1000):
        candidate = path.with_name(stem if n == 1 else f"{stem}-{n}")
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise OSError(f"no free name for a backup of {path}")


_JSON_KINDS = {list: "a JSON array", str: "a string", int: "a number", float: "a number", bool: "true or false"}
_JSON_KINDS[type(None)] = "null"
_KEY = re.compile(r'"([A-Za-z_]+)"\s*:\s*')


def _salvage(text: str) -> dict[str, object]:
    """The values that can still be read from a broken JSON object: each "key": value whose value is
    complete (followed by a comma or the closing brace: a value cut by the end of the file is not)."""
    decoder = json.JSONDecoder()
    known = {f.name for f in fields(AppSettings)}
    found: dict[str, object] = {}
    for match in _KEY.finditer(text):
        if match.group(1) not in known:
            continue
        try:
            value, end = decoder.raw_decode(text, match.end())
        except ValueError:
            continue
        rest = text[end:].lstrip()
        if rest[:1] in (",", "}"):
            found.setdefault(match.group(1), value)
    return found


def _remove_old_temporary_files(path: Path) -> None:
    """What an atomic write killed halfway leaves (`.settings.json.*.tmp`); a recent one may be another
    program's write in progress, so only old ones go."""
    cutoff = time.time() - TEMPORARY_AFTER_S
    with contextlib.suppress(OSError):
        for tmp in path.parent.glob(f".{path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                if tmp.stat().st_mtime < cutoff:
                    tmp.unlink()


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    path = path or settings_path()
    write_atomic(path, json.dumps(asdict(settings), indent=2, sort_keys=True).encode("utf-8"))
