"""The results file of `stagelens eval --out`: one JSON line per item and method, enough to resume a run,
merge shards and rebuild the summary without the dataset.

Each line carries the run's key (the dataset file's SHA-256: of the file itself, so image files a
JSONL names are not in it, while a TSV's or parquet's embedded images are; how many items the run has, the search
settings, the model files' keys) beside the method, the item's index and its outcome (correct,
tokens, seconds, which reference stages the kept answer matched) and the traces. Re-running with
the same ``--out`` skips the (method, item) pairs already there; a file written by another key is an
error, never mixed. A last line cut short (the process was killed while writing it) is dropped and
written again; a damaged line anywhere else is an error.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from stagelens.evaluation.dataset import REFERENCE_STAGES, EvalItem
from stagelens.evaluation.evaluate import ItemResult, Method, chosen_stage_texts

RESULTS_VERSION = 1


class ResultsError(ValueError):
    """A results file cannot be resumed or merged; the message says which file and why."""


@dataclass(frozen=True)
class RunKey:
    """What makes two results comparable: the same dataset, item count, settings and model."""

    dataset: str  # SHA-256 of the dataset file
    items: int  # items in the run (the dataset, or its first --limit)
    settings: Mapping[str, Any]  # the search settings every method starts from (SearchSettings.to_json)
    model: Mapping[str, str]  # {"text": key, "mmproj": key} (engine.conversation.model_file_key)
    names: Mapping[str, str] = field(default_factory=dict)  # file names, for reports; not compared

    def to_json(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "items": self.items,
            "settings": dict(self.settings),
            "model": dict(self.model),
            "names": dict(self.names),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunKey:
        return cls(data["dataset"], int(data["items"]), data["settings"], data["model"], data.get("names") or {})

    def difference(self, other: RunKey) -> str | None:
        """None when equal, else what differs, in words."""
        if self.dataset != other.dataset:
            return f"another dataset (SHA-256 {other.dataset[:12]}... vs {self.dataset[:12]}...)"
        if self.items != other.items:
            return f"another number of items ({other.items} vs {self.items}: was --limit changed?)"
        if dict(self.model) != dict(other.model):
            return "another model"
        keys = sorted(set(self.settings) | set(other.settings))
        changed = [k for k in keys if self.settings.get(k) != other.settings.get(k)]
        if changed:
            k = changed[0]
            return f"other settings ({k} {other.settings.get(k)!r} vs {self.settings.get(k)!r})"
        return None


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"I/N"`` as (I, N), 1 <= I <= N; None: the whole dataset, (1, 1)."""
    if text is None:
        return 1, 1
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text)
    if not match or not 1 <= int(match.group(1)) <= int(match.group(2)):
        raise ValueError(f"--shard {text}: write I/N with 1 <= I <= N (shard 1/4 runs items 0, 4, 8, ...)")
    return int(match.group(1)), int(match.group(2))


def shard_indices(n_items: int, shard: tuple[int, int]) -> list[int]:
    """The items of shard I of N: every N-th, from item I-1."""
    i, n = shard
    return list(range(i - 1, n_items, n))


@dataclass(frozen=True)
class Outcome:
    """One method on one item, as the summary needs it."""

    method: str
    index: int
    kind: str | None
    correct: bool
    follows_format: bool
    decode_tokens: int
    seconds: float
    stage_matches: Mapping[str, bool] = field(default_factory=dict)  # stages the item has a reference for
    question: str = ""
    answer: str = ""
    prediction: str = ""
    verifier_tokens: int = 0


def _collapsed(text: str) -> str:
    return " ".join(text.split())


def outcome_of(method: Method, item: EvalItem, result: ItemResult) -> Outcome:
    kept = chosen_stage_texts(result)
    matches = {
        stage: _collapsed(kept.get(stage, "")) == _collapsed(item.stages[stage])
        for stage in REFERENCE_STAGES
        if stage in item.stages
    }
    return Outcome(
        method.name,
        result.index,
        item.kind,
        result.correct,
        result.follows_format,
        result.decode_tokens,
        result.seconds,
        matches,
        item.question,
        item.answer,
        result.prediction,
        result.verifier_tokens,
    )


def result_record(key: RunKey, method: Method, item: EvalItem, result: ItemResult) -> dict[str, Any]:
    o = outcome_of(method, item, result)
    return {
        "results": RESULTS_VERSION,
        "run": key.to_json(),
        "method": o.method,
        "index": o.index,
        "line": item.line,
        "image": item.image_name,
        "question": o.question,
        "answer": o.answer,
        "kind": o.kind,
        "prediction": o.prediction,
        "correct": o.correct,
        "follows_format": o.follows_format,
        "decode_tokens": o.decode_tokens,
        "verifier_tokens": o.verifier_tokens,
        "seconds": round(o.seconds, 4),
        "stage_matches": dict(o.stage_matches),
        "chosen": result.chosen,
        "traces": [t.to_json() for t in result.traces],
    }


def outcome_from_record(record: Mapping[str, Any]) -> Outcome:
    return Outcome(
        record["method"],
        int(record["index"]),
        record.get("kind"),
        bool(record["correct"]),
        bool(record["follows_format"]),
        int(record["decode_tokens"]),
        float(record["seconds"]),
        dict(record.get("stage_matches") or {}),
        record.get("question", ""),
        record.get("answer", ""),
        record.get("prediction", ""),
        int(record.get("verifier_tokens", 0)),  # results written before the verifier existed
    )


@dataclass
class ResultsRead:
    records: list[dict[str, Any]]
    keep_bytes: int  # the file's length without a cut-short last line
    cut_short: bool


def read_results(path: Path, *, tolerate_cut: bool = True) -> ResultsRead:
    """Every complete record of a results file. Only the last line may be cut short (a crash while
    writing it: it has no newline); every line that has one must be a whole record."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc}") from exc
    cut = b"" if data.endswith(b"\n") or not data else data.rsplit(b"\n", 1)[-1]
    if cut and not tolerate_cut:
        raise ResultsError(f"{path}: the last line is cut short (a run was killed while writing it): resume that run")
    records: list[dict[str, Any]] = []
    for number, raw in enumerate(data[: len(data) - len(cut)].split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
            if not isinstance(record, dict) or record.get("results") != RESULTS_VERSION:
                raise ValueError("not a results record")
            RunKey.from_json(record["run"])
            outcome_from_record(record)
        except (ValueError, KeyError, TypeError) as exc:
            raise ResultsError(f"{path}:{number}: not a results line of `stagelens eval` ({exc})") from None
        records.append(record)
    return ResultsRead(records, len(data) - len(cut), bool(cut))


class ResultsWriter:
    """The results file of a run: what is already done there, and each new result appended and flushed."""

    def __init__(self, path: Path, key: RunKey) -> None:
        self.path = Path(path)
        self.key = key
        self.outcomes: list[Outcome] = []
        self.rewritten_cut_line = False
        if self.path.exists():
            read = read_results(self.path)
            for number, record in enumerate(read.records, 1):
                differs = key.difference(RunKey.from_json(record["run"]))
                if differs:
                    raise ResultsError(
                        f"{self.path} holds results of {differs} (record {number}): "
                        "pass another --out, or delete the file to start again"
                    )
                self.outcomes.append(outcome_from_record(record))
            self.rewritten_cut_line = read.cut_short
            if read.cut_short:
                os.truncate(self.path, read.keep_bytes)  # drop the line a crash cut short; it is run again
        self._file: IO[str] = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()
        self.done = {(o.method, o.index) for o in self.outcomes}

    def append(self, method: Method, item: EvalItem, result: ItemResult) -> None:
        self._file.write(json.dumps(result_record(self.key, method, item, result)) + "\n")
        self._file.flush()
        os.fsync(self._file.fileno())
        self.outcomes.append(outcome_of(method, item, result))
        self.done.add((method.name, result.index))

    def close(self) -> None:
        self._file.close()


@dataclass
class Merged:
    key: RunKey
    methods: list[str]
    outcomes: list[Outcome]
    notes: list[str]  # what a reader should know (items no shard has)


def merge_results(paths: Iterable[Path]) -> Merged:
    """The records of several results files (shards of one run), checked to be of one run and the same methods."""
    key: RunKey | None = None
    methods: list[str] | None = None
    seen: dict[tuple[str, int], Path] = {}
    outcomes: list[Outcome] = []
    first: Path | None = None
    for path in paths:
        read = read_results(path, tolerate_cut=False)
        if not read.records:
            raise ResultsError(f"{path} has no results")
        mine: list[str] = []
        for record in read.records:
            record_key = RunKey.from_json(record["run"])
            if key is None:
                key, first = record_key, path
            differs = key.difference(record_key)
            if differs:
                raise ResultsError(f"{path} holds results of {differs} than {first}: these are not shards of one run")
            outcome = outcome_from_record(record)
            where = (outcome.method, outcome.index)
            if where in seen:
                raise ResultsError(f"item {outcome.index} of {outcome.method} is in both {seen[where]} and {path}")
            seen[where] = path
            outcomes.append(outcome)
            if outcome.method not in mine:
                mine.append(outcome.method)
        if methods is None:
            methods = mine
        elif set(mine) != set(methods):
            raise ResultsError(f"{path} has the methods {', '.join(mine)}; {first} has {', '.join(methods)}")
    if key is None or methods is None:
        raise ResultsError("no results files given")
    covered = {o.index for o in outcomes}
    notes = []
    if len(covered) < key.items:
        notes.append(f"the files cover {len(covered)} of the run's {key.items} items (is a shard missing?)")
    return Merged(key, methods, outcomes, notes)
