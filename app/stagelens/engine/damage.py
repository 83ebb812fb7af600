"""Damaged weights. A model file whose tensor data is garbage (a bad disk, a broken copy or download)
has an intact header, so it loads like a good one and then computes NaN or infinity: every "answer"
is the same junk token with a NaN score. These checks turn that into one sentence naming the file.

- At load: one probe decode of one token, every logit checked (sl_probe.c).
- While answering: the logit of every sampled token, and the log-softmax computed for its score, are
  checked in the native sampling loop (sl_search.c), which stops with InvalidNumbersError.
- `probe(...)` (models import, downloads without a published checksum): also one image encoded by
  the projector, every number of its embeddings checked.
"""

from __future__ import annotations

from pathlib import Path

from stagelens.engine import native

PROBE_SIDE = 32  # the probe image (mid-grey); the projector resizes it to what it takes


class DamagedModelError(native.ModelLoadError):
    """A model file that computes NaN or infinity; str() names it."""

    def __init__(self, path: str | Path, role: str) -> None:
        self.path = Path(path)
        self.role = role
        super().__init__(
            f"the {role} {self.path.name} produces invalid numbers (NaN or infinity): the file is damaged; "
            "download or copy it again"
        )


def check_text_model(engine: native.NativeEngine, model: str | Path) -> None:
    """One probe decode (forgets the conversation the engine holds)."""
    if not engine.probe_text():
        raise DamagedModelError(model, "text model")


def check_projector(engine: native.NativeEngine, mmproj: str | Path) -> None:
    """One probe image through the projector."""
    side = PROBE_SIDE
    if not engine.probe_image(side, side, bytes([128]) * (side * side * 3)):
        raise DamagedModelError(mmproj, "vision projector")


def explain(engine: native.NativeEngine, model: str | Path, mmproj: str | Path | None) -> DamagedModelError:
    """Which file made the invalid numbers met while answering: the projector when its probe image
    gives them, else the text model (also when only this conversation's input brings them out)."""
    try:
        if mmproj is not None:
            check_projector(engine, mmproj)
        check_text_model(engine, model)
    except DamagedModelError as found:
        return found
    except native.EngineError:  # the probe itself failed: the text model computed the numbers
        pass
    return DamagedModelError(model, "text model")
