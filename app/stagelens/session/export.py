"""A conversation as Markdown (the question, the stages, the answer) or JSON (full traces)."""

from __future__ import annotations

import json

from stagelens.session.conversation import STAGE_TITLES, Answer, Turn

EXPORT_SCHEMA = 1


def to_markdown(title: str, turns: list[Turn]) -> str:
    lines = [f"# {title}", ""]
    for n, turn in enumerate(turns, 1):
        lines += [f"## Question {n}", "", turn.question.strip(), ""]
        if turn.images:
            lines += [f"Images: {', '.join(f'`{i.name}`' for i in turn.images)}", ""]
        finished, selected = turn.finished_answers()
        if selected is None:
            continue
        answer = finished[selected]
        if answer.interrupted:
            lines += ["> Unfinished: StageLens stopped before this answer was done. What it had written:", ""]
            for name, text in answer.unfinished_stages:
                lines += [f"### {STAGE_TITLES.get(name, name)}", "", text.strip() or "—", ""]
            continue
        if answer.trace is None:
            lines += [f"> The model could not answer: {answer.error or 'unknown error'}", ""]
            continue
        trace = answer.trace
        for stage in trace.stages:
            if stage.name == "conclusion":
                continue
            lines += [f"### {STAGE_TITLES.get(stage.name, stage.name)}", "", stage.text.strip() or "—", ""]
        lines += ["### Answer", "", trace.conclusion.strip() or "—", ""]
        settings = trace.settings
        note = (
            f"*beam {settings.get('beam')}, {settings.get('scorer')} scorer, seed {settings.get('seed')}, "
            f"{trace.stats.wall_s:.1f} s*"
        )
        if trace.cancelled:
            note += " — *stopped*"
        lines += [note, ""]
    return "\n".join(lines).rstrip() + "\n"


def _json_answer(answer: Answer) -> dict:
    if answer.trace is not None:
        return {"trace": answer.trace.to_json(), "error": None}
    if answer.interrupted or answer.live:
        return {"trace": None, "error": None, "unfinished": [list(s) for s in answer.unfinished_stages]}
    return {"trace": None, "error": answer.error or "unknown error"}


def _json_turn(turn: Turn, with_unfinished: bool = False) -> dict:
    finished, selected = turn.finished_answers()
    if with_unfinished:
        finished, selected = list(turn.versions), turn.selected if turn.versions else None
    return {
        "question": turn.question,
        "images": [
            {"name": i.name, "original_size": list(i.original_size), "sent_size": list(i.sent_size)}
            for i in turn.images
        ],
        "selected": selected,
        "answers": [_json_answer(v) for v in finished],
    }


def to_json(title: str, turns: list[Turn], with_unfinished: bool = False) -> str:
    """`with_unfinished`: also the answers still being written (what they hold so far)."""
    data = {"schema": EXPORT_SCHEMA, "title": title, "turns": [_json_turn(turn, with_unfinished) for turn in turns]}
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
