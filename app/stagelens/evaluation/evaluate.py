"""Evaluate decoding methods on a JSONL dataset of image questions.

Dataset lines: ``{"image": path relative to the file, "question": str, "answer": str,
"choices": [str, ...] optional}``. Methods:

- ``greedy``: beam 1, temperature 0.
- ``bestofn:N``: N whole answers sampled independently (beam 1, temperature/top-p of the
  search settings, seeds ``seed .. seed+N-1``); the one with the highest mean token
  log-probability over its generated tokens wins. Each stage gets the same token budget as a
  stage-beam candidate, so N samples cost what stage-beam N costs in generated tokens.
- ``beam:N[:scorer]``: the engine's stage-level beam search, N candidates per stage, scorer
  ``logprob`` (default) or ``judge``.

Answers are matched by ``stagelens.evaluation.matching`` on the final conclusion.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from stagelens.engine import Engine, SearchSettings, Trace, UserTurn
from stagelens.evaluation.matching import is_correct
from stagelens.settings import setting, str_default

SCORERS = setting("scorer").choices


class DatasetError(ValueError):
    """A dataset file or line is unusable; the message names the file and line."""


class MethodError(ValueError):
    """A method spec does not parse."""


@dataclass(frozen=True)
class EvalItem:
    image: Path
    question: str
    answer: str
    choices: tuple[str, ...] = ()
    line: int = 0


@dataclass(frozen=True)
class Method:
    kind: str  # greedy | bestofn | beam
    n: int = 1
    scorer: str = str_default("scorer")

    @property
    def name(self) -> str:
        if self.kind == "greedy":
            return "greedy"
        if self.kind == "bestofn":
            return f"bestofn:{self.n}"
        return f"beam:{self.n}:{self.scorer}"


@dataclass
class ItemResult:
    index: int
    prediction: str
    correct: bool
    follows_format: bool
    decode_tokens: int
    seconds: float
    traces: list[Trace] = field(default_factory=list)
    chosen: int = 0


@dataclass
class MethodSummary:
    method: str
    n_items: int
    accuracy: float
    format_rate: float
    mean_tokens: float
    mean_seconds: float

    def to_json(self) -> dict:
        return {
            "method": self.method,
            "items": self.n_items,
            "accuracy": round(self.accuracy, 4),
            "format_rate": round(self.format_rate, 4),
            "mean_tokens": round(self.mean_tokens, 1),
            "mean_seconds": round(self.mean_seconds, 3),
        }


# ------------------------------------------------------------------------------------ parsing


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
    image = (path.parent / record["image"]).resolve()
    if not image.is_file():
        raise DatasetError(f"{where}: image {record['image']} not found (looked at {image})")
    return EvalItem(image, record["question"], record["answer"], tuple(choices), number)


def parse_methods(spec: str) -> list[Method]:
    methods = [parse_method(part.strip()) for part in spec.split(",") if part.strip()]
    if not methods:
        raise MethodError("no methods given")
    return methods


def parse_method(text: str) -> Method:
    parts = text.lower().split(":")
    try:
        if parts == ["greedy"]:
            return Method("greedy")
        if parts[0] == "bestofn" and len(parts) == 2:
            n = int(parts[1])
            if n >= 1:
                return Method("bestofn", n)
        if parts[0] == "beam" and len(parts) in (2, 3):
            n = int(parts[1])
            scorer = parts[2] if len(parts) == 3 else str_default("scorer")
            if n >= 1 and scorer in SCORERS:
                return Method("beam", n, scorer)
    except ValueError:
        pass
    raise MethodError(f"unknown method {text!r}: use greedy, bestofn:N or beam:N[:logprob|judge] with N >= 1")


# --------------------------------------------------------------------------------- evaluating


def follows_format(trace: Trace) -> bool:
    """All four stages complete and closed by the model's own tags; with stage forcing off, also
    opened by its own tags (with forcing on, the engine writes every opening tag by design)."""
    own_open = not trace.settings.get("force_stages", True)
    return len(trace.stages) == 4 and all(
        s.complete and not s.forced_close and not (own_open and s.forced_open) for s in trace.stages
    )


def answer_logprob(trace: Trace) -> float:
    """Mean token log-probability over the tokens the model generated for the chosen stages."""
    total, count = 0.0, 0
    for stage in trace.stages:
        chosen = next((c for c in stage.candidates if c.selected), None)
        if chosen is not None and chosen.mean_logprob is not None and chosen.n_tokens:
            total += chosen.mean_logprob * chosen.n_tokens
            count += chosen.n_tokens
    return total / count if count else float("-inf")


def run_item(engine: Engine, method: Method, item: EvalItem, base: SearchSettings, index: int) -> ItemResult:
    started = time.perf_counter()
    turn = UserTurn(item.question, tuple(engine.prepare_images([item.image])))
    if method.kind == "greedy":
        traces = [engine.answer(turn, settings=replace(base, beam=1, temperature=0.0))]
        chosen = 0
    elif method.kind == "bestofn":
        seed = base.seed or 0
        traces = [engine.answer(turn, settings=replace(base, beam=1, seed=(seed + k) % 2**32)) for k in range(method.n)]
        scores = [answer_logprob(t) for t in traces]
        chosen = max(range(len(traces)), key=lambda k: scores[k])
    else:
        traces = [engine.answer(turn, settings=replace(base, beam=method.n, scorer=method.scorer))]
        chosen = 0
    trace = traces[chosen]
    return ItemResult(
        index=index,
        prediction=trace.conclusion,
        correct=is_correct(trace.conclusion, item.answer, list(item.choices) or None),
        follows_format=follows_format(trace),
        decode_tokens=sum(t.stats.decode_tokens for t in traces),
        seconds=time.perf_counter() - started,
        traces=traces,
        chosen=chosen,
    )


def evaluate(
    engine: Engine,
    items: list[EvalItem],
    methods: Iterable[Method],
    base: SearchSettings,
    on_result: Callable[[Method, EvalItem, ItemResult], None] | None = None,
) -> list[MethodSummary]:
    summaries = []
    for method in methods:
        results = []
        for index, item in enumerate(items):
            result = run_item(engine, method, item, base, index)
            results.append(result)
            if on_result:
                on_result(method, item, result)
        summaries.append(summarize(method, results))
    return summaries


def summarize(method: Method, results: list[ItemResult]) -> MethodSummary:
    n = len(results)
    return MethodSummary(
        method=method.name,
        n_items=n,
        accuracy=sum(r.correct for r in results) / n,
        format_rate=sum(r.follows_format for r in results) / n,
        mean_tokens=sum(r.decode_tokens for r in results) / n,
        mean_seconds=sum(r.seconds for r in results) / n,
    )


def trace_record(method: Method, item: EvalItem, result: ItemResult) -> dict:
    return {
        "method": method.name,
        "index": result.index,
        "line": item.line,
        "image": str(item.image),
        "question": item.question,
        "answer": item.answer,
        "prediction": result.prediction,
        "correct": result.correct,
        "follows_format": result.follows_format,
        "decode_tokens": result.decode_tokens,
        "seconds": round(result.seconds, 4),
        "chosen": result.chosen,
        "traces": [t.to_json() for t in result.traces],
    }


def format_table(summaries: list[MethodSummary]) -> str:
    header = f"{'method':<18} {'accuracy':>8} {'format':>7} {'tokens/q':>9} {'s/q':>7}"
    rows = [
        f"{s.method:<18} {100 * s.accuracy:>7.1f}% {100 * s.format_rate:>6.1f}% "
        f"{s.mean_tokens:>9.1f} {s.mean_seconds:>7.3f}"
        for s in summaries
    ]
    return "\n".join([header, *rows])
