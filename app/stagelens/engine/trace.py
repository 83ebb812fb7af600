"""The record of one answered question (JSON schema 4; schema-1, -2 and -3 traces still load).

Schema 2 added `assistant_tokens` (the ids of the model's turn, so a follow-up gives the model back
exactly what it produced) and `model.key` (which text model those ids belong to). Schema 3 added
what the stage machine saw (each stage's `status` and `note`, each candidate's `stop` and openings),
`conclusion_note` (why the conclusion is empty, when it is), `prompt` (the format instruction the
model was told and where, the judge's answer labels) and `stats.image_chunks`. Schema 4 added
`retraces` (each retrace of a retracing search: which stage was poor, its best and the threshold, the
two stages it discarded) and `answers` (best-of-N: each whole answer's score; the winner is the
selected candidate of every stage), with `answer_bracket` when the judge ranked them. A trace of an
older schema loads with none of them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = 4
READABLE_SCHEMAS = (1, 2, 3, 4)

# What a candidate's (or a whole answer's) score is, by the scorer that gave it
SCORE_NAMES = {
    "logprob": "mean log-prob",
    "judge": "judge margin",
    "verifier": "verifier score",
    "python": "custom score",
}


def score_legend(trace_settings: dict[str, Any], best_of_n: bool) -> str:
    """What the scores of a trace are: best-of-N's stage candidates keep their mean log-probability
    and only the whole answers are ranked by the scorer."""
    scorer = str(trace_settings.get("scorer", "logprob"))
    name = SCORE_NAMES.get(scorer, scorer)
    if best_of_n and scorer != "logprob":
        return f"{SCORE_NAMES['logprob']} per stage, {name} per answer"
    return name


# Stage.status: what ended the stage (the note says it for people)
STATUSES = ("ok", "cut", "ended", "jumped", "restarted", "looped", "cancelled")


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None


@dataclass
class Candidate:
    text: str
    n_tokens: int
    mean_logprob: float | None
    score: float | None
    selected: bool
    wall_s: float
    closed_by: str = "tag"  # tag | budget | eos | cancel | stop (another stage's tag) | loop
    tokens: list[int] = field(default_factory=list)  # the model's token ids kept in the answer
    stop: str | None = None  # the text that ended it early (closed_by "stop"), e.g. "<CONCLUSION>"
    open_repeats: int = 0  # openings the model wrote itself after ours (dropped from the text)
    opened_by_alias: bool = False  # one of them was a Markdown heading ("**Summary:**"), not the tag
    same_as: int | None = None  # merged before scoring into this earlier candidate, which wrote the same text


@dataclass
class Pairing:
    """One comparison of the judge's knockout (scorer "judge"): candidates `a` and `b` of a stage in
    round `round`; margin = log p(A) - log p(B) of the judge's answer, so `a` won when it is >= 0."""

    round: int
    a: int
    b: int
    margin: float

    @property
    def winner(self) -> int:
        return self.a if self.margin >= 0 else self.b


@dataclass
class Stage:
    name: str
    text: str
    candidates: list[Candidate] = field(default_factory=list)
    forced_open: bool = False  # we wrote the opening tag
    forced_close: bool = False  # we wrote the closing tag (budget or end of text)
    complete: bool = True
    bracket: list[Pairing] = field(default_factory=list)  # the judge's comparisons, round by round
    status: str = "ok"  # one of STATUSES
    note: str = ""  # for people: what the model did, when it is not a plain tagged stage
    merged: int = 0  # candidates merged before scoring into an earlier one with the same text (not judged)


@dataclass
class Retrace:
    """One retrace: the best candidate of `stage` scored `best`, below `threshold` (the stage before's
    best minus the retrace margin), so `resampled`, the stage before, was sampled again with new seeds.
    `discarded`: the two stages as they were (`resampled` with its winner, `stage` with its candidates)."""

    stage: str
    resampled: str
    best: float | None
    threshold: float | None
    discarded: list[Stage] = field(default_factory=list)


@dataclass
class AnswerScore:
    """One whole answer of best-of-N (candidate `index` of every stage): its score (the scorer's: the mean
    log-probability over every token it sampled, the judge's knockout score, the verifier's or the
    Python scorer's), and whether it was kept."""

    index: int
    score: float | None
    n_tokens: int
    selected: bool


@dataclass
class Stats:
    image_encodes: int = 0  # images encoded (a tiled image counts once)
    image_chunks: int = 0  # image chunks encoded (tiles, slices, overviews)
    prefill_tokens: int = 0
    decode_tokens: int = 0
    judge_calls: int = 0
    wall_s: float = 0.0
    judge_tokens: int = 0
    prompt_tokens: int = 0  # of prefill_tokens, those read from the prompt (the rest: stage tags)
    tokens_per_s: float = 0.0
    prefill_s: float = 0.0  # in llama.cpp reading the prompt, images and stage tags (images included)
    encode_s: float = 0.0  # of it, encoding and reading images
    judge_s: float = 0.0  # in the judge's comparisons
    first_prefill_s: float = 0.0  # of prefill_s, what was read before the first stage's first decode
    steps_by_width: list[int] = field(default_factory=list)  # candidate decodes by sequences per batch (index)
    cells_by_width: list[float] = field(default_factory=list)  # the mean KV cells those decodes attended to
    peak_cells: int = 0  # the most KV cells held at once by candidate steps and a stage's judging
    # the verifier scorer's own costs (its model and context), not counted in the fields above
    verifier_calls: int = 0  # stages (or sets of whole answers) it scored
    verifier_prompts: int = 0  # candidates it scored
    verifier_tokens: int = 0  # tokens it read: its prompt (images included) and the candidates
    verifier_image_encodes: int = 0  # images it encoded (once per question)
    verifier_s: float = 0.0  # wall time in the verifier
    verifier_encode_s: float = 0.0  # of it, encoding images


@dataclass
class ModelInfo:
    path: str
    mmproj: str | None
    n_params: int
    backend: str
    template: str = "gguf"  # gguf | fallback
    key: str | None = None  # Engine.model_key: identifies the text model file (schema 1: None)


@dataclass
class Trace:
    question: str
    images: list[dict]
    settings: dict
    stages: list[Stage]
    conclusion: str
    cancelled: bool
    stats: Stats
    model: ModelInfo
    assistant_text: str = ""  # the model's turn as text, for follow-ups with another model
    assistant_tokens: list[int] = field(default_factory=list)  # its ids, for follow-ups with this model
    conclusion_note: str = ""  # why the conclusion is empty (empty when it is not)
    prompt: dict[str, Any] = field(default_factory=dict)  # format_instruction, placement, reason, judge_choices
    retraces: list[Retrace] = field(default_factory=list)  # in the order they happened
    answers: list[AnswerScore] = field(default_factory=list)  # best-of-N's whole answers (else empty)
    answer_bracket: list[Pairing] = field(default_factory=list)  # best-of-N judged: the judge's comparisons
    schema: int = SCHEMA

    def stage(self, name: str) -> Stage | None:
        return next((s for s in self.stages if s.name == name), None)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for stage in [*data["stages"], *(s for r in data["retraces"] for s in r["discarded"])]:
            for cand in stage["candidates"]:
                cand["mean_logprob"] = _finite(cand["mean_logprob"])
                cand["score"] = _finite(cand["score"])
            for pairing in stage["bracket"]:
                pairing["margin"] = _finite(pairing["margin"])
        for retrace in data["retraces"]:
            retrace["best"] = _finite(retrace["best"])
            retrace["threshold"] = _finite(retrace["threshold"])
        for answer in data["answers"]:
            answer["score"] = _finite(answer["score"])
        for pairing in data["answer_bracket"]:
            pairing["margin"] = _finite(pairing["margin"])
        return data

    def dumps(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_json(), indent=indent, ensure_ascii=False, allow_nan=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Trace:
        if data.get("schema") not in READABLE_SCHEMAS:
            raise ValueError(f"unsupported trace schema {data.get('schema')!r} (expected one of {READABLE_SCHEMAS})")
        stages = [_stage_from_json(s) for s in data["stages"]]
        retraces = [
            Retrace(
                stage=r["stage"],
                resampled=r["resampled"],
                best=r.get("best"),
                threshold=r.get("threshold"),
                discarded=[_stage_from_json(s) for s in r.get("discarded", [])],
            )
            for r in data.get("retraces", [])
        ]
        return cls(
            question=data["question"],
            images=list(data["images"]),
            settings=dict(data["settings"]),
            stages=stages,
            conclusion=data["conclusion"],
            cancelled=data["cancelled"],
            stats=Stats(**data["stats"]),
            model=ModelInfo(**data["model"]),
            assistant_text=data.get("assistant_text", ""),
            assistant_tokens=[int(t) for t in data.get("assistant_tokens", [])],
            conclusion_note=data.get("conclusion_note", ""),
            prompt=dict(data.get("prompt", {})),
            retraces=retraces,
            answers=[AnswerScore(**a) for a in data.get("answers", [])],
            answer_bracket=[Pairing(**p) for p in data.get("answer_bracket", []) if p.get("margin") is not None],
        )

    @classmethod
    def loads(cls, text: str) -> Trace:
        return cls.from_json(json.loads(text))


def _stage_from_json(s: dict[str, Any]) -> Stage:
    return Stage(
        name=s["name"],
        text=s["text"],
        candidates=[Candidate(**c) for c in s.get("candidates", [])],
        forced_open=s.get("forced_open", False),
        forced_close=s.get("forced_close", False),
        complete=s.get("complete", True),
        bracket=[Pairing(**p) for p in s.get("bracket", []) if p.get("margin") is not None],
        status=s.get("status", "ok"),
        note=s.get("note", ""),
        merged=s.get("merged", 0),
    )
