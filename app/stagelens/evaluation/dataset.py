"""Evaluation datasets: JSONL files of image questions.

One JSON object per line::

    {"image": "path relative to the file", "question": "...", "answer": "...",
     "choices": ["...", ...],            optional: multiple choice
     "kind": "...",                      optional: results are also reported per kind
     "stages": {"caption": "...", ...}}  optional: reference texts of stages, reported per stage

Other keys are ignored. Bad lines are reported with the file and line number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from stagelens.settings import FINAL_STAGE, STAGE_NAMES

# stages a dataset may give reference texts for: all but the last (whose reference is the answer)
REFERENCE_STAGES = tuple(name for name in STAGE_NAMES if name != FINAL_STAGE)


class DatasetError(ValueError):
    """A dataset file or line is unusable; the message names the file and line."""


@dataclass(frozen=True)
class EvalItem:
    image: Path
    question: str
    answer: str
    choices: tuple[str, ...] = ()
    line: int = 0
    kind: str | None = None
    stages: dict[str, str] = field(default_factory=dict)  # reference stage texts, by stage name


def load_dataset(path: Path, limit: int | None = None) -> list[EvalItem]:
    path = Path(path)
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
