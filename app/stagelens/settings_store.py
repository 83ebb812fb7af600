"""The window's settings: a JSON file under the config directory, written atomically,
read back with defaults for anything missing or invalid."""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from stagelens.paths import config_dir

log = logging.getLogger(__name__)

FILE_NAME = "settings.json"
SCORER_CHOICES = ("logprob", "judge")

# name: (lowest, highest) for the numeric settings
_RANGES: dict[str, tuple[float, float]] = {
    "beam": (1, 16),
    "temperature": (0.0, 2.0),
    "max_stage_tokens": (8, 4096),
    "n_gpu_layers": (-1, 1000),
    "n_threads": (0, 256),
    "n_ctx": (512, 262144),
    "image_max_side": (64, 4096),
}


@dataclass(frozen=True)
class AppSettings:
    model_text: str = ""  # empty: the default model (demo, or the test model)
    model_mmproj: str = ""
    beam: int = 2
    scorer: str = "logprob"
    temperature: float = 0.6
    max_stage_tokens: int = 160
    n_gpu_layers: int = 0
    gpu_auto: bool = False  # let the model manager's planner pick the GPU layers
    n_threads: int = 0
    n_ctx: int = 8192
    image_max_side: int = 768
    reasoning_expanded: bool = False  # how a finished answer's Reasoning panel starts
    window_geometry: str = ""  # hex of QWidget.saveGeometry()

    def load_key(self) -> tuple:
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
        return validate(asdict(self))


def validate(raw: object) -> AppSettings:
    """Settings from untrusted data: unknown keys dropped, wrong or out-of-range values replaced."""
    defaults = AppSettings()
    if not isinstance(raw, dict):
        return defaults
    values: dict = {}
    for f in fields(AppSettings):
        default = getattr(defaults, f.name)
        value = raw.get(f.name, default)
        values[f.name] = _coerce(f.name, value, default)
    return replace(defaults, **values)


def _coerce(name: str, value: object, default: object) -> object:
    if isinstance(default, bool):
        return value if isinstance(value, bool) else default
    if isinstance(default, str):
        if not isinstance(value, str):
            return default
        if name == "scorer" and value not in SCORER_CHOICES:
            return default
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        return default
    low, high = _RANGES[name]
    if not low <= value <= high or value != value:  # NaN fails both comparisons
        return default
    return int(value) if isinstance(default, int) else float(value)


def settings_path() -> Path:
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
    return validate(raw)


def save_settings(settings: AppSettings, path: Path | None = None) -> None:
    path = path or settings_path()
    write_atomic(path, json.dumps(asdict(settings), indent=2, sort_keys=True).encode("utf-8"))


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, then rename it over the target."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fp:
            fp.write(data)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
