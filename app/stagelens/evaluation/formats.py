"""The community's dataset formats, read into ``EvalItem``s.

**VLMEvalKit TSV** (``--format tsv``, ``.tsv``): a header row, then one row per item with the columns
``index``, ``image`` (the image file, base64; a short value naming another row's ``index`` reuses
that row's image, as VLMEvalKit writes repeated images), ``question``, the options ``A``, ``B``, ...
(empty or ``nan`` where an item has fewer), ``answer`` (the option's letter), and optionally
``category`` (reported as the question kind) and ``hint``; VLMEvalKit's custom-dataset form with an
``image_path`` column (a file relative to the TSV) instead of ``image`` is read too. Without option
columns an item is free-form: ``answer`` is the answer's text.

**Hugging Face datasets export** (``--format hf``: ``Dataset.to_json`` JSONL, or ``.parquet`` from
``Dataset.to_parquet``; parquet needs pyarrow: ``pip install 'stagelens[research]'``): one record
per item with ``question``, ``image`` (a struct ``{"bytes": ..., "path": ...}`` with the bytes as
bytes, base64 text or a list of byte values, or else a path relative to the file; or base64 text;
or a path) or ``images`` (a list of one), the options as ``options`` / ``choices`` (a list, or
its JSON / Python text) or as columns ``A``, ``B``, ..., ``answer`` (a letter, an option's text or
its index), and optionally ``category`` / ``kind`` / ``question_type`` and ``hint``.

With options, the question the model sees is VLMEvalKit's multiple-choice prompt (hint, question,
"Options:" one per line as "A. text", "Please select the correct answer from the options above."),
and the answer is matched as lettered multiple choice (``matching.pick_option``). Images are
decoded only when asked (``EvalItem.prepared_image``, through ``stagelens.images``).
"""

from __future__ import annotations

import ast
import base64
import binascii
import csv
import json
import math
from collections.abc import Iterator, Mapping
from pathlib import Path

from stagelens.evaluation.items import DatasetError, EmbeddedImage, EvalItem
from stagelens.evaluation.matching import LETTERS

_MISSING = ("", "nan", "none", "null")
_KIND_KEYS = ("category", "kind", "question_type")
_SHORT_IMAGE = 64  # VLMEvalKit: an image cell this short names another row's index


def _missing(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return math.isnan(value)
    return isinstance(value, str) and value.strip().lower() in _MISSING


def _text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def mcq_prompt(question: str, options: list[str], hint: str | None) -> str:
    """VLMEvalKit's default multiple-choice prompt."""
    prompt = f"Hint: {hint}\n" if hint else ""
    prompt += f"Question: {question}\n"
    if options:
        prompt += "Options:\n" + "".join(f"{LETTERS[i]}. {text}\n" for i, text in enumerate(options))
        prompt += "Please select the correct answer from the options above."
    return prompt.strip()


def _column_options(row: Mapping[str, object], where: str) -> list[str]:
    """Options in columns A, B, ...: in order, with no gap."""
    present = [letter for letter in LETTERS if letter in row and not _missing(row[letter])]
    if present and present != list(LETTERS[: len(present)]):
        raise DatasetError(f"{where}: options must be A, B, C, ... without a gap (found {', '.join(present)})")
    return [_text(row[letter]) for letter in present]


def _list_options(value: object, where: str) -> list[str]:
    if isinstance(value, str):
        text = value
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                raise DatasetError(f"{where}: 'options' is text that is not a list") from None
    if not isinstance(value, list | tuple) or not all(not _missing(v) for v in value):
        raise DatasetError(f"{where}: 'options' must be a list of non-empty texts")
    return [_text(v) for v in value]


def _answer(value: object, options: list[str], where: str) -> str:
    if isinstance(value, bool) or _missing(value):
        raise DatasetError(f"{where}: 'answer' is missing")
    if options and isinstance(value, int | float) and float(value).is_integer():
        index = int(value)
        if not 0 <= index < len(options):
            raise DatasetError(f"{where}: answer index {index} is not one of the {len(options)} options")
        return LETTERS[index]
    answer = _text(value)
    if options and len(answer) == 1 and answer.isalpha() and LETTERS.index(answer.upper()) >= len(options):
        last = LETTERS[len(options) - 1]
        raise DatasetError(f"{where}: answer {answer} is not one of the options A-{last}")
    return answer


def _item(
    row: Mapping[str, object], image: Path | EmbeddedImage, where: str, line: int, options: list[str]
) -> EvalItem:
    question = row.get("question")
    if _missing(question):
        raise DatasetError(f"{where}: 'question' is missing")
    hint = None if _missing(row.get("hint")) else _text(row["hint"])
    kind = next((_text(row[k]) for k in _KIND_KEYS if k in row and not _missing(row[k])), None)
    answer = _answer(row.get("answer"), options, where)
    prompt = mcq_prompt(_text(question), options, hint) if options or hint else _text(question)
    return EvalItem(image, prompt, answer, tuple(options), line, kind, {}, lettered=bool(options))


def _image_file(base: Path, name: str, where: str) -> Path:
    image = (base / name.strip()).resolve()
    if not image.is_file():
        raise DatasetError(f"{where}: image {name.strip()} not found (looked at {image})")
    return image


def _decode_base64(text: str, where: str) -> bytes:
    try:
        data = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise DatasetError(f"{where}: the image is not valid base64") from None
    if not data:
        raise DatasetError(f"{where}: the image is empty")
    return data


# ----------------------------------------------------------------------------------- TSV


def _tsv_rows(path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    csv.field_size_limit(2**31 - 1)  # base64 images are long cells
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh, delimiter="\t")
            if not reader.fieldnames or not {"question", "answer"} <= set(reader.fieldnames):
                raise DatasetError(f"{path}: a VLMEvalKit TSV needs a header with 'question' and 'answer' columns")
            for row in reader:
                yield reader.line_num, row
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read the dataset {path}: {exc}") from exc


def load_tsv(path: Path, limit: int | None = None) -> list[EvalItem]:
    rows = list(_tsv_rows(path))
    images = {row.get("index", ""): row["image"] for _, row in rows if len(row.get("image") or "") > _SHORT_IMAGE}
    items: list[EvalItem] = []
    for line, row in rows[:limit]:
        where = f"{path}:{line}"
        cell = (row.get("image") or "").strip()
        if not cell and (row.get("image_path") or "").strip():
            items.append(
                _item(row, _image_file(path.parent, row["image_path"], where), where, line, _column_options(row, where))
            )
            continue
        if len(cell) <= _SHORT_IMAGE:
            if cell not in images:
                raise DatasetError(f"{where}: no image (the 'image' cell is neither base64 nor another row's index)")
            cell = images[cell]
        name = f"{path.name} index {row.get('index') or line}"
        image = EmbeddedImage(name, _decode_base64(cell, where))
        items.append(_item(row, image, where, line, _column_options(row, where)))
    if not items:
        raise DatasetError(f"{path} has no items")
    return items


# ---------------------------------------------------------------------------- Hugging Face


def _hf_image(record: Mapping[str, object], base: Path, where: str, name: str) -> Path | EmbeddedImage:
    value = record.get("image")
    if value is None and "images" in record:
        images = record["images"]
        if not isinstance(images, list) or len(images) != 1:
            raise DatasetError(f"{where}: 'images' must hold exactly one image")
        value = images[0]
    if isinstance(value, Mapping):
        data = value.get("bytes")
        if isinstance(data, bytes | bytearray) and data:
            return EmbeddedImage(name, bytes(data))
        if isinstance(data, list) and data and all(isinstance(b, int) and 0 <= b < 256 for b in data):
            return EmbeddedImage(name, bytes(data))
        if isinstance(data, str) and data:
            return EmbeddedImage(name, _decode_base64(data, where))
        value = value.get("path")
    if isinstance(value, str) and value.strip():
        if len(value) > _SHORT_IMAGE and not (base / value).is_file():
            return EmbeddedImage(name, _decode_base64(value, where))
        return _image_file(base, value, where)
    raise DatasetError(f"{where}: no image ('image' must be bytes, base64 text, a path or {{'bytes', 'path'}})")


def _hf_item(record: object, path: Path, number: int) -> EvalItem:
    where = f"{path}:{number}"
    if not isinstance(record, Mapping):
        raise DatasetError(f"{where}: expected a record (a JSON object)")
    key = next((k for k in ("options", "choices") if k in record and not _missing(record[k])), None)
    options = _list_options(record[key], where) if key else _column_options(record, where)
    image = _hf_image(record, path.parent, where, f"{path.name} item {number}")
    return _item(record, image, where, number, options)


def _parquet_records(path: Path) -> list[dict[str, object]]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError(
            f"{path}: reading parquet needs pyarrow: pip install 'stagelens[research]' (or export the dataset as JSONL)"
        ) from None
    try:
        return pq.read_table(path).to_pylist()
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise DatasetError(f"cannot read the dataset {path}: {exc}") from exc


def load_hf(path: Path, limit: int | None = None) -> list[EvalItem]:
    items: list[EvalItem] = []
    if path.suffix.lower() == ".parquet":
        for number, record in enumerate(_parquet_records(path)[:limit], 1):
            items.append(_hf_item(record, path, number))
    else:
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"cannot read the dataset {path}: {exc}") from exc
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{number}: not valid JSON ({exc.msg})") from exc
            items.append(_hf_item(record, path, number))
            if limit is not None and len(items) >= limit:
                break
    if not items:
        raise DatasetError(f"{path} has no items")
    return items
