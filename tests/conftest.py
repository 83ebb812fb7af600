"""Shared fixtures: the generated tiny model, a loaded engine, sample images."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture(scope="session", autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    # user data, config and caches of tests never touch the real ones
    os.environ["STAGELENS_HOME"] = str(tmp_path_factory.mktemp("stagelens-home"))


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):
    from stagelens_dev.testmodels import make_test_model

    return make_test_model("tiny", tmp_path_factory.mktemp("tiny-model"))


@pytest.fixture(scope="session")
def scene_png() -> bytes:
    """A small deterministic scene: two red circles and a blue square."""
    img = Image.new("RGB", (96, 72), (235, 235, 225))
    draw = ImageDraw.Draw(img)
    draw.ellipse((8, 8, 30, 30), fill=(210, 30, 30))
    draw.ellipse((40, 30, 62, 52), fill=(210, 30, 30))
    draw.rectangle((70, 10, 90, 30), fill=(30, 60, 200))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="session")
def scene_path(tmp_path_factory: pytest.TempPathFactory, scene_png: bytes) -> Path:
    path = tmp_path_factory.mktemp("images") / "scene.png"
    path.write_bytes(scene_png)
    return path


@pytest.fixture(scope="session")
def scene(scene_png: bytes):
    from stagelens.images import load_image

    return load_image(scene_png, name="scene.png")


# The GPU check (stagelens_dev/gpu/gpu_check.sh) runs the engine tests with layers offloaded.
TEST_GPU_LAYERS = int(os.environ.get("STAGELENS_TEST_N_GPU_LAYERS", "0"))


def _engine(tiny_model, **kw):
    from stagelens.engine import Engine, LoadSettings

    kw.setdefault("n_gpu_layers", TEST_GPU_LAYERS)
    return Engine(LoadSettings(str(tiny_model.text), str(tiny_model.mmproj), n_ctx=kw.pop("n_ctx", 4096), **kw))


@pytest.fixture(scope="session")
def make_engine(tiny_model):
    engines = []

    def make(**kw):
        eng = _engine(tiny_model, **kw)
        engines.append(eng)
        return eng

    yield make
    for eng in engines:
        eng.close()


@pytest.fixture()
def engine(make_engine):
    """A shared engine with its prefix cache cleared."""
    eng = _shared(make_engine)
    eng.reset_cache()
    return eng


_SHARED: dict = {}


def _shared(make_engine):
    if "engine" not in _SHARED:
        _SHARED["engine"] = make_engine()
    return _SHARED["engine"]
