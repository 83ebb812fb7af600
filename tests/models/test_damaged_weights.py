"""Damaged weights (issue 12): a model file with an intact header and garbage tensor data computes
NaN. It is caught at load (one probe decode), at every sampled token (in the native sampling loop),
by `models import` (probe decode and probe image) and before a download without a published
checksum is registered, and the message names the file."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from tests.fixtures.cli import one_line_error, run_stagelens
from tests.fixtures.damage import damaged_gguf
from tests.fixtures.hub import entry_for, serve

from stagelens.engine import Engine, LoadSettings, UserTurn
from stagelens.models.download import DownloadManager
from stagelens.models.registry import Registry

APP_DIR = Path(__file__).resolve().parents[2] / "app"
TIMEOUT_MS = 120_000
INVALID = "produces invalid numbers (NaN or infinity): the file is damaged"


@pytest.fixture()
def damaged(tiny_model, tmp_path):
    """tiny-text.gguf / tiny-mmproj.gguf pairs in their own folders: good, damaged text, damaged projector."""

    def pair(which: str) -> tuple[Path, Path]:
        folder = tmp_path / which
        folder.mkdir(exist_ok=True)
        text, mmproj = folder / "tiny-text.gguf", folder / "tiny-mmproj.gguf"
        shutil.copy(tiny_model.text, text)
        shutil.copy(tiny_model.mmproj, mmproj)
        if which == "text":
            damaged_gguf(Path(tiny_model.text), text)
        elif which == "mmproj":
            damaged_gguf(Path(tiny_model.mmproj), mmproj)
        return text, mmproj

    return pair


def env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(APP_DIR), "STAGELENS_HOME": str(tmp_path / "home")}


def test_the_engine_refuses_a_damaged_text_model_at_load(damaged):
    from stagelens.engine import DamagedModelError

    text, mmproj = damaged("text")
    with pytest.raises(DamagedModelError, match="^" + re.escape(f"the text model tiny-text.gguf {INVALID}")):
        Engine(LoadSettings(str(text), str(mmproj), n_ctx=2048))


def test_a_damaged_projector_is_caught_at_the_first_sampled_token(damaged, scene):
    from stagelens.engine import DamagedModelError, InvalidNumbersError

    text, mmproj = damaged("mmproj")
    with Engine(LoadSettings(str(text), str(mmproj), n_ctx=2048)) as engine:  # the text probe passes
        with pytest.raises(
            DamagedModelError, match="^" + re.escape(f"the vision projector tiny-mmproj.gguf {INVALID}")
        ) as caught:
            engine.answer(UserTurn("What is here?", (scene,)))
        assert isinstance(caught.value.__cause__, InvalidNumbersError), "found by the check in the sampling loop"
        with pytest.raises(DamagedModelError):
            engine.probe()


def test_the_window_explains_a_damaged_model(qtbot, damaged, scene_path, tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    from stagelens.history import HistoryStore
    from stagelens.models.default import ModelChoice
    from stagelens.settings import AppSettings
    from stagelens.ui.main_window import MainWindow

    def window_on(which: str) -> MainWindow:
        text, mmproj = damaged(which)
        window = MainWindow(
            history=HistoryStore(tmp_path / f"data-{which}"),
            settings=AppSettings(beam=2, max_stage_tokens=8, n_ctx=2048),
            model=ModelChoice("Damaged", text, mmproj, "test"),
            save_settings_file=False,
        )
        qtbot.addWidget(window)
        window.show()
        qtbot.waitUntil(lambda: window.model_ready or window.banner.isVisible(), timeout=TIMEOUT_MS)
        return window

    window = window_on("text")
    assert not window.model_ready
    assert f"The text model tiny-text.gguf {INVALID}" in window.banner_text.text()

    window = window_on("mmproj")
    assert window.model_ready
    window.add_image_paths([scene_path])
    with qtbot.waitSignal(window.answer_finished, timeout=TIMEOUT_MS):
        window.ask("What is here?")
    card = window._card_for(window.conversation.turns[-1])
    assert f"The vision projector tiny-mmproj.gguf {INVALID}" in card.status_label.text()


def test_ask_with_a_damaged_model_is_one_line(damaged, scene_path, tmp_path):
    text, mmproj = damaged("text")
    out = run_stagelens(
        "ask", str(scene_path), "-q", "What?", "--model", str(text), "--mmproj", str(mmproj), env=env(tmp_path)
    )
    assert f"the text model tiny-text.gguf {INVALID}" in one_line_error(out)
    text, mmproj = damaged("mmproj")
    out = run_stagelens(
        "ask",
        str(scene_path),
        "-q",
        "What?",
        "--model",
        str(text),
        "--mmproj",
        str(mmproj),
        "--beam",
        "1",
        "--max-stage-tokens",
        "8",
        env=env(tmp_path),
    )
    assert out.returncode == 1 and out.stderr.strip().count("\n") == 0, out.stderr
    assert f"engine error: the vision projector tiny-mmproj.gguf {INVALID}" in out.stderr


@pytest.mark.parametrize("which", ["text", "mmproj"])
def test_models_import_probes_the_weights(damaged, tmp_path, which):
    text, mmproj = damaged(which)
    out = run_stagelens("models", "import", str(text), str(mmproj), env=env(tmp_path))
    name = "text model tiny-text.gguf" if which == "text" else "vision projector tiny-mmproj.gguf"
    assert f"the {name} {INVALID}" in one_line_error(out)
    assert Registry(tmp_path / "home" / "data" / "models").list() == [], "nothing is registered"
    good_text, good_mmproj = damaged("good")
    out = run_stagelens("models", "import", str(good_text), str(good_mmproj), env=env(tmp_path))
    assert out.returncode == 0, out.stderr


def _catalog(tmp_path: Path, files) -> Path:
    """A catalog whose one model publishes neither checksums nor sizes."""
    entry = entry_for(files, sha=False, sizes=False)
    spec = {"file": entry.quants["F32"].file, "size": None, "sha256": None}
    data = {
        "schema": 1,
        "models": [
            {
                "id": entry.id,
                "name": entry.name,
                "family": entry.family,
                "description": entry.description,
                "repo": entry.repo,
                "license": entry.license,
                "default_quant": "F32",
                "quants": {"F32": spec},
                "mmproj": {"file": entry.mmproj.file, "size": None, "sha256": None},
                "stage_format_trained": False,
                "checked": "generated in the test",
            }
        ],
    }
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps(data))
    return path


def test_a_download_without_a_checksum_is_probed_before_it_is_registered(hub, tmp_path, tiny_model, damaged):
    """The last MiB of the text model is random (the whole tensor data of a model this small)."""
    bad_text, _ = damaged("text")
    files = [("tiny-text.gguf", bad_text.read_bytes()), ("tiny-mmproj.gguf", Path(tiny_model.mmproj).read_bytes())]
    serve(hub, files, etag="no-checksum-here")  # an ETag that is not a sha256
    models = tmp_path / "models"
    run_env = {
        **env(tmp_path),
        "STAGELENS_CATALOG": str(_catalog(tmp_path, files)),
        "STAGELENS_MODELS_DIR": str(models),
    }
    out = run_stagelens("models", "download", "tiny-vlm", "--endpoint", hub.url, env=run_env)
    assert out.returncode == 2, out.stderr
    error = [line for line in out.stderr.splitlines() if line.startswith("stagelens: error:")]
    assert len(error) == 1 and f"the text model tiny-text.gguf {INVALID}" in error[0], out.stderr
    assert "deleted: download again" in error[0]
    assert Registry(models).list() == [] and not (models / "tiny-vlm" / "tiny-text.gguf").exists()
    assert (models / "tiny-vlm" / "tiny-mmproj.gguf").is_file(), "the good file stays"


def test_a_good_download_without_a_checksum_passes_the_probe(hub, tmp_path, model_files):
    serve(hub, model_files, etag="no-checksum-here")
    manager = DownloadManager(folder=tmp_path / "models", endpoint=hub.url)
    installed = manager.download(entry_for(model_files, sha=False, sizes=False))
    assert Registry(tmp_path / "models").get(installed.id) is not None
    assert manager.jobs[0].unverified == {"tiny-text.gguf", "tiny-mmproj.gguf"}


def test_a_download_with_a_checksum_is_not_probed(hub, tmp_path, model_files, monkeypatch):
    from stagelens.models import probe

    probed = []
    monkeypatch.setattr(probe, "probe_model_files", lambda *a: probed.append(a))
    serve(hub, model_files)
    DownloadManager(folder=tmp_path / "models", endpoint=hub.url).download(entry_for(model_files))
    assert probed == [], "a verified sha256 already says the bytes are the published ones"
