"""Installed models: what was downloaded from the catalog or imported from local files.

Stored as one JSON file in the models folder (platformdirs user data, or STAGELENS_MODELS_DIR),
always replaced atomically so a crash never leaves it half written."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from stagelens.paths import data_dir

REGISTRY_NAME = "installed.json"
SCHEMA = 1


def models_dir() -> Path:
    """Where downloaded models live (overridable with STAGELENS_MODELS_DIR)."""
    override = os.environ.get("STAGELENS_MODELS_DIR")
    return Path(override) if override else data_dir() / "models"


@dataclass(frozen=True)
class InstalledModel:
    id: str
    name: str
    text: str  # path of the text GGUF
    mmproj: str  # path of the vision projector GGUF
    source: str  # "catalog" | "import"
    quant: str | None = None
    repo: str | None = None
    owns_files: bool = False  # True when the files live in the models folder and go with `rm`
    stage_format_trained: bool = False
    installed_at: float = field(default_factory=time.time)
    metadata: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict) -> InstalledModel:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class RegistryError(ValueError):
    pass


class Registry:
    def __init__(self, folder: Path | None = None) -> None:
        self.folder = Path(folder) if folder is not None else models_dir()
        self.path = self.folder / REGISTRY_NAME
        self._lock = threading.Lock()

    def list(self) -> list[InstalledModel]:
        return sorted(self._read().values(), key=lambda m: m.name.lower())

    def get(self, model_id: str) -> InstalledModel | None:
        return self._read().get(model_id)

    def add(self, model: InstalledModel) -> None:
        with self._lock:
            models = self._read()
            models[model.id] = model
            self._write(models)

    def remove(self, model_id: str, delete_files: bool = True) -> InstalledModel:
        """Forget a model; delete its files only when they are ours (downloaded into the folder)."""
        with self._lock:
            models = self._read()
            model = models.pop(model_id, None)
            if model is None:
                raise RegistryError(f"no installed model is called {model_id!r} (see `stagelens models list`)")
            self._write(models)
        if delete_files and model.owns_files:
            for path in (model.text, model.mmproj):
                p = Path(path)
                if self._inside_folder(p) and not self._still_used(p):
                    p.unlink(missing_ok=True)
            folder = Path(model.text).parent
            if self._inside_folder(folder) and folder != self.folder and not any(folder.iterdir()):
                folder.rmdir()
        return model

    def _still_used(self, path: Path) -> bool:
        return any(str(path) in (m.text, m.mmproj) for m in self._read().values())

    def _inside_folder(self, path: Path) -> bool:
        try:
            path.resolve().relative_to(self.folder.resolve())
        except ValueError:
            return False
        return True

    def _read(self) -> dict[str, InstalledModel]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise RegistryError(f"the installed-models list {self.path} is unreadable ({exc})") from exc
        return {m["id"]: InstalledModel.from_json(m) for m in data.get("models", [])}

    def _write(self, models: dict[str, InstalledModel]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        payload = {"schema": SCHEMA, "models": [asdict(m) for m in models.values()]}
        fd, tmp = tempfile.mkstemp(prefix=".installed-", suffix=".json", dir=self.folder)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(payload, fh, indent=2)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def installed_models(folder: Path | None = None) -> list[InstalledModel]:
    return Registry(folder).list()
