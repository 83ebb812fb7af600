"""Pair a local text GGUF with its vision projector, check the pair before anything is
registered, and import it. Each way a pair can be wrong has its own exception and message."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from stagelens.engine.compat import check_projector_fits
from stagelens.engine.native import ModelLoadError
from stagelens.models.gguf_info import GGUFInfo, ModelFileError, read_gguf_info
from stagelens.models.probe import probe_model_files
from stagelens.models.registry import InstalledModel, Registry

_QUANT_TAG = re.compile(r"[-_.](f16|f32|bf16|fp16|q\d(_\d|_k(_[sml])?)?|iq\d\w*|ud-\w+|int4|int8)$", re.IGNORECASE)
_MMPROJ_TAG = re.compile(
    r"(^mmproj[-_.]?|[-_.]?mmproj$|[-_.]?mmproj[-_.]|[-_.]?vision$|[-_.]?projector$|[-_.]text$)", re.IGNORECASE
)


class PairingError(ModelFileError):
    pass


class TextOnlyError(PairingError):
    """The text model has no projector: it would answer without ever seeing the image."""


class SwappedFilesError(PairingError):
    pass


class MismatchError(PairingError):
    pass


@dataclass(frozen=True)
class CheckedPair:
    text: GGUFInfo
    mmproj: GGUFInfo


def _stem_key(path: Path) -> str:
    """Name with the quantization and mmproj markers removed, lowercase: what a pair shares."""
    stem = path.stem
    for _ in range(3):
        stem = _MMPROJ_TAG.sub("", stem)
        stem = _QUANT_TAG.sub("", stem)
    return re.sub(r"[^a-z0-9]", "", stem.lower())


def _name_score(text: Path, mmproj: Path) -> int:
    a, b = _stem_key(text), _stem_key(mmproj)
    if a and a == b:
        return 3
    if b in ("model", "") or mmproj.stem.lower().startswith("mmproj-model"):
        return 1  # the generic "mmproj-model-f16.gguf": belongs to whatever sits next to it
    if a and b and (a.startswith(b) or b.startswith(a)):
        return 2
    return 0


def _info_or_none(path: Path) -> GGUFInfo | None:
    try:
        return read_gguf_info(path)
    except ModelFileError:
        return None


def find_projector(text_path: str | Path) -> Path | None:
    """The vision projector that sits next to a text model, chosen by metadata, then name."""
    text = Path(text_path)
    text_info = read_gguf_info(text)
    best: tuple[int, Path] | None = None
    for candidate in sorted(text.parent.glob("*.gguf")):
        if candidate == text:
            continue
        info = _info_or_none(candidate)
        if info is None or info.role != "mmproj" or not info.has_vision:
            continue
        fits = not (
            info.projection_dim and text_info.embedding_length and info.projection_dim != text_info.embedding_length
        )
        if not fits:
            continue
        score = _name_score(text, candidate)
        if best is None or score > best[0]:
            best = (score, candidate)
    return best[1] if best else None


def pairs_in_folder(folder: str | Path) -> list[tuple[Path, Path]]:
    """Every (text, mmproj) pair that can be formed in a folder."""
    found = []
    for path in sorted(Path(folder).glob("*.gguf")):
        info = _info_or_none(path)
        if info is None or info.role != "text":
            continue
        mmproj = find_projector(path)
        if mmproj is not None:
            found.append((path, mmproj))
    return found


def check_pair(text_path: str | Path, mmproj_path: str | Path | None) -> CheckedPair:
    """Read both files and make sure the projector fits the text model; raise a PairingError
    (or a ModelFileError for an unreadable, non-GGUF or truncated file) with a clear message."""
    text = read_gguf_info(text_path)
    if text.role == "mmproj":
        if mmproj_path is not None and _info_or_none(Path(mmproj_path)) and read_gguf_info(mmproj_path).role == "text":
            raise SwappedFilesError(
                f"the two files are the wrong way round: {Path(text_path).name} is the vision projector "
                f"and {Path(mmproj_path).name} the text model"
            )
        raise SwappedFilesError(f"{Path(text_path).name} is a vision projector (mmproj), not a text model")
    if mmproj_path is None:
        found = find_projector(text_path)
        if found is None:
            raise TextOnlyError(
                f"{Path(text_path).name} is a text-only model and no matching vision projector (mmproj) file "
                "sits next to it: it could not see images. Give the mmproj file too"
            )
        mmproj_path = found
    proj = read_gguf_info(mmproj_path)
    if proj.role != "mmproj":
        raise TextOnlyError(
            f"{Path(mmproj_path).name} is a text model, not a vision projector (mmproj): "
            f"{Path(text_path).name} would have no way to see images"
        )
    if not proj.has_vision:
        raise TextOnlyError(f"{Path(mmproj_path).name} has no vision encoder (an audio-only projector?)")
    try:
        check_projector_fits(text_path, mmproj_path)
    except ModelLoadError as exc:
        raise MismatchError(str(exc)) from exc
    return CheckedPair(text, proj)


def _model_id(text: GGUFInfo) -> str:
    key = _stem_key(Path(text.path)) or "model"
    return f"local-{key}-{text.quantization.lower()}"


def import_local(
    text_path: str | Path,
    mmproj_path: str | Path | None = None,
    *,
    registry: Registry | None = None,
    copy: bool = False,
    name: str | None = None,
    probe: bool = True,
) -> InstalledModel:
    """Check a local pair, load it once to see that its weights compute numbers (`probe`), and
    register it (referencing the files, or copying them into the models folder). Nothing is copied
    or registered when a check fails."""
    registry = registry or Registry()
    pair = check_pair(text_path, mmproj_path)
    text, mmproj = Path(pair.text.path).resolve(), Path(pair.mmproj.path).resolve()
    if probe:
        probe_model_files(text, mmproj)
    model_id = _model_id(pair.text)
    if copy:
        target = registry.folder / model_id
        target.mkdir(parents=True, exist_ok=True)
        text, mmproj = _copy_atomically(text, target), _copy_atomically(mmproj, target)
    model = InstalledModel(
        id=model_id,
        name=name or (pair.text.name or text.stem),
        text=str(text),
        mmproj=str(mmproj),
        source="import",
        quant=pair.text.quantization,
        owns_files=copy,
        metadata={"text": pair.text.to_json(), "mmproj": pair.mmproj.to_json()},
    )
    registry.add(model)
    return model


def _copy_atomically(src: Path, folder: Path) -> Path:
    dst = folder / src.name
    tmp = folder / (src.name + ".part")
    try:
        shutil.copyfile(src, tmp)
        tmp.replace(dst)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dst
