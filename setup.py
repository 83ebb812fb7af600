"""Build of the native beam-search core against the pinned llama-cpp-python.

Everything declarative lives in pyproject.toml; this file only describes the C
extension, whose include and library directories come from the llama-cpp-python
installed in the build environment (the same pinned version as at run time).
"""

import importlib.util
import shutil
import sys
from pathlib import Path

from setuptools import Extension, setup
from setuptools.command.build_py import build_py


def _llama_cpp_dirs() -> tuple[Path, Path]:
    spec = importlib.util.find_spec("llama_cpp")
    if spec is None or spec.origin is None:
        sys.exit("stagelens: llama-cpp-python must be installed in the build environment")
    package_dir = Path(spec.origin).parent
    include_dir = package_dir.parent / "include"
    lib_dir = package_dir / "lib"
    for required in (include_dir / "llama.h", include_dir / "mtmd.h"):
        if not required.exists():
            sys.exit(f"stagelens: {required} not found; is llama-cpp-python 0.3.36 installed?")
    return include_dir, lib_dir


include_dir, lib_dir = _llama_cpp_dirs()
native_dir = Path("app/stagelens/engine/native")

if sys.platform == "darwin":
    rpath_args = ["-Wl,-rpath,@loader_path/../../llama_cpp/lib"]
elif sys.platform == "win32":
    rpath_args = []
else:
    # Installed layout: site-packages/stagelens/engine/_native*.so next to
    # site-packages/llama_cpp/lib. The process normally has libllama loaded
    # already (stagelens.engine imports llama_cpp first), so this is a fallback.
    rpath_args = ["-Wl,-rpath,$ORIGIN/../../llama_cpp/lib"]

compile_args = (
    ["/std:c11"]
    if sys.platform == "win32"
    else [
        "-std=c11",
        "-O2",
        "-Wall",
        "-Wextra",
        "-Wno-unused-parameter",
    ]
)

native = Extension(
    "stagelens.engine._native",
    sources=sorted(str(p) for p in native_dir.glob("*.c")),
    depends=sorted(str(p) for p in native_dir.glob("*.h")),
    include_dirs=[str(include_dir), str(native_dir)],
    library_dirs=[str(lib_dir)],
    libraries=["mtmd", "llama", "ggml", "ggml-base"],
    extra_compile_args=compile_args,
    extra_link_args=rpath_args,
)


class BuildPyWithResources(build_py):
    """Ship resources/, the demo model and the model catalog inside the package."""

    def run(self) -> None:
        super().run()
        package = Path(self.build_lib) / "stagelens"
        for source, target in (("resources", "_resources"), ("models/demo", "_models/demo")):
            if not Path(source).is_dir():
                continue
            if (package / target).exists():
                shutil.rmtree(package / target)
            shutil.copytree(source, package / target)
        (package / "_models").mkdir(exist_ok=True)
        shutil.copy2("models/catalog.json", package / "_models" / "catalog.json")


setup(ext_modules=[native], cmdclass={"build_py": BuildPyWithResources})
