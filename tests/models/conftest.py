"""Fixtures of the models tests: the fake Hub server and the files it serves."""

from __future__ import annotations

import pytest
from tests.fixtures.hub import CHUNK, running_hub, tiny_model_files


@pytest.fixture()
def hub():
    with running_hub() as state:
        yield state


@pytest.fixture(autouse=True)
def _small_chunks(monkeypatch):
    # many progress updates from small files; the library's default reads 10 MB per update
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", CHUNK)


@pytest.fixture()
def model_files(tiny_model):
    return tiny_model_files(tiny_model)
