"""The CI workflow and the platform specs we cannot build here are at least well-formed."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed (it is in the test extra)")
    return found


def test_there_is_a_workflow():
    assert WORKFLOWS


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_passes_yamllint(workflow):
    out = subprocess.run(
        [_tool("yamllint"), "-c", str(ROOT / ".yamllint.yml"), "-f", "parsable", str(workflow)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(workflow):
    out = subprocess.run(
        [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_workflow_builds_and_self_tests_every_platform():
    import yaml

    jobs = yaml.safe_load(WORKFLOWS[0].read_text())["jobs"]
    assert {"test", "linux", "macos", "windows"} <= set(jobs)
    text = WORKFLOWS[0].read_text()
    assert "bash .ci/run" in text and text.count("--self-test") >= 1
    assert "packaging/macos/build.sh" in text and "packaging\\windows\\build.ps1" in text
    assert jobs["windows"]["strategy"]["matrix"]["variant"] == ["cpu", "cuda"]
    assert all("upload-artifact" in str(jobs[j]["steps"]) for j in ("linux", "macos", "windows"))


@pytest.mark.parametrize("spec", sorted((ROOT / "packaging").rglob("*.spec")), ids=lambda p: str(p.parent.name))
def test_specs_are_valid_python(spec):
    ast.parse(spec.read_text(), filename=str(spec))


def test_platform_scripts_cover_signing_and_runtime():
    mac = (ROOT / "packaging/macos/build.sh").read_text()
    for step in ("codesign", "notarytool submit", "stapler staple", "hdiutil create", "-DGGML_METAL=on"):
        assert step in mac
    win_spec = (ROOT / "packaging/windows/stagelens.spec").read_text()
    assert "vcomp140.dll" in win_spec
    iss = (ROOT / "packaging/windows/installer.iss").read_text()
    assert "[Setup]" in iss and "{#AppVersion}" in iss
    win_build = (ROOT / "packaging/windows/build.ps1").read_text()
    assert "-DGGML_CUDA=on -DGGML_CUDA_NO_VMM=ON" in win_build, "a CUDA build must start without the NVIDIA driver"
    assert "cudart64_*.dll" in win_build and "cublasLt64_*.dll" in win_build


def test_macos_signing_finds_every_macho_deepest_first(tmp_path):
    sys.path.insert(0, str(ROOT / "packaging" / "macos"))
    try:
        from macho_files import macho_files
    finally:
        sys.path.pop(0)
    app = tmp_path / "StageLens.app"
    framework_binary = app / "Contents/Frameworks/QtCore.framework/Versions/A/QtCore"
    main_binary = app / "Contents/MacOS/stagelens"
    dylib = app / "Contents/Frameworks/llama_cpp/lib/libllama.dylib"
    for path, head in (
        (framework_binary, b"\xcf\xfa\xed\xfe"),
        (main_binary, b"\xca\xfe\xba\xbe"),
        (dylib, b"\xcf\xfa\xed\xfe"),
        (app / "Contents/Info.plist", b"<?xml"),
        (app / "Contents/Resources/icon.icns", b"icns"),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(head + b"\0" * 64)
    (app / "Contents/Frameworks/QtCore").symlink_to(framework_binary)
    found = macho_files(app)
    assert set(found) == {framework_binary, main_binary, dylib}, "by magic number, not by suffix; links skipped"
    assert found[0] == framework_binary and found[-1] == main_binary, "deepest first"
    assert "macho_files.py" in (ROOT / "packaging/macos/build.sh").read_text()
