"""GPU offload: which backend the installed llama-cpp-python was built with, the devices it
sees, and how many layers to offload ("auto" fits the model in free VRAM with headroom)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stagelens.models.gguf_info import GGUFInfo, human_bytes, read_gguf_info

# Left free on the GPU for the compute buffers, the driver and other programs.
HEADROOM_BYTES = 768 * 1024 * 1024
HEADROOM_FRACTION = 0.10
GPU_TYPES = ("gpu", "igpu")

INSTALL_HINTS = {
    "CUDA": 'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python==0.3.36',
    "Metal": "pip install llama-cpp-python==0.3.36 (Metal is on by default on Apple silicon)",
    "Vulkan": 'CMAKE_ARGS="-DGGML_VULKAN=on" pip install --force-reinstall --no-cache-dir llama-cpp-python==0.3.36',
}


@dataclass(frozen=True)
class Device:
    name: str
    description: str
    type: str  # cpu | gpu | igpu | accel
    backend: str  # CPU | CUDA | Metal | Vulkan | ...
    free: int
    total: int

    @property
    def is_gpu(self) -> bool:
        return self.type in GPU_TYPES


@dataclass(frozen=True)
class BackendInfo:
    backends: tuple[str, ...]  # e.g. ("CPU",) or ("CUDA", "CPU")
    devices: tuple[Device, ...]
    gpu_offload: bool

    @property
    def gpus(self) -> tuple[Device, ...]:
        return tuple(d for d in self.devices if d.is_gpu)

    @property
    def summary(self) -> str:
        if not self.gpus:
            return "CPU only: this llama-cpp-python was built without a GPU backend"
        names = ", ".join(f"{d.description or d.name} ({human_bytes(d.free)} free)" for d in self.gpus)
        return f"{'/'.join(b for b in self.backends if b != 'CPU')}: {names}"


def backend_info(devices: list[dict] | None = None) -> BackendInfo:
    """What the installed llama-cpp-python offers; ``devices`` (as native.devices() returns them)
    can be passed in to describe another machine."""
    if devices is None:
        from stagelens.engine import native

        devices = native.devices()
        offload = bool(native.supports_gpu_offload())
    else:
        offload = any(d.get("type") in GPU_TYPES for d in devices)
    devs = tuple(
        Device(
            str(d.get("name", "?")),
            str(d.get("description", "")),
            str(d.get("type", "cpu")),
            str(d.get("backend", "CPU")),
            int(d.get("free") or 0),
            int(d.get("total") or 0),
        )
        for d in devices
    )
    backends: list[str] = []
    for d in sorted(devs, key=lambda d: not d.is_gpu):
        if d.backend not in backends:
            backends.append(d.backend)
    return BackendInfo(tuple(backends) or ("CPU",), devs, offload and any(d.is_gpu for d in devs))


@dataclass(frozen=True)
class OffloadPlan:
    n_gpu_layers: int
    n_layer: int
    free_vram: int
    needed_all: int  # bytes to put every layer, the KV cache and the projector on the GPU
    reason: str


def plan_offload(
    text: GGUFInfo | str | Path, mmproj: GGUFInfo | str | Path | None, n_ctx: int, info: BackendInfo | None = None
) -> OffloadPlan:
    """How many layers fit in free VRAM, keeping HEADROOM free. All of them (n_layer + 1, which
    also offloads the output layer) when everything fits; 0 without a GPU."""
    t = text if isinstance(text, GGUFInfo) else read_gguf_info(text)
    p = mmproj if isinstance(mmproj, GGUFInfo) or mmproj is None else read_gguf_info(mmproj)
    info = info or backend_info()
    n_layer = int(t.n_layer or 0)
    free = sum(d.free for d in info.gpus)
    projector = p.file_size if p is not None else 0
    kv_total = (t.kv_bytes_per_token or 0) * n_ctx
    needed_all = t.file_size + kv_total + projector
    if not info.gpus or n_layer == 0:
        return OffloadPlan(0, n_layer, free, needed_all, "no GPU: everything runs on the CPU")
    budget = free - HEADROOM_BYTES - int(HEADROOM_FRACTION * free) - projector
    if budget >= t.file_size + kv_total:
        return OffloadPlan(n_layer + 1, n_layer, free, needed_all, "the whole model fits in free VRAM")
    per_layer = (t.file_size + kv_total) / (n_layer + 1)  # the output layer counts as one more
    layers = max(0, min(n_layer, int(budget // per_layer))) if budget > 0 else 0
    reason = (
        f"{layers} of {n_layer} layers fit in {human_bytes(free)} free VRAM "
        f"(the model needs about {human_bytes(needed_all)})"
    )
    return OffloadPlan(layers, n_layer, free, needed_all, reason)


def resolve_gpu_layers(
    setting: str | int, text: str | Path, mmproj: str | Path | None, n_ctx: int, info: BackendInfo | None = None
) -> int:
    """``"auto"`` → plan_offload; a number is used as given (0 = CPU only, -1 = every layer)."""
    if isinstance(setting, str):
        if setting.strip().lower() == "auto":
            return plan_offload(text, mmproj, n_ctx, info).n_gpu_layers
        try:
            setting = int(setting)
        except ValueError:
            raise ValueError(f"GPU layers must be 'auto' or a whole number, not {setting!r}") from None
    if setting < -1:
        raise ValueError("GPU layers must be 'auto', -1 (all), 0 (CPU only) or a positive number")
    return setting
