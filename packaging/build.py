"""Build the Linux one-folder app, its tar.gz and its .deb into dist/.

    python3 packaging/build.py                 # release: llama.cpp built for x86-64 with AVX2
    python3 packaging/build.py --env current   # quick: reuse the running Python's packages

A release build makes build/release-venv once, with llama-cpp-python compiled with
-DGGML_NATIVE=OFF (no -march=native): the binary needs AVX2, FMA and F16C (Intel Haswell,
AMD Zen or newer), not the build machine's own instruction set.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

ROOT = common.ROOT
LLAMA_PIN = "llama-cpp-python==0.3.36"
# Qt's xcb plugin needs libxcb-icccm4 and libxcb-keysyms1, which PyInstaller cannot bundle when the
# build machine lacks them (its log says "Library not found")
DEB_DEPENDS = (
    "libc6, libgl1, libegl1, libfontconfig1, libxkbcommon0, libxkbcommon-x11-0, libdbus-1-3, "
    "libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1"
)


def run(cmd: list[str], **kw) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, **kw)


def release_python(build_dir: Path) -> str:
    """A venv with a portable llama-cpp-python, StageLens and PyInstaller."""
    venv = build_dir / "release-venv"
    python = venv / "bin" / "python"
    wheels = build_dir / "wheels"
    if not python.exists():
        run([sys.executable, "-m", "venv", str(venv)])
    if not any(wheels.glob("llama_cpp_python-*.whl")):
        # --no-cache-dir: pip's wheel cache does not know about CMAKE_ARGS and would hand back
        # a -march=native build
        env = {**os.environ, "CMAKE_ARGS": "-DGGML_NATIVE=OFF"}
        run([str(python), "-m", "pip", "wheel", "--no-cache-dir", "--no-deps", "-w", str(wheels), LLAMA_PIN], env=env)
    wheel = next(wheels.glob("llama_cpp_python-*.whl"))
    run([str(python), "-m", "pip", "install", "-q", str(wheel), str(ROOT), "pyinstaller>=6.10"])
    return str(python)


def pyinstaller(python: str, build_dir: Path) -> Path:
    out = build_dir / "pyinstaller"
    run(
        [
            python,
            "-m",
            "PyInstaller",
            "--noconfirm",
            "--clean",
            "--log-level",
            "WARN",
            "--distpath",
            str(out / "dist"),
            "--workpath",
            str(out / "work"),
            str(ROOT / "packaging" / "stagelens.spec"),
        ]
    )
    return out / "dist" / common.NAME


def relink_duplicates(folder: Path) -> None:
    """llama_cpp/lib holds libX.so and libX.so.0 as identical copies (the wheel had
    symlinks); turn the versioned names back into links."""
    lib = folder / "_internal" / "llama_cpp" / "lib"
    for versioned in sorted(lib.glob("*.so.*")):
        plain = lib / (versioned.name.split(".so.")[0] + ".so")
        if plain.is_file() and not versioned.is_symlink() and plain.read_bytes() == versioned.read_bytes():
            versioned.unlink()
            versioned.symlink_to(plain.name)


def check_bundle(folder: Path) -> None:
    real = {p.resolve() for p in folder.rglob("libllama*")}
    if len(real) != 1:
        raise SystemExit(f"expected one libllama file, found {sorted(real)}")
    stdcpp = list(folder.rglob("libstdc++.so*"))
    if stdcpp:
        raise SystemExit(f"libstdc++ must not be bundled: {stdcpp}")
    if not (folder / common.NAME).is_file():
        raise SystemExit("the stagelens executable is missing")


def folder_size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def make_tarball(folder: Path, dist: Path) -> Path:
    stem = f"{common.DISPLAY_NAME}-{common.VERSION}-linux-x86_64"
    target = dist / f"{stem}.tar.gz"
    tmp = target.with_suffix(".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        tar.add(folder, arcname=stem)
    tmp.replace(target)
    return target


def icon_png(staging: Path) -> Path:
    icon = ROOT / "resources" / "icons" / "stagelens-256.png"
    target = staging / "usr/share/icons/hicolor/256x256/apps/stagelens.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    if icon.is_file():
        shutil.copy2(icon, target)
    else:
        from PIL import Image, ImageDraw

        img = Image.new("RGBA", (256, 256), (0, 0, 0, 0))
        draw = ImageDraw.Draw(img)
        draw.rounded_rectangle((16, 16, 240, 240), radius=48, fill=(46, 92, 170))
        for i, y in enumerate((70, 112, 154, 196)):
            draw.rounded_rectangle((64, y - 14, 192 - 24 * (3 - i), y + 14), radius=12, fill=(255, 255, 255, 230))
        img.save(target)
    return target


def make_deb(folder: Path, dist: Path, build_dir: Path) -> Path:
    staging = build_dir / "deb"
    if staging.exists():
        shutil.rmtree(staging)
    opt = staging / "opt" / "stagelens"
    shutil.copytree(folder, opt, symlinks=True)
    (staging / "usr/bin").mkdir(parents=True)
    (staging / "usr/bin/stagelens").symlink_to("/opt/stagelens/stagelens")
    apps = staging / "usr/share/applications"
    apps.mkdir(parents=True)
    shutil.copy2(ROOT / "packaging/linux/stagelens.desktop", apps / "stagelens.desktop")
    icon_png(staging)
    control = staging / "DEBIAN" / "control"
    control.parent.mkdir()
    control.write_text(
        f"Package: stagelens\nVersion: {common.VERSION}\nArchitecture: amd64\n"
        f"Maintainer: StageLens <hello@stagelens.app>\nDepends: {DEB_DEPENDS}\n"
        f"Installed-Size: {folder_size(opt) // 1024}\nSection: graphics\nPriority: optional\n"
        f"Description: {common.PROJECT['description']}\n"
        " Ask questions about images; answers are reasoned in four stages (summary, caption,\n"
        " reasoning, conclusion) with stage-level beam search, running locally.\n"
    )
    target = dist / f"stagelens_{common.VERSION}_amd64.deb"
    run(["dpkg-deb", "--build", "--root-owner-group", str(staging), str(target)])
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--env", choices=("release", "current"), default="release")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    parser.add_argument("--build-dir", type=Path, default=ROOT / "build")
    parser.add_argument("--folder-only", action="store_true", help="stop after the one-folder app")
    args = parser.parse_args(argv)
    if not sys.platform.startswith("linux"):
        raise SystemExit("this script builds the Linux packages; see packaging/macos and packaging/windows")
    args.build_dir.mkdir(parents=True, exist_ok=True)
    args.dist.mkdir(parents=True, exist_ok=True)
    python = release_python(args.build_dir) if args.env == "release" else sys.executable
    folder = pyinstaller(python, args.build_dir)
    relink_duplicates(folder)
    check_bundle(folder)
    print(f"one-folder app: {folder} ({folder_size(folder) / 2**20:.0f} MB)")
    if args.folder_only:
        return 0
    tarball = make_tarball(folder, args.dist)
    deb = make_deb(folder, args.dist, args.build_dir)
    for path in (tarball, deb):
        print(f"{path} ({path.stat().st_size / 2**20:.0f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
