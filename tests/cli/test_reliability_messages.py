"""The message nits of issue 12: a folder given as a file says it is a folder, a truncated GGUF never
shows numpy's text, and the window never capitalises a file name that starts a message."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from tests.fixtures.cli import one_line_error, run_stagelens
from tests.fixtures.models import write_wide_projector

from stagelens.models.gguf_file import read_gguf_header

APP_DIR = Path(__file__).resolve().parents[2] / "app"
NUMPY_WORDS = ("reshape", "numpy", "array of size", "ndarray", "Traceback")


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(APP_DIR), "STAGELENS_HOME": str(tmp_path / "home")}


def test_ask_says_a_folder_is_a_folder(tmp_path, tiny_model, scene_path):
    folder = tmp_path / "a-folder"
    folder.mkdir()
    model = ["--model", str(tiny_model.text), "--mmproj", str(tiny_model.mmproj)]
    line = one_line_error(run_stagelens("ask", str(folder), "-q", "What?", *model, env=env(tmp_path)))
    assert "a-folder is a folder, not an image file" in line
    for flags in (["--model", str(folder), "--mmproj", str(tiny_model.mmproj)], [*model[:2], "--mmproj", str(folder)]):
        line = one_line_error(run_stagelens("ask", str(scene_path), "-q", "What?", *flags, env=env(tmp_path)))
        assert f"{folder} is a folder, not a GGUF file" in line and "does not exist" not in line


def _cuts(path: Path) -> list[int]:
    """Cut points in its metadata, its tensor list and its tensor data."""
    header = read_gguf_header(path)
    return [200, header.data_offset - 40, path.stat().st_size - 1]


@pytest.mark.parametrize("role", ["text", "mmproj"])
def test_a_truncated_gguf_never_shows_numpy_text(tmp_path, tiny_model, scene_path, role):
    source = Path(tiny_model.text if role == "text" else tiny_model.mmproj)
    for n, cut in enumerate(_cuts(source)):
        folder = tmp_path / f"cut-{n}"
        folder.mkdir()
        text, mmproj = folder / "tiny-text.gguf", folder / "tiny-mmproj.gguf"
        shutil.copy(tiny_model.text, text)
        shutil.copy(tiny_model.mmproj, mmproj)
        damaged = text if role == "text" else mmproj
        damaged.write_bytes(source.read_bytes()[:cut])
        runs = [
            run_stagelens("models", "info", str(damaged), env=env(tmp_path)),
            run_stagelens("models", "import", str(text), str(mmproj), env=env(tmp_path)),
            run_stagelens(
                "ask", str(scene_path), "-q", "What?", "--model", str(text), "--mmproj", str(mmproj), env=env(tmp_path)
            ),
        ]
        for out in runs:
            line = one_line_error(out)
            assert f"{damaged.name} is" in line and not any(w in out.stderr for w in NUMPY_WORDS), (cut, out.stderr)


def test_the_window_banner_keeps_a_file_name_as_it_is(qtbot, tiny_model, tmp_path):
    pytest.importorskip("PySide6")
    from stagelens.history import HistoryStore
    from stagelens.models.default import ModelChoice
    from stagelens.settings import AppSettings
    from stagelens.ui.main_window import MainWindow

    mmproj = write_wide_projector(tmp_path / "mmproj-tiny-f16.gguf")
    window = MainWindow(
        history=HistoryStore(tmp_path / "data"),
        settings=AppSettings(n_ctx=2048),
        model=ModelChoice("Mismatched", tiny_model.text, mmproj, "test"),
        save_settings_file=False,
    )
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(window.banner.isVisible, timeout=120_000)
    text = window.banner_text.text()
    assert "mmproj-tiny-f16.gguf projects to 96-wide embeddings" in text and "Mmproj" not in text
