"""A conversation as Markdown (the question, the stages, the answer) or JSON (full traces)."""

from __future__ import annotations

import json

from stagelens.ui.conversation import TurnState
from stagelens.ui.stage_panel import TITLES

EXPORT_SCHEMA = 1


def to_markdown(title: str, turns: list[TurnState]) -> str:
    lines = [f"# {title}", ""]
    for n, turn in enumerate(turns, 1):
        lines += [f"## Question {n}", "", turn.question.strip(), ""]
        if turn.images:
            lines += [f"Images: {', '.join(f'`{i.name}`' for i in turn.images)}", ""]
        answer = turn.answer
        if answer is None:
            continue
        if answer.trace is None:
            lines += [f"> The model could not answer: {answer.error}", ""]
            continue
        trace = answer.trace
        for stage in trace.stages:
            if stage.name == "conclusion":
                continue
            lines += [f"### {TITLES.get(stage.name, stage.name)}", "", stage.text.strip() or "—", ""]
        lines += ["### Answer", "", trace.conclusion.strip() or "—", ""]
        settings = trace.settings
        note = (f"*beam {settings.get('beam')}, {settings.get('scorer')} scorer, seed {settings.get('seed')}, "
                f"{trace.stats.wall_s:.1f} s*")
        if trace.cancelled:
            note += " — *stopped*"
        lines += [note, ""]
    return "\n".join(lines).rstrip() + "\n"


def to_json(title: str, turns: list[TurnState]) -> str:
    data = {
        "schema": EXPORT_SCHEMA,
        "title": title,
        "turns": [
            {
                "question": turn.question,
                "images": [{"name": i.name, "original_size": list(i.original_size),
                            "sent_size": list(i.sent_size)} for i in turn.images],
                "selected": turn.selected,
                "answers": [
                    {"trace": v.trace.to_json(), "error": None} if v.trace is not None
                    else {"trace": None, "error": v.error}
                    for v in turn.versions if not v.live
                ],
            }
            for turn in turns
        ],
    }
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"
