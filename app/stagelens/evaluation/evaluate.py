"""Evaluate decoding methods on a dataset of image questions (``stagelens.evaluation.dataset``).

Methods (parsed by ``stagelens.evaluation.methods``):

- ``greedy``: beam 1, temperature 0.
- ``bestofn:N[:scorer]``: the engine's best-of-N (``SearchSettings.best_of``): N whole answers
  sampled together (temperature/top-p of the search settings), each through every stage in its own
  sequence, ranked by the scorer: the highest mean token log-probability (``logprob``, default), the
  judge's knockout of whole answers, or the verifier's outcome score. Each stage gets the same token
  budget as a stage-beam candidate, so N samples cost what stage-beam N costs in generated tokens.
- ``beam:N[:scorer]``: the engine's stage-level beam search, N candidates per stage, scorer
  ``logprob`` (default), ``judge`` or ``verifier`` (retracing only when ``--retrace`` asks for it).
- ``retrace:N:K[:scorer]``: stage-level beam search with at most K retraces per answer (the margin
  is ``--retrace-margin``).

Answers are matched by ``stagelens.evaluation.matching`` on the final conclusion; intervals,
paired comparisons and per-kind / per-stage tables are in ``stagelens.evaluation.report``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field, replace

from stagelens.engine import Engine, SearchSettings, Trace, UserTurn
from stagelens.evaluation.dataset import DatasetError, EvalItem, load_dataset
from stagelens.evaluation.methods import Method, MethodError, parse_method, parse_methods

__all__ = [
    "DatasetError",
    "EvalItem",
    "ItemResult",
    "Method",
    "MethodError",
    "MethodRun",
    "evaluate",
    "load_dataset",
    "parse_method",
    "parse_methods",
    "run_item",
]


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
    verifier_tokens: int = 0  # what a verifier model read for these answers (its own cost, apart)


@dataclass
class MethodRun:
    """One method's results on the items it ran, in dataset order."""

    method: Method
    results: list[ItemResult]


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
    turn = UserTurn(item.question, (item.prepared_image(engine.settings.image_max_side),))
    if method.kind == "greedy":
        traces = [engine.answer(turn, settings=replace(base, beam=1, temperature=0.0, retrace=0))]
        chosen = 0
    elif method.kind == "bestofn":  # the engine's best-of-N: the N answers in one batch, the scorer's best kept
        traces = [
            engine.answer(turn, settings=replace(base, beam=1, retrace=0, best_of=method.n, scorer=method.scorer))
        ]
        chosen = 0
    elif method.kind == "retrace":
        retraces = int(method.option("retraces", 1) or 1)
        traces = [engine.answer(turn, settings=replace(base, beam=method.n, scorer=method.scorer, retrace=retraces))]
        chosen = 0
    else:  # stage-level search, retracing when --retrace asks for it
        traces = [engine.answer(turn, settings=replace(base, beam=method.n, scorer=method.scorer))]
        chosen = 0
    trace = traces[chosen]
    return ItemResult(
        index=index,
        prediction=trace.conclusion,
        correct=item.is_correct(trace.conclusion),
        follows_format=follows_format(trace),
        decode_tokens=sum(t.stats.decode_tokens for t in traces),
        verifier_tokens=sum(t.stats.verifier_tokens for t in traces),
        seconds=time.perf_counter() - started,
        traces=traces,
        chosen=chosen,
    )


def chosen_stage_texts(result: ItemResult) -> dict[str, str]:
    """The texts of the stages of the answer a method kept, by stage name."""
    if not result.traces:
        return {}
    return {stage.name: stage.text for stage in result.traces[result.chosen].stages}


def evaluate(
    engine: Engine,
    items: list[EvalItem],
    methods: Iterable[Method],
    base: SearchSettings,
    on_result: Callable[[Method, EvalItem, ItemResult], None] | None = None,
    *,
    indices: Iterable[int] | None = None,
    done: Container[tuple[str, int]] = (),
) -> list[MethodRun]:
    """Each method on the items at `indices` (default: all), skipping the (method name, index) pairs in `done`."""
    chosen = list(range(len(items)) if indices is None else indices)
    runs = []
    for method in methods:
        results = []
        for index in chosen:
            if (method.name, index) in done:
                continue
            result = run_item(engine, method, items[index], base, index)
            results.append(result)
            if on_result:
                on_result(method, items[index], result)
        runs.append(MethodRun(method, results))
    return runs
