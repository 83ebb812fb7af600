"""Evaluation datasets: JSONL files of image questions.

One JSON object per line::

    {"image": "path relative to the file", "question": "...", "answer": "...",
     "choices": ["...", ...],            optional: multiple choice
     "kind": "...",                      optional: results are also reported per kind
     "stages": {"caption": "...", ...}}  optional: reference texts of stages, reported per stage

Other keys are ignored. Bad lines are reported with the file and line number.

The community's formats (VLMEvalKit TSV, Hugging Face exports) are read by
``stagelens.evaluation.formats`` into the same ``EvalItem``; ``load_dataset`` picks the reader by
the file's suffix or an explicit format.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from stagelens.evaluation.formats import load_hf, load_tsv
from stagelens.evaluation.items import DatasetError, EmbeddedImage, EvalItem
from stagelens.settings import FINAL_STAGE, STAGE_NAMES, setting

__all__ = ["DatasetError", "EmbeddedImage", "EvalItem", "dataset_digest", "dataset_format", "load_dataset"]

# stages a dataset may give reference texts for: all but the last (whose reference is the answer)
REFERENCE_STAGES = tuple(name for name in STAGE_NAMES if name != FINAL_STAGE)


FORMATS = setting("dataset_format").choices  # jsonl (ours), tsv (VLMEvalKit), hf (Hugging Face JSONL / parquet)
_SUFFIX_FORMATS = {".jsonl": "jsonl", ".json": "jsonl", ".tsv": "tsv", ".parquet": "hf"}


def dataset_format(path: Path, given: str | None = None) -> str:
    """The format named, or the one the suffix says."""
    if given:
        return given
    found = _SUFFIX_FORMATS.get(path.suffix.lower())
    if found is None:
        raise DatasetError(f"cannot tell the format of {path} from its suffix: pass --format {'|'.join(FORMATS)}")
    return found


def dataset_digest(path: Path) -> str:
    """SHA-256 of the dataset file: what results files are checked against before they are resumed or merged."""
    h = hashlib.sha256()
    try:
        with Path(path).open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise DatasetError(f"cannot read the dataset {path}: {exc}") from exc
    return h.hexdigest()


def load_dataset(path: Path, limit: int | None = None, format: str | None = None) -> list[EvalItem]:
    """The items of a dataset file (the first `limit`), in the file's order."""
    path = Path(path)
    kind = dataset_format(path, format)
    if kind != "jsonl":
        return (load_tsv if kind == "tsv" else load_hf)(path, limit)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the dataset {path}: {exc}") from exc
    items: list[EvalItem] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        items.append(_parse_line(path, number, line))
        if limit is not None and len(items) >= limit:
            break
    if not items:
        raise DatasetError(f"{path} has no items")
    return items


def _parse_line(path: Path, number: int, line: str) -> EvalItem:
    where = f"{path}:{number}"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{where}: not valid JSON ({exc.msg})") from exc
    if not isinstance(record, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    if (record.get("image") is not None and not isinstance(record["image"], str)) or "A" in record:
        raise DatasetError(f"{where}: not StageLens's JSONL (a Hugging Face export? pass --format hf)")
    for key in ("image", "question", "answer"):
        if not isinstance(record.get(key), str) or not record[key].strip():
            raise DatasetError(f"{where}: '{key}' must be a non-empty string")
    choices = record.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) and c.strip() for c in choices):
        raise DatasetError(f"{where}: 'choices' must be a list of non-empty strings")
    kind = record.get("kind")
    if kind is not None and (not isinstance(kind, str) or not kind.strip()):
        raise DatasetError(f"{where}: 'kind' must be a non-empty string")
    stages = record.get("stages", {})
    if not isinstance(stages, dict) or not all(
        name in REFERENCE_STAGES and isinstance(text, str) for name, text in stages.items()
    ):
        raise DatasetError(f"{where}: 'stages' must map {', '.join(REFERENCE_STAGES)} to reference texts")
    image = (path.parent / record["image"]).resolve()
    if not image.is_file():
        raise DatasetError(f"{where}: image {record['image']} not found (looked at {image})")
    return EvalItem(image, record["question"], record["answer"], tuple(choices), number, kind, dict(stages))
