"""Which model to use when the user has not picked one: the shipped demo model,
or (until it is built) the generated random-weight test model, declared as such."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..paths import bundled

DEMO_TEXT = "demo-text.gguf"
DEMO_MMPROJ = "demo-mmproj.gguf"


@dataclass(frozen=True)
class ModelChoice:
    name: str
    text: Path
    mmproj: Path
    kind: str  # "demo" | "test" | "installed" | "local"

    @property
    def is_placeholder(self) -> bool:
        """Random weights: it runs, but its answers mean nothing."""
        return self.kind == "test"


def demo_model_dir() -> Path | None:
    return bundled("STAGELENS_DEMO_MODEL", "models/demo", _holds_demo_pair)


def _holds_demo_pair(folder: Path) -> bool:
    return (folder / DEMO_TEXT).is_file() and (folder / DEMO_MMPROJ).is_file()


def demo_model() -> ModelChoice | None:
    folder = demo_model_dir()
    if folder is None:
        return None
    return ModelChoice("StageLens demo (synthetic shapes)", folder / DEMO_TEXT, folder / DEMO_MMPROJ, "demo")


def default_model(allow_test_model: bool = True) -> ModelChoice | None:
    """The demo model; else (source checkouts only: the packaged app has no test-model writer) the tiny test model."""
    demo = demo_model()
    if demo is not None or not allow_test_model:
        return demo
    try:
        from stagelens_dev.testmodels import make_test_model
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] != "stagelens_dev":
            raise
        return None
    from stagelens.paths import test_models_dir

    files = make_test_model("tiny", test_models_dir())
    return ModelChoice("Test model (random weights)", files.text, files.mmproj, "test")
