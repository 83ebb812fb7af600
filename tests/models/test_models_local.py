"""Catalog, GGUF metadata, local import/pairing, registry, GPU layer planning and the
`stagelens models` CLI, on generated models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tests.fixtures.models import GIB, gpu_devices, write_wide_projector

from stagelens.cli import main
from stagelens.models.catalog import CatalogError, load_catalog
from stagelens.models.gguf_info import NotGGUFError, TruncatedGGUFError, read_gguf_info
from stagelens.models.gpu import backend_info, plan_offload, resolve_gpu_layers
from stagelens.models.pairing import (
    MismatchError,
    SwappedFilesError,
    TextOnlyError,
    check_pair,
    find_projector,
    import_local,
    pairs_in_folder,
)
from stagelens.models.registry import Registry, RegistryError


@pytest.fixture()
def folder(tmp_path, tiny_model) -> Path:
    """A folder as a user would have it: a text model and its projector side by side."""
    d = tmp_path / "my-models"
    d.mkdir()
    shutil.copy(tiny_model.text, d / "tiny-text.gguf")
    shutil.copy(tiny_model.mmproj, d / "tiny-mmproj.gguf")
    return d


@pytest.fixture(scope="module")
def wide_mmproj(tmp_path_factory) -> Path:
    """A real projector for a 96-wide text model: it does not fit the 64-wide tiny model."""
    return write_wide_projector(tmp_path_factory.mktemp("wide") / "mmproj-wide-f32.gguf")


@pytest.fixture()
def registry(tmp_path) -> Registry:
    return Registry(tmp_path / "models")


# --- catalog ----------------------------------------------------------------------------------


def test_shipped_catalog_covers_the_families_and_is_well_formed():
    entries = load_catalog()
    families = {e.family for e in entries}
    assert {"SmolVLM", "SmolVLM2", "Qwen2.5-VL", "Qwen3-VL", "Gemma 3", "InternVL", "LLaVA"} <= families
    for e in entries:
        assert e.stage_format_trained is False
        assert e.checked and e.license and e.description
        text, mmproj = e.files()
        assert text.file.endswith(".gguf") and mmproj.file.endswith(".gguf")
        assert e.memory_estimate().total_bytes > e.download_size() > 0


def test_stated_memory_estimates_match_the_formula():
    raw = json.loads((Path(__file__).resolve().parents[2] / "models" / "catalog.json").read_text())["models"]
    entries = {e.id: e for e in load_catalog()}
    for m in raw:
        est = entries[m["id"]].memory_estimate(n_ctx=m["memory"]["n_ctx"])
        assert m["memory"]["ram_or_vram_gb"] == round(est.total_bytes / 1e9, 1), m["id"]


def test_memory_estimate_grows_with_context():
    entry = next(e for e in load_catalog() if e.id == "qwen3-vl-2b")
    small, large = entry.memory_estimate(n_ctx=2048), entry.memory_estimate(n_ctx=16384)
    # Qwen3-1.7B text: 28 layers x 8 KV heads x 128 dims, f16 K and V
    assert large.kv_bytes - small.kv_bytes == 2 * 28 * 8 * 128 * 2 * (16384 - 2048)
    assert entry.download_size() == 1107409952 + 445053216


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"quants": {}}, "at least one quantization"),
        ({"default_quant": "Q2_K"}, "default_quant Q2_K"),
        ({"mmproj": {"file": "x.bin"}}, "ending in .gguf"),
        ({"mmproj": {"file": "x.gguf", "sha256": "abc"}}, "64 lowercase hex"),
        ({"stage_format_trained": "no"}, "stage_format_trained"),
    ],
)
def test_catalog_validation_names_the_problem(tmp_path, broken, message):
    good = json.loads((Path(__file__).resolve().parents[2] / "models" / "catalog.json").read_text())["models"][0]
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": [{**good, **broken}]}))
    with pytest.raises(CatalogError, match=message):
        load_catalog(path)


# --- GGUF metadata ----------------------------------------------------------------------------


def test_gguf_info_reads_text_and_projector(tiny_model):
    text = read_gguf_info(tiny_model.text)
    assert (text.role, text.architecture, text.quantization) == ("text", "llama", "F32")
    assert (text.context_length, text.embedding_length, text.n_layer, text.has_chat_template) == (4096, 64, 2, True)
    assert text.n_params > 100_000 and text.kv_bytes_per_token == 2 * 2 * 2 * 16 * 2
    proj = read_gguf_info(tiny_model.mmproj)
    assert (proj.role, proj.has_vision, proj.projector_type, proj.projection_dim) == ("mmproj", True, "mlp", 64)


def test_truncated_and_non_gguf_files_have_their_own_messages(tmp_path, tiny_model):
    data = Path(tiny_model.text).read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(data[: len(data) - 1000])
    with pytest.raises(TruncatedGGUFError, match="cut.gguf is truncated"):
        read_gguf_info(cut)
    fake = tmp_path / "photo.gguf"
    fake.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 100)
    with pytest.raises(NotGGUFError, match="photo.gguf is not a GGUF model file"):
        read_gguf_info(fake)


# --- pairing and import -----------------------------------------------------------------------


def test_projector_found_next_to_the_text_model_by_name_and_metadata(folder, wide_mmproj):
    shutil.copy(wide_mmproj, folder / "mmproj-wide-f32.gguf")  # a projector for another model
    (folder / "notes.gguf").write_bytes(b"not a model")
    assert find_projector(folder / "tiny-text.gguf") == folder / "tiny-mmproj.gguf"
    assert pairs_in_folder(folder) == [(folder / "tiny-text.gguf", folder / "tiny-mmproj.gguf")]


@pytest.mark.parametrize(
    "text_name, right, wrong",
    [
        # the wrong projector sorts first, so picking the first one that fits would choose it
        ("smolcat-Q8_0.gguf", "mmproj-smolcat-f16.gguf", "mmproj-bigdog-f16.gguf"),
        ("zeta-vl-F32.gguf", "zeta-vl-mmproj-F16.gguf", "alpha-mmproj.gguf"),
        # an exact name beats the generic "mmproj-model" file that could belong to anything
        ("qwenish-Q4_K_M.gguf", "mmproj-qwenish-Q8_0.gguf", "mmproj-model-f16.gguf"),
    ],
)
def test_projector_choice_follows_the_name_when_two_fit(tmp_path, tiny_model, text_name, right, wrong):
    d = tmp_path / "two-projectors"
    d.mkdir()
    shutil.copy(tiny_model.text, d / text_name)
    for name in (right, wrong):
        shutil.copy(tiny_model.mmproj, d / name)  # both fit the text model: only the name tells them apart
    assert sorted(p.name for p in d.glob("*mmproj*"))[0] == wrong
    assert find_projector(d / text_name) == d / right


def test_import_registers_a_checked_pair(folder, registry):
    model = import_local(folder / "tiny-text.gguf", registry=registry)
    assert model.mmproj == str((folder / "tiny-mmproj.gguf").resolve())
    assert model.source == "import" and not model.owns_files
    assert registry.get(model.id) == model
    assert model.metadata["mmproj"]["projection_dim"] == 64
    # removing an imported model never deletes the user's own files
    registry.remove(model.id)
    assert (folder / "tiny-text.gguf").exists() and registry.list() == []


def test_import_with_copy_puts_complete_files_in_the_models_folder(folder, registry):
    model = import_local(folder / "tiny-text.gguf", folder / "tiny-mmproj.gguf", registry=registry, copy=True)
    assert Path(model.text).parent.parent == registry.folder and model.owns_files
    assert Path(model.text).read_bytes() == (folder / "tiny-text.gguf").read_bytes()
    assert not list(registry.folder.rglob("*.part"))
    registry.remove(model.id)
    assert not Path(model.text).exists() and not Path(model.mmproj).exists()


def _assert_nothing_registered(registry: Registry) -> None:
    assert registry.list() == []
    assert not registry.folder.exists() or not any(p.suffix == ".gguf" for p in registry.folder.rglob("*"))


def test_mismatched_projector_is_refused_and_nothing_is_registered(folder, wide_mmproj, registry):
    with pytest.raises(MismatchError, match="projects to 96-wide embeddings but tiny-text.gguf expects 64"):
        import_local(folder / "tiny-text.gguf", wide_mmproj, registry=registry, copy=True)
    _assert_nothing_registered(registry)


def test_text_only_model_is_refused(tmp_path, tiny_model, registry):
    lone = tmp_path / "lone"
    lone.mkdir()
    shutil.copy(tiny_model.text, lone / "tiny-text.gguf")
    with pytest.raises(TextOnlyError, match="text-only model"):
        import_local(lone / "tiny-text.gguf", registry=registry)
    with pytest.raises(TextOnlyError, match="is a text model, not a vision projector"):
        import_local(lone / "tiny-text.gguf", tiny_model.text, registry=registry)
    _assert_nothing_registered(registry)


def test_swapped_files_are_named(folder, registry):
    with pytest.raises(SwappedFilesError, match="wrong way round"):
        import_local(folder / "tiny-mmproj.gguf", folder / "tiny-text.gguf", registry=registry)
    _assert_nothing_registered(registry)


def test_truncated_projector_is_refused(folder, registry):
    data = (folder / "tiny-mmproj.gguf").read_bytes()
    (folder / "tiny-mmproj.gguf").write_bytes(data[:-5000])
    with pytest.raises(TruncatedGGUFError, match="tiny-mmproj.gguf is truncated"):
        import_local(folder / "tiny-text.gguf", folder / "tiny-mmproj.gguf", registry=registry, copy=True)
    _assert_nothing_registered(registry)


def test_checked_pair_loads_in_the_engine(folder):
    from stagelens.engine import Engine, LoadSettings

    pair = check_pair(folder / "tiny-text.gguf", None)
    eng = Engine(LoadSettings(pair.text.path, pair.mmproj.path, n_ctx=1024))
    try:
        assert eng.info["n_embd"] == pair.mmproj.projection_dim
    finally:
        eng.close()


# --- registry ---------------------------------------------------------------------------------


def test_registry_survives_a_reload_and_reports_unknown_ids(folder, registry):
    model = import_local(folder / "tiny-text.gguf", registry=registry)
    assert Registry(registry.folder).list() == [model]
    assert not list(registry.folder.glob(".installed-*")), "no temporary file is left behind"
    with pytest.raises(RegistryError, match="no installed model is called 'nope'"):
        registry.remove("nope")


# --- GPU ----------------------------------------------------------------------------------------


def test_this_machine_backend_is_reported():
    info = backend_info()
    assert "CPU" in info.backends and info.devices
    assert info.summary


def test_auto_layers_on_cpu_only_is_zero(tiny_model):
    cpu_only = backend_info(gpu_devices(0)[:1])
    assert cpu_only.backends == ("CPU",) and not cpu_only.gpu_offload
    assert resolve_gpu_layers("auto", tiny_model.text, tiny_model.mmproj, 4096, cpu_only) == 0


def test_auto_layers_fit_free_vram_with_headroom(tiny_model):
    text = read_gguf_info(tiny_model.text)
    big = backend_info(gpu_devices(20 * GIB))
    assert big.backends == ("CUDA", "CPU")
    assert plan_offload(text, tiny_model.mmproj, 4096, big).n_gpu_layers == text.n_layer + 1
    # a GPU with barely more than the headroom holds some layers but not all of them
    from stagelens.models.gpu import HEADROOM_BYTES, HEADROOM_FRACTION

    mmproj = read_gguf_info(tiny_model.mmproj).file_size
    per_layer = (text.file_size + text.kv_bytes_per_token * 4096) / (text.n_layer + 1)
    free = int((HEADROOM_BYTES + mmproj + 1.5 * per_layer) / (1 - HEADROOM_FRACTION)) + 1
    plan = plan_offload(text, tiny_model.mmproj, 4096, backend_info(gpu_devices(free)))
    assert plan.n_gpu_layers == 1 and "1 of 2 layers" in plan.reason


def test_manual_gpu_layers(tiny_model):
    assert resolve_gpu_layers("12", tiny_model.text, None, 4096) == 12
    assert resolve_gpu_layers(0, tiny_model.text, None, 4096) == 0
    assert resolve_gpu_layers("-1", tiny_model.text, None, 4096) == -1, "llama.cpp's 'every layer'"
    with pytest.raises(ValueError, match="'auto' or a whole number"):
        resolve_gpu_layers("lots", tiny_model.text, None, 4096)
    with pytest.raises(ValueError, match="-1 \\(all\\)"):
        resolve_gpu_layers(-2, tiny_model.text, None, 4096)


# --- CLI ----------------------------------------------------------------------------------------


def test_cli_import_list_info_rm(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("STAGELENS_MODELS_DIR", str(tmp_path / "cli-models"))
    assert main(["models", "import", str(folder / "tiny-text.gguf")]) == 0
    model_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert model_id in out and "qwen3-vl-2b" in out and "llava-1.6-mistral-7b" in out
    assert main(["models", "info", str(folder / "tiny-mmproj.gguf")]) == 0
    assert "projects to:      64-wide embeddings" in capsys.readouterr().out
    assert main(["models", "rm", model_id]) == 0
    assert "files kept" in capsys.readouterr().out
    assert main(["models", "list", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["installed"] == []


def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, folder, wide_mmproj, monkeypatch, capsys):
    monkeypatch.setenv("STAGELENS_MODELS_DIR", str(tmp_path / "cli-models"))
    cases = [
        (["models", "import", str(folder / "tiny-text.gguf"), str(wide_mmproj)], "belongs to another model"),
        (["models", "download", "no-such-model"], "no catalog model is called 'no-such-model'"),
        (["models", "download", "qwen3-vl-2b", "--quant", "Q2_K"], "has no Q2_K quantization"),
        (["models", "rm", "nope"], "no installed model is called 'nope'"),
        (["models", "info", str(tmp_path / "missing.gguf")], "does not exist"),
    ]
    for argv, message in cases:
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("stagelens: error: ") and message in err and "\n" not in err


def test_cli_gpu_reports_backend_and_auto_layers(tiny_model, capsys):
    assert main(["models", "gpu", "--model", str(tiny_model.text), "--mmproj", str(tiny_model.mmproj), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert "CPU" in data["backends"] and data["devices"]
    if not data["gpu_offload"]:
        assert data["auto_gpu_layers"] == 0 and "no GPU" in data["reason"]
