"""Loading a model pair once to see that its weights compute numbers: what `models import` and a
download without a published checksum do before a model is registered (its header being intact
says nothing about its tensor data)."""

from __future__ import annotations

from pathlib import Path

from stagelens.models.gguf_info import ModelFileError

PROBE_CTX = 512  # the probe decodes one token and encodes one image: a small context is enough


class DamagedFileError(ModelFileError):
    """A model file whose tensor data is damaged (it computes NaN or infinity); `path` is that file."""

    def __init__(self, message: str, path: Path) -> None:
        super().__init__(message)
        self.path = path


class UnloadableModelError(ModelFileError):
    """llama.cpp cannot load the pair."""


def probe_model_files(text: str | Path, mmproj: str | Path) -> None:
    """Load the pair on the CPU, decode one token and encode one image; raise DamagedFileError naming
    the file that computes invalid numbers, UnloadableModelError when llama.cpp refuses the pair."""
    from stagelens.engine import DamagedModelError, Engine, EngineError, LoadSettings

    settings = LoadSettings(str(text), str(mmproj), n_gpu_layers=0, n_ctx=PROBE_CTX, max_beam=1)
    try:
        with Engine(settings) as engine:
            engine.probe()
    except DamagedModelError as exc:
        raise DamagedFileError(str(exc), exc.path) from exc
    except (EngineError, ValueError) as exc:
        raise UnloadableModelError(f"llama.cpp cannot load {Path(text).name} with {Path(mmproj).name}: {exc}") from exc
