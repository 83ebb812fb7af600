"""`stagelens info`: what this installation is and where it keeps things."""

from __future__ import annotations

import platform
import sys
from pathlib import Path


def loaded_native_libraries() -> list[str]:
    """Paths of libllama / libmtmd / libggml* mapped into this process (Linux only)."""
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return []
    found = set()
    for line in maps.read_text().splitlines():
        path = line.split()[-1] if "/" in line else ""
        name = Path(path).name
        if name.startswith(("libllama", "libmtmd", "libggml")):
            found.add(path)
    return sorted(found)


def collect() -> dict:
    from stagelens import __version__, paths
    from stagelens.engine import native

    return {
        "version": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "frozen": bool(getattr(sys, "frozen", False)),
        "gpu_offload": native.supports_gpu_offload(),
        "devices": native.devices(),
        "llama_system_info": native.system_info().strip(),
        "native_libraries": loaded_native_libraries(),
        "data_dir": str(paths.data_dir()),
        "config_dir": str(paths.config_dir()),
        "cache_dir": str(paths.cache_dir()),
    }


def format_info(info: dict) -> str:
    lines = [f"StageLens {info['version']} (Python {info['python']}, {info['platform']})"]
    lines.append(f"frozen: {info['frozen']}  ·  GPU offload: {info['gpu_offload']}")
    for dev in info["devices"]:
        mem = f", {dev['free'] / 2**30:.1f}/{dev['total'] / 2**30:.1f} GiB free" if dev["total"] else ""
        lines.append(f"device: {dev['backend']} {dev['name']} ({dev['type']}: {dev['description']}{mem})")
    lines.append(f"llama.cpp: {info['llama_system_info']}")
    for lib in info["native_libraries"]:
        lines.append(f"loaded: {lib}")
    lines += [f"data: {info['data_dir']}", f"config: {info['config_dir']}", f"cache: {info['cache_dir']}"]
    return "\n".join(lines)
