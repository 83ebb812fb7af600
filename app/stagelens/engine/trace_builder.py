"""The native search's result as a Trace."""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from typing import Any

from stagelens.engine.settings import SearchSettings
from stagelens.engine.specs import StageSpec
from stagelens.engine.stage_report import conclusion_note, verdict
from stagelens.engine.trace import AnswerScore, Candidate, ModelInfo, Pairing, Retrace, Stage, Stats, Trace
from stagelens.engine.turns import UserTurn


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _stage(raw: dict[str, Any], spec: StageSpec | None) -> Stage:
    winner = raw["winner"]
    cands = [
        Candidate(
            text=c["text"].strip(),
            n_tokens=c["n_tokens"],
            mean_logprob=_finite(c["mean_logprob"]),
            score=_finite(c["score"]),
            selected=i == winner,
            wall_s=round(c["wall_s"], 4),
            closed_by=c["closed_by"],
            tokens=c["tokens"],
            stop=spec.stops[c["stop"]] if spec is not None and c["stop"] >= 0 else None,
            open_repeats=c["open_repeats"],
            opened_by_alias=c["opened_by_alias"],
            same_as=c["same_as"] if c["same_as"] >= 0 else None,
        )
        for i, c in enumerate(raw["candidates"])
    ]
    text = cands[winner].text if winner >= 0 else (cands[0].text if cands else "")
    return Stage(
        name=raw["name"],
        text=text,
        candidates=cands,
        forced_open=raw["forced_open"],
        forced_close=raw["forced_close"],
        complete=winner >= 0,
        merged=sum(c.same_as is not None for c in cands),
        bracket=_pairings(raw.get("bracket", [])),
    )


def _pairings(raw: list[dict[str, Any]]) -> list[Pairing]:
    return [Pairing(p["round"], p["a"], p["b"], round(p["margin"], 4)) for p in raw if math.isfinite(p["margin"])]


def _stats(raw: dict[str, Any], started: float) -> Stats:
    return Stats(
        image_encodes=raw["image_encodes"],
        image_chunks=raw["image_chunks"],
        prefill_tokens=raw["prefill_tokens"],
        decode_tokens=raw["decode_tokens"],
        judge_calls=raw["judge_calls"],
        wall_s=round(time.perf_counter() - started, 4),
        judge_tokens=raw["judge_tokens"],
        prompt_tokens=raw["prompt_tokens"],
        tokens_per_s=round(raw["decode_tokens"] / raw["wall_s"], 2) if raw["wall_s"] > 0 else 0.0,
        prefill_s=round(raw["prefill_s"], 4),
        encode_s=round(raw["encode_s"], 4),
        judge_s=round(raw["judge_s"], 4),
        first_prefill_s=round(raw["first_prefill_s"], 4),
        steps_by_width=list(raw["steps_by_width"]),
        cells_by_width=[round(c, 1) for c in raw["cells_by_width"]],
        peak_cells=raw["peak_cells"],
    )


def build_trace(
    turn: UserTurn,
    settings: SearchSettings,
    result: dict[str, Any],
    model: ModelInfo,
    started: float,
    specs: Sequence[StageSpec] = (),
    prompt: dict[str, Any] | None = None,
) -> Trace:
    """`started`: time.perf_counter() when the answer was asked for; `specs`: the stages as configured
    (a candidate's stop indexes its stage's stops); `prompt`: what the model was told (Trace.prompt)."""
    by_name = {s.name: s for s in specs}
    stages = [_stage(st, by_name.get(st["name"])) for st in result["stages"]]
    cancelled = bool(result["cancelled"])
    retraces = [_retrace(r, by_name, settings.max_stage_tokens) for r in result.get("retraces", [])]
    for stage in stages:
        judged = verdict(stage, settings.max_stage_tokens, cancelled)
        stage.status, stage.note = judged.status, judged.note
    answers = result.get("answers", [])
    winner = next((i for i, c in enumerate(stages[0].candidates) if c.selected), -1) if stages else -1
    conclusion = next((s.text for s in stages if s.name == "conclusion"), "")
    used = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    return Trace(
        question=turn.question,
        images=[img.to_json() for img in turn.images],
        settings=used,
        stages=stages,
        conclusion=conclusion,
        cancelled=cancelled,
        stats=_stats(result["stats"], started),
        model=model,
        assistant_text=result["answer_text"].decode("utf-8", "replace"),
        assistant_tokens=list(result["answer_tokens"]),
        conclusion_note=conclusion_note(stages, cancelled),
        prompt=dict(prompt or {}),
        retraces=retraces,
        answers=[AnswerScore(i, _finite(a["score"]), a["n_tokens"], i == winner) for i, a in enumerate(answers)],
        answer_bracket=_pairings(result.get("answer_bracket", [])),
    )


def _retrace(raw: dict[str, Any], by_name: dict[str, StageSpec], max_stage_tokens: int) -> Retrace:
    discarded = [_stage(st, by_name.get(st["name"])) for st in raw["discarded"]]
    for stage in discarded:
        judged = verdict(stage, max_stage_tokens, False)
        stage.status, stage.note = judged.status, judged.note
    return Retrace(
        stage=discarded[1].name,
        resampled=discarded[0].name,
        best=_finite(raw["best"]),
        threshold=_finite(raw["threshold"]),
        discarded=discarded,
    )
