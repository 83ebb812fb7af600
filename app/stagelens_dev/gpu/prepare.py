"""Make the `.gpu/` folder that travels to a lent GPU machine, which has no network.

    python -m stagelens_dev.gpu.prepare [--sdist PATH] [--out .gpu]

It holds:
- the pinned llama-cpp-python source, slimmed to what a CUDA build reads (the full sdist is 77 MB,
  over the 64 MiB a device call may carry: llama.cpp's vocab models, docs, web UI and tests go);
- wheels (CPython 3.12, manylinux x86-64) of what the machine's image lacks and the engine imports;
- `cpu_reference.json`: greedy tokens and logits from this (CPU) build, for the parity check there.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
from pathlib import Path

from stagelens_dev.gpu.pins import llama_cpp_python_pin, sdist_name, wheels

# Parts of vendor/llama.cpp a library build never reads (LLAMA_BUILD_TESTS/EXAMPLES/SERVER are off
# when llama.cpp is a subdirectory, as in llama-cpp-python's CMakeLists).
_GGML = "vendor/llama.cpp/ggml/src/"
DROPPED = (
    ".git/",
    ".github/",
    "docs/",
    "docker/",
    "examples/",
    "tests/",
    "vendor/llama.cpp/.git/",
    "vendor/llama.cpp/.github/",
    "vendor/llama.cpp/.devops/",
    "vendor/llama.cpp/models/",
    "vendor/llama.cpp/docs/",
    "vendor/llama.cpp/media/",
    "vendor/llama.cpp/benches/",
    "vendor/llama.cpp/tests/",
    "vendor/llama.cpp/examples/",
    "vendor/llama.cpp/gguf-py/",
    "vendor/llama.cpp/tools/ui/",
    "vendor/llama.cpp/tools/server/",
    "vendor/llama.cpp/tools/mtmd/tests/",
    "vendor/llama.cpp/tools/mtmd/test-",
    # the backends a CUDA build does not compile
    *(
        _GGML + name + "/"
        for name in (
            "ggml-cann",
            "ggml-et",
            "ggml-hexagon",
            "ggml-metal",
            "ggml-musa",
            "ggml-opencl",
            "ggml-openvino",
            "ggml-sycl",
            "ggml-virtgpu",
            "ggml-vulkan",
            "ggml-webgpu",
            "ggml-zdnn",
            "ggml-zendnn",
        )
    ),
)


def slim_sdist(source: Path, target: Path) -> tuple[int, int]:
    """Copy the sdist without the DROPPED folders; returns (files kept, files dropped)."""
    kept = dropped = 0
    with tarfile.open(source, "r:gz") as src, tarfile.open(target, "w:gz", compresslevel=9) as dst:
        for member in src:
            inner = member.name.split("/", 1)[1] if "/" in member.name else ""
            if any(inner.startswith(prefix) or inner + "/" == prefix for prefix in DROPPED) or inner == ".git":
                dropped += 1
                continue
            data = src.extractfile(member) if member.isfile() else None
            dst.addfile(member, io.BytesIO(data.read()) if data else None)
            kept += 1
    return kept, dropped


def download_wheels(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    platforms = ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "any"]
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        "3.12",
        "--implementation",
        "cp",
        "-d",
        str(folder),
    ]
    for platform in platforms:
        command += ["--platform", platform]
    subprocess.run(command + list(wheels()), check=True)


def find_sdist(explicit: Path | None) -> Path:
    if explicit is not None:
        return explicit
    cache = Path("build/gpu-sdist")
    cache.mkdir(parents=True, exist_ok=True)
    found = cache / sdist_name()
    if not found.exists():
        # --no-build-isolation: pip only reads the metadata, instead of building cmake from source
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "-q",
                "--no-deps",
                "--no-binary",
                "llama-cpp-python",
                "--no-build-isolation",
                "-d",
                str(cache),
                llama_cpp_python_pin(),
            ],
            check=True,
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stagelens_dev.gpu.prepare",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--sdist", type=Path, help="the llama-cpp-python sdist (default: download it)")
    parser.add_argument("--out", type=Path, default=Path(".gpu"))
    parser.add_argument("--no-reference", action="store_true", help="skip the CPU reference run")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    slim = args.out / sdist_name().replace(".tar.gz", "-slim.tar.gz")
    kept, dropped = slim_sdist(find_sdist(args.sdist), slim)
    print(f"{slim}: {slim.stat().st_size / 2**20:.1f} MiB ({kept} files kept, {dropped} dropped)")
    download_wheels(args.out / "wheels")
    if not args.no_reference:
        from stagelens_dev.gpu.parity import write_reference

        write_reference(args.out / "cpu_reference.json")
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"{args.out}: {total / 2**20:.1f} MiB in all (a device call carries at most 64 MiB with the tree)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
