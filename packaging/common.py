"""Shared by the PyInstaller specs: project facts from pyproject.toml and the bundle contents."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
NAME: str = PROJECT["name"]
VERSION: str = PROJECT["version"]
DISPLAY_NAME = "StageLens"

# Qt modules StageLens never imports; PySide6's hooks would otherwise pull some in.
QT_EXCLUDES = [
    f"PySide6.{m}"
    for m in (
        "QtWebEngineCore",
        "QtWebEngineWidgets",
        "QtWebChannel",
        "QtQml",
        "QtQuick",
        "QtQuickWidgets",
        "QtQuick3D",
        "Qt3DCore",
        "Qt3DRender",
        "QtMultimedia",
        "QtMultimediaWidgets",
        "QtCharts",
        "QtDataVisualization",
        "QtPdf",
        "QtPdfWidgets",
        "QtBluetooth",
        "QtNfc",
        "QtPositioning",
        "QtSensors",
        "QtSerialPort",
        "QtSql",
        "QtTest",
        "QtDesigner",
        "QtHelp",
        "QtUiTools",
        "QtOpenGL",
        "QtOpenGLWidgets",
        "QtSvgWidgets",
        "QtXml",
        "QtConcurrent",
        "QtNetworkAuth",
        "QtRemoteObjects",
        "QtScxml",
        "QtSpatialAudio",
        "QtTextToSpeech",
        "QtHttpServer",
        "QtWebSockets",
    )
]
# Never shipped: development tooling (test-model writers, benchmarks; the product imports it only lazily and
# says what is missing without it), training, and the test tools.
PY_EXCLUDES = [
    "stagelens_dev",
    "tkinter",
    "torch",
    "pyarrow",  # `stagelens eval` reads parquet with it when installed (the `research` extra); never shipped
    "IPython",
    "matplotlib",
    "pytest",
    "hypothesis",
    "_pytest",
    "pyinstaller",
]

HIDDEN_IMPORTS = [
    "stagelens.engine._native",
    "llama_cpp.mtmd_cpp",
    "stagelens.models.cli",
    "stagelens.evaluation.cli",
    "stagelens.ui.app",
]

# The llama/ggml/mtmd libraries live once, in llama_cpp/lib (llama_cpp loads them by
# path, our extension binds to those by soname). PyInstaller would add a second copy
# at the top level as dependencies of our extension: leave those out.
LLAMA_PREFIXES = ("libllama", "libggml", "libmtmd", "llama.dll", "ggml", "mtmd.dll")


def package_root() -> str:
    """The sys.path entry that holds the `stagelens` this Python imports: site-packages for a
    release venv (with its compiled extension), app/ for an editable install. Never the source
    tree by default: a fresh clone's app/ has no compiled extension."""
    spec = importlib.util.find_spec("stagelens")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("stagelens is not installed in the Python running PyInstaller")
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    if not any((package_dir / "engine").glob("_native*")):
        raise SystemExit(f"{package_dir} has no compiled engine extension: install StageLens with pip first")
    return str(package_dir.parent)


def datas() -> list[tuple[str, str]]:
    items = [(str(ROOT / "resources"), "resources")]
    if (ROOT / "models" / "demo").is_dir():
        items.append((str(ROOT / "models" / "demo"), "models/demo"))
    if (ROOT / "models" / "catalog.json").is_file():
        items.append((str(ROOT / "models" / "catalog.json"), "models"))
    return items


def keep_binary(dest: str) -> bool:
    parts = Path(dest.replace("\\", "/")).parts
    name = parts[-1]
    if len(parts) == 1 and name.lower().startswith(LLAMA_PREFIXES):
        return False
    # Linux: a bundled libstdc++ breaks Mesa's drivers on newer distributions
    return not (sys.platform.startswith("linux") and name.startswith("libstdc++.so"))
