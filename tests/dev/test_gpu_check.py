"""The GPU check's preparation and reporting (issue 17), checked on the CPU: the slimmed source keeps
what a build reads, the parity verdict tells a near-tie from a real difference, the summary reports
what the files say, and the script is valid bash that runs every step."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from stagelens_dev.gpu import parity, prepare, summary

SCRIPT = Path(prepare.__file__).with_name("gpu_check.sh")


def _tar(path: Path, names: list[str]) -> None:
    with tarfile.open(path, "w:gz") as tar:
        for name in names:
            data = name.encode()
            info = tarfile.TarInfo(f"llama_cpp_python-0.3.36/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def test_slimmed_source_keeps_the_build_and_drops_the_rest(tmp_path):
    kept = [
        "CMakeLists.txt",
        "llama_cpp/llama.py",
        "vendor/llama.cpp/ggml/src/ggml-cuda/ggml-cuda.cu",
        "vendor/llama.cpp/ggml/src/ggml-cpu/ops.cpp",
        "vendor/llama.cpp/tools/mtmd/clip.cpp",
        "vendor/llama.cpp/vendor/miniaudio/miniaudio.h",  # mtmd-helper includes it
        "vendor/llama.cpp/src/llama.cpp",
    ]
    dropped = [
        ".git/objects/pack/p.pack",
        "vendor/llama.cpp/models/ggml-vocab-llama.gguf",
        "vendor/llama.cpp/docs/build.md",
        "vendor/llama.cpp/ggml/src/ggml-vulkan/ggml-vulkan.cpp",
        "vendor/llama.cpp/tools/mtmd/test-3.mp4",
        "vendor/llama.cpp/tools/server/server.cpp",
    ]
    source, target = tmp_path / "full.tar.gz", tmp_path / "slim.tar.gz"
    _tar(source, kept + dropped)
    assert prepare.slim_sdist(source, target) == (len(kept), len(dropped))
    with tarfile.open(target) as tar:
        names = sorted(m.name.split("/", 1)[1] for m in tar)
        assert names == sorted(kept)
        assert tar.extractfile(tar.getmember("llama_cpp_python-0.3.36/CMakeLists.txt")).read() == b"CMakeLists.txt"


def _reference(tokens: list[int], rows: list[list[float]]) -> dict:
    return {"runs": [{"model": "tiny", "stages": {"summary": tokens, "caption": [9]}, "logits": rows}]}


@pytest.fixture
def fake_run(monkeypatch):
    """compare() with the model run replaced: what a GPU build would return."""
    got: dict = {}
    monkeypatch.setattr(parity, "_models", lambda: [parity.ModelFiles("tiny", Path("t"), Path("m"))])
    monkeypatch.setattr(parity, "_run", lambda model, layers, prefix_tokens=None: got)
    return got


def test_parity_accepts_equal_tokens_within_tolerance(fake_run):
    rows = [[5.0, 1.0, 0.0], [0.0, 4.0, 1.0]]
    fake_run.update(
        backend="CUDA", stages={"summary": [0, 1], "caption": [9]}, logits=[[5.02, 1.0, 0.0], [0.0, 4.0, 1.01]]
    )
    (result,) = parity.compare(_reference([0, 1], rows), -1)
    assert result["ok"] and result["tokens_equal"]
    assert result["max_logit_diff"] == pytest.approx(0.02, abs=1e-6)


def test_parity_tells_a_near_tie_from_a_real_difference(fake_run):
    # the second greedy token: the reference's top two logits differ by 0.05, within the tolerance
    rows = [[5.0, 1.0, 0.0], [0.0, 4.0, 3.95]]
    fake_run.update(
        backend="CUDA", stages={"summary": [0, 2], "caption": [9]}, logits=[[5.0, 1.0, 0.0], [0.0, 3.98, 3.99]]
    )
    (tie,) = parity.compare(_reference([0, 1], rows), -1)
    assert tie["first_difference"] == {"stage": "summary", "index": 1, "reference_gap": pytest.approx(0.05)}
    assert tie["divergence_is_near_tie"] and tie["ok"]
    # a clear winner that flips is a real difference
    rows = [[5.0, 1.0, 0.0], [0.0, 4.0, 1.0]]
    fake_run.update(stages={"summary": [0, 2], "caption": [9]}, logits=rows)
    (real,) = parity.compare(_reference([0, 1], rows), -1)
    assert not real["divergence_is_near_tie"] and not real["ok"]


def test_parity_fails_on_logits_beyond_tolerance(fake_run):
    rows = [[5.0, 1.0, 0.0]]
    fake_run.update(backend="CUDA", stages={"summary": [0], "caption": [9]}, logits=[[5.5, 1.0, 0.0]])
    (result,) = parity.compare(_reference([0], rows), -1)
    assert result["tokens_equal"] and not result["logits_within_tolerance"] and not result["ok"]


def test_summary_reports_the_measured_numbers(tmp_path):
    bench = {
        "backend": "CUDA",
        "rows": [
            {
                "mode": "greedy",
                "beam": 1,
                "scorer": "logprob",
                "wall_s": 2.0,
                "vs_greedy": 1.0,
                "decode_tokens": 200,
                "image_encodes": 1,
                "batched_speedup": None,
            },
            {
                "mode": "beam",
                "beam": 4,
                "scorer": "logprob",
                "wall_s": 3.0,
                "vs_greedy": 1.5,
                "decode_tokens": 800,
                "image_encodes": 1,
                "batched_speedup": 5.25,
            },
        ],
    }
    (tmp_path / "bench_logprob.json").write_text(json.dumps(bench))
    (tmp_path / "vram.csv").write_text("1000, 143771\n2500, 143771\n1800, 143771\n")
    (tmp_path / "models_gpu.json").write_text(
        json.dumps(
            {
                "devices": [{"name": "CUDA0", "description": "NVIDIA H200", "type": "gpu", "backend": "CUDA"}],
                "auto_gpu_layers": 25,
                "reason": "the whole model fits in free VRAM",
            }
        )
    )
    text = summary.summarize(tmp_path)
    assert "| beam | 4 | logprob | 3.000 | 1.50 | 266.7 | 1 | 5.25× |" in text
    assert "| greedy | 1 | logprob | 2.000 | 1.00 | 100.0 | 1 |  |" in text
    assert "peak 2500 MiB used during the bench (1500 MiB above the first sample)" in text
    assert "NVIDIA H200 (CUDA)" in text and "'auto' plan: 25 layers" in text
    assert "## bench, judge scorer\n\nnot measured" in text


def test_the_script_is_valid_bash_and_runs_every_step():
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    text = SCRIPT.read_text()
    for step in (
        "--target",
        "build_ext --inplace",
        "models gpu",
        "STAGELENS_TEST_N_GPU_LAYERS",
        "gpu.parity",
        "bench",
        "--scorer judge",
        "gpu.summary",
        "--no-index",
    ):
        assert step in text, step
