"""The models the window can switch to, and what each is in a line: family, size, quantization
and where it runs. No widgets: the model picker (ui/model_picker.py) and Settings show these."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from stagelens.models.gguf_info import ModelFileError, human_bytes, human_count, read_gguf_info
from stagelens.settings import AppSettings

log = logging.getLogger(__name__)

# what a vision projector's type says about the model family (llama.cpp's clip projector names)
PROJECTOR_FAMILIES = {
    "idefics3": "SmolVLM",
    "qwen2vl_merger": "Qwen2-VL",
    "qwen25vl_merger": "Qwen2.5-VL",
    "qwen3vl_merger": "Qwen3-VL",
    "gemma3": "Gemma 3",
    "internvl": "InternVL",
    "mlp": "LLaVA",
    "ldp": "LLaVA",
    "ldpv2": "LLaVA",
}


@dataclass(frozen=True)
class KnownModel:
    """A model to offer by name: empty paths mean "the default model"."""

    name: str
    text: str = ""
    mmproj: str = ""
    family: str | None = None  # from the catalog, when it came from there


def known_models(default_model_name: str) -> list[KnownModel]:
    """The default model, the demo model when it is not the default, and every installed model."""
    from stagelens.models.default import demo_model
    from stagelens.models.registry import RegistryError, installed_models

    models = [KnownModel(f"Default: {default_model_name}")]
    demo = demo_model()
    if demo is not None and demo.name != default_model_name:
        models.append(KnownModel(demo.name, str(demo.text), str(demo.mmproj), "StageLens demo"))
    try:
        installed = installed_models()
    except (RegistryError, OSError) as exc:
        log.warning("installed models could not be listed: %s", exc)
        installed = []
    families = _catalog_families()
    for m in installed:
        family = next((f for cid, f in families.items() if m.id == cid or m.id.startswith(cid + "-")), None)
        models.append(KnownModel(m.name, m.text, m.mmproj, family))
    return models


def _catalog_families() -> dict[str, str]:
    try:
        from stagelens.models.catalog import load_catalog

        return {entry.id: entry.family for entry in load_catalog()}
    except Exception as exc:  # the catalog is optional here: families then come from the files
        log.debug("no catalog for model families: %s", exc)
        return {}


@dataclass(frozen=True)
class ModelFacts:
    family: str
    parameters: str  # "2.2B"
    size: str  # of both files, "1.4 GB"
    quantization: str  # of the text model, "Q4_K_M"
    problem: str = ""  # why the files could not be read (the rest is then unknown)

    def short(self, where: str = "") -> str:
        """For a menu: family · parameters · quantization · where it runs."""
        if self.problem:
            return "its files cannot be read"
        return " · ".join(p for p in (self.family, self.parameters, self.quantization, where) if p)

    def line(self, where: str = "") -> str:
        if self.problem:
            return self.problem
        parts = [self.family, f"{self.parameters} parameters", self.size, self.quantization]
        return " · ".join(p for p in [*parts, where] if p)


def model_facts(text: str | Path, mmproj: str | Path, family: str | None = None) -> ModelFacts:
    try:
        path, projector = Path(text), Path(mmproj)
        stat, projector_stat = path.stat(), projector.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns, str(projector), projector_stat.st_size)
    except OSError as exc:
        return ModelFacts(family or "", "", "", "", f"Its files cannot be read: {exc.strerror or exc}")
    return _facts(key, family)


@lru_cache(maxsize=64)
def _facts(key: tuple[str, int, int, str, int], family: str | None) -> ModelFacts:
    text, _size, _mtime, mmproj, projector_size = key
    try:
        info = read_gguf_info(text)
        projector = read_gguf_info(mmproj)
    except ModelFileError as exc:
        return ModelFacts(family or "", "", "", "", str(exc))
    named = family or PROJECTOR_FAMILIES.get(projector.projector_type or "") or info.architecture
    return ModelFacts(
        named, human_count(info.n_params), human_bytes(info.file_size + projector_size), info.quantization
    )


def where_it_runs(settings: AppSettings, backend: str | None = None) -> str:
    """ "CPU", or the GPU backend it runs (or would run) on."""
    if backend:  # the loaded model: what the engine reported
        return backend if backend != "CPU" else "CPU"
    if not settings.gpu_auto and settings.n_gpu_layers == 0:
        return "CPU"
    try:
        from stagelens.models.gpu import backend_info

        gpus = backend_info().gpus
    except Exception as exc:  # no native library: it would not run at all, but say where it is meant to
        log.debug("no GPU information: %s", exc)
        return "CPU"
    return gpus[0].backend if gpus else "CPU"
