"""The packaged app: archive/.deb layout (fast), and a real one-folder build that runs (slow)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "packaging"))
import build as packaging_build  # noqa: E402
import common as packaging_common  # noqa: E402


def test_spec_reads_name_and_version_from_pyproject():
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert (project["name"], project["version"]) == (packaging_common.NAME, packaging_common.VERSION)


@pytest.mark.parametrize(
    ("dest", "kept"),
    [
        ("libllama.so.0", False),  # duplicate of llama_cpp/lib/libllama.so
        ("llama_cpp/lib/libllama.so", True),
        ("libstdc++.so.6", not sys.platform.startswith("linux")),
        ("PySide6/Qt/lib/libQt6Core.so.6", True),
    ],
)
def test_bundle_filter(dest, kept):
    assert packaging_common.keep_binary(dest) is kept


def _fake_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "stagelens"
    lib = folder / "_internal" / "llama_cpp" / "lib"
    lib.mkdir(parents=True)
    (lib / "libllama.so").write_bytes(b"\x7fELF fake")
    (lib / "libllama.so.0").write_bytes(b"\x7fELF fake")
    (folder / "stagelens").write_text("#!/bin/sh\necho hi\n")
    (folder / "stagelens").chmod(0o755)
    return folder


def test_tarball_and_deb_layout(tmp_path):
    folder = _fake_folder(tmp_path)
    packaging_build.relink_duplicates(folder)
    assert (folder / "_internal/llama_cpp/lib/libllama.so.0").is_symlink()
    packaging_build.check_bundle(folder)
    dist = tmp_path / "dist"
    dist.mkdir()
    tarball = packaging_build.make_tarball(folder, dist)
    assert tarball.name == f"StageLens-{packaging_common.VERSION}-linux-x86_64.tar.gz"
    with tarfile.open(tarball) as tar:
        names = tar.getnames()
    top = f"StageLens-{packaging_common.VERSION}-linux-x86_64"
    assert f"{top}/stagelens" in names
    deb = packaging_build.make_deb(folder, dist, tmp_path / "build")
    listing = subprocess.run(["dpkg-deb", "-c", str(deb)], capture_output=True, text=True, check=True).stdout
    for needed in (
        "./opt/stagelens/stagelens",
        "./usr/share/applications/stagelens.desktop",
        "./usr/share/icons/hicolor/256x256/apps/stagelens.png",
        "./usr/bin/stagelens -> /opt/stagelens/stagelens",
    ):
        assert needed in listing
    fields = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Package", "Version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"Version: {packaging_common.VERSION}" in fields


def test_check_bundle_refuses_libstdcxx_and_two_libllamas(tmp_path):
    folder = _fake_folder(tmp_path)
    packaging_build.relink_duplicates(folder)
    (folder / "_internal" / "libstdc++.so.6").write_bytes(b"x")
    with pytest.raises(SystemExit, match="libstdc"):
        packaging_build.check_bundle(folder)
    (folder / "_internal" / "libstdc++.so.6").unlink()
    (folder / "_internal" / "libllama.so.0").write_bytes(b"another copy")
    with pytest.raises(SystemExit, match="one libllama"):
        packaging_build.check_bundle(folder)


def test_desktop_file_is_valid():
    text = (ROOT / "packaging/linux/stagelens.desktop").read_text()
    entries = dict(line.split("=", 1) for line in text.splitlines() if "=" in line)
    assert text.startswith("[Desktop Entry]")
    assert entries["Type"] == "Application" and entries["Exec"].startswith("/opt/stagelens/stagelens")
    assert entries["Icon"] == "stagelens" and entries["Terminal"] == "false"


# ------------------------------------------------------------------ the real build


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory) -> Path:
    build_dir = tmp_path_factory.mktemp("pkg-build")
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "packaging/build.py"),
            "--env",
            "current",
            "--folder-only",
            "--build-dir",
            str(build_dir),
        ],
        check=True,
        timeout=900,
    )
    return build_dir / "pyinstaller" / "dist" / "stagelens"


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def _env(tmp_path: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.update(STAGELENS_HOME=str(tmp_path / "home"), QT_QPA_PLATFORM="offscreen", **extra)
    return env


@pytest.mark.slow
def test_frozen_app_answers_and_keeps_one_libllama(frozen_app, tiny_model, tmp_path):
    exe = frozen_app / "stagelens"
    before = _files(frozen_app)
    sample = frozen_app / "_internal" / "resources" / "samples" / "cups.jpg"
    out = subprocess.run(
        [
            str(exe),
            "ask",
            str(sample),
            "-q",
            "How many red cups?",
            "--model",
            str(tiny_model.text),
            "--mmproj",
            str(tiny_model.mmproj),
            "--beam",
            "2",
            "--max-stage-tokens",
            "8",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(tmp_path),
    )
    assert out.returncode == 0, out.stderr
    trace = json.loads(out.stdout)
    assert len(trace["stages"]) == 4 and trace["stats"]["image_encodes"] == 1
    info = json.loads(
        subprocess.run(
            [str(exe), "info", "--json"], capture_output=True, text=True, timeout=120, env=_env(tmp_path), check=True
        ).stdout
    )
    assert info["frozen"] is True
    libllama = [p for p in info["native_libraries"] if Path(p).name.startswith("libllama")]
    assert len(libllama) == 1 and "llama_cpp/lib" in libllama[0]
    assert info["data_dir"].startswith(str(tmp_path))
    plugins = {p.name for p in (frozen_app / "_internal/PySide6/Qt/plugins/platforms").iterdir()}
    assert {"libqxcb.so", "libqwayland.so", "libqoffscreen.so"} <= plugins
    assert not list(frozen_app.rglob("libstdc++.so*"))
    assert _files(frozen_app) == before, "the frozen app wrote inside its own folder"


@pytest.mark.slow
def test_frozen_app_ships_the_demo_model_and_keeps_data_in_platformdirs(frozen_app, tmp_path):
    internal = frozen_app / "_internal"
    assert (internal / "models/demo/demo-text.gguf").is_file() and (internal / "models/demo/demo-mmproj.gguf").is_file()
    assert (internal / "models/catalog.json").is_file()
    before = _files(frozen_app)
    # no STAGELENS_HOME: the platformdirs defaults, under an XDG layout of our own
    env = {k: v for k, v in _env(tmp_path).items() if k != "STAGELENS_HOME"}
    env.update(
        HOME=str(tmp_path / "user"),
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_CACHE_HOME=str(tmp_path / "xdg-cache"),
    )
    info = json.loads(
        subprocess.run(
            [str(frozen_app / "stagelens"), "info", "--json"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=True,
        ).stdout
    )
    assert info["data_dir"].startswith(str(tmp_path / "xdg-data"))
    listed = subprocess.run(
        [str(frozen_app / "stagelens"), "models", "list", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert listed.returncode == 0, listed.stderr
    assert "qwen" in listed.stdout.lower(), "the catalog is bundled"
    answer = subprocess.run(
        [
            str(frozen_app / "stagelens"),
            "ask",
            str(internal / "resources/samples/scene-1.png"),
            "-q",
            "How many shapes are there?",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert answer.returncode == 0, answer.stderr
    assert "demo-text.gguf" in json.loads(answer.stdout)["model"]["path"], "the bundled demo model is the default"
    assert _files(frozen_app) == before, "the frozen app wrote inside its own folder"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("stagelens.ui.app") is None, reason="the window is not built yet")
def test_frozen_app_passes_its_self_test(frozen_app, tmp_path):
    before = _files(frozen_app)
    out = subprocess.run(
        [str(frozen_app / "stagelens"), "--self-test"], capture_output=True, text=True, timeout=300, env=_env(tmp_path)
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert _files(frozen_app) == before, "the frozen app wrote inside its own folder"


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("stagelens.ui.app") is None, reason="the window is not built yet")
def test_frozen_app_without_display_says_so(frozen_app, tmp_path):
    env = _env(tmp_path)
    for key in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY"):
        env.pop(key, None)
    out = subprocess.run([str(frozen_app / "stagelens")], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr and "display" in (out.stderr + out.stdout).lower()
    env["DISPLAY"] = ":987"  # set, but no server answers: Qt would abort
    out = subprocess.run([str(frozen_app / "stagelens")], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 2 and "no display" in out.stderr and "Traceback" not in out.stderr


@pytest.mark.slow
def test_frozen_app_ships_no_tooling_and_says_what_presets_need(frozen_app, tmp_path):
    from PyInstaller.archive.readers import pkg_archive_contents

    modules = pkg_archive_contents(str(frozen_app / "stagelens"))
    assert "stagelens.bench.command" in modules and "stagelens.models.gguf_file" in modules, modules[:20]
    assert not [m for m in modules if m.split(".")[0] in ("stagelens_dev", "torch")]
    assert not list(frozen_app.rglob("stagelens_dev*")) and not list(frozen_app.rglob("torch"))
    bench = subprocess.run(
        [str(frozen_app / "stagelens"), "bench", "--beams", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(tmp_path),
    )
    assert bench.returncode == 2 and "Traceback" not in bench.stderr
    assert len(bench.stderr.strip().splitlines()) == 1 and "development install" in bench.stderr
    make = subprocess.run(
        [str(frozen_app / "stagelens"), "make-test-model", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        env=_env(tmp_path),
    )
    assert make.returncode == 2 and "make-test-model" in make.stderr and not (tmp_path / "out").exists()
