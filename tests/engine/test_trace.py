"""The trace: JSON round trip, schema 2's answer ids and model key, schema 3's stage reports and prompt,
schema 4's retraces and best-of-N answers, schema-1 traces still load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.fixtures.engine import QUESTION, search

from stagelens.engine import Trace, UserTurn
from stagelens.engine.trace import STATUSES

SCHEMA_1 = Path(__file__).parent.parent / "fixtures" / "trace-schema1.json"


def test_trace_json_round_trips(engine, scene):
    trace = engine.answer(UserTurn(QUESTION, (scene,)), settings=search(beam=2))
    data = json.loads(trace.dumps())
    assert data["schema"] == 4
    assert data["retraces"] == [] and data["answers"] == []  # a stage-level search without retracing
    assert set(data) >= {"question", "images", "settings", "stages", "conclusion", "cancelled", "stats", "model"}
    assert set(data["settings"]) >= {"beam", "scorer", "temperature", "top_p", "seed", "max_stage_tokens"}
    assert set(data["stats"]) >= {"image_encodes", "image_chunks", "prefill_tokens", "decode_tokens", "judge_calls"}
    assert set(data["prompt"]) == {"format_instruction", "placement", "reason", "judge_choices"}
    assert data["settings"]["format_instruction"] == trace.prompt["format_instruction"]  # the tiny model is told
    assert {s["status"] for s in data["stages"]} <= set(STATUSES) and "conclusion_note" in data
    assert set(data["model"]) >= {"path", "mmproj", "n_params", "backend", "key"}
    assert data["model"]["key"] == engine.model_key
    assert data["assistant_tokens"] == trace.assistant_tokens and trace.assistant_tokens
    assert data["images"][0]["original_size"] == [96, 72]
    cand = data["stages"][0]["candidates"][0]
    assert set(cand) >= {"text", "n_tokens", "mean_logprob", "score", "selected", "wall_s"}
    assert Trace.loads(trace.dumps()) == trace


def test_a_schema_1_trace_still_loads():
    data = json.loads(SCHEMA_1.read_text(encoding="utf-8"))
    assert data["schema"] == 1 and "assistant_tokens" not in data and "key" not in data["model"]
    trace = Trace.from_json(data)
    assert trace.assistant_tokens == [] and trace.model.key is None
    assert trace.assistant_text == data["assistant_text"] and trace.assistant_text
    assert [s.name for s in trace.stages] == ["summary", "caption", "reasoning", "conclusion"]
    assert Trace.loads(trace.dumps()) == trace  # written again as schema 4


def test_an_unknown_schema_is_refused():
    data = json.loads(SCHEMA_1.read_text(encoding="utf-8"))
    data["schema"] = 99
    with pytest.raises(ValueError, match="unsupported trace schema 99"):
        Trace.from_json(data)


def test_model_key_names_the_text_model_file(engine, tiny_model, tmp_path):
    from stagelens.engine.conversation import model_file_key

    assert engine.model_key == model_file_key(tiny_model.text)
    copy = tmp_path / "copy.gguf"
    copy.write_bytes(tiny_model.text.read_bytes())
    assert model_file_key(copy) == engine.model_key  # the same bytes, wherever they are
    data = bytearray(copy.read_bytes())
    data[-1] ^= 0xFF
    copy.write_bytes(bytes(data))
    assert model_file_key(copy) != engine.model_key
