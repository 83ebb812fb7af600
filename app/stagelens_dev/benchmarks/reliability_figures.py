"""The figures of the README's reliability section (issue 12), measured on this machine:

    python -m stagelens_dev.benchmarks.reliability_figures [--conversations 1000] [--runs 6]

- opening a history of many conversations (the integrity check included), and the check alone;
- one partial-answer save (beam 4, four stages, about 10 KB of text), median and worst;
- opening a history while another program holds a write lock, and without it;
- opening a history another program has locked for reading (how long it waits before going on);
- loading a model with the probe decode and without it (demo model when installed, tiny test model);
- the probe image (`models import`, downloads without a published checksum).
The kill -9 soak is `python -m stagelens_dev.benchmarks.kill_soak`.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from stagelens.engine import Engine, LoadSettings, ModelInfo, Stage, Stats, Trace
from stagelens.engine import engine as engine_module
from stagelens.history import HistoryStore, recovery
from stagelens.history.rows import partial_json
from stagelens.session import Answer, Conversation, Turn

_LOCKER = """
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive":
    db.execute("PRAGMA locking_mode=EXCLUSIVE")
    db.execute("BEGIN EXCLUSIVE")
    db.execute("SELECT count(*) FROM conversations").fetchone()
else:
    db.execute("BEGIN IMMEDIATE")
    db.execute("UPDATE conversations SET title = title")
print("locked", flush=True)
sys.stdin.readline()
"""


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def _open(folder: Path) -> float:
    """Seconds to open the history (closing it is not counted)."""
    started = time.perf_counter()
    store = HistoryStore(folder)
    took = time.perf_counter() - started
    store.close()
    return took


def _trace(n: int, filler: int) -> Trace:
    return Trace(
        question=f"question {n}?",
        images=[],
        settings={"beam": 2},
        stages=[Stage("summary", "s" * filler), Stage("conclusion", f"answer {n}")],
        conclusion=f"answer {n}",
        cancelled=False,
        stats=Stats(),
        model=ModelInfo("text.gguf", "mmproj.gguf", 1, "CPU"),
        assistant_text=f"<CONCLUSION>answer {n}</CONCLUSION>",
    )


def history_figures(folder: Path, conversations: int, runs: int, filler: int = 2500) -> dict:
    store = HistoryStore(folder)
    for n in range(conversations):
        conversation = store.create_conversation(f"chat {n}")
        store.add_turn(conversation, Turn(f"question {n}?", []), Answer(trace=_trace(n, filler)))
    # partial saves: beam 4, four stages, about 10 KB
    chat, turn, answer = Conversation(title="streaming"), Turn("q?", []), Answer(live=True)
    store.start_turn(chat, turn, answer)
    for stage in ("summary", "caption", "reasoning", "conclusion"):
        answer.on_event("stage_begin", stage, 0, "")
        for candidate in range(4):
            answer.on_event("text", stage, candidate, "word " * 128)
    saves = [_timed(lambda: store.save_partial(turn, answer)) for _ in range(50)]
    store.close()
    size = store.db_path.stat().st_size
    opens = [_open(folder) for _ in range(runs)]
    checks = []
    for _ in range(runs):
        db = sqlite3.connect(store.db_path)
        checks.append(_timed(lambda: recovery.quick_check(db, size)))  # noqa: B023 (called at once)
        db.close()
    with _locked(store.db_path, "write"):
        locked_opens = [_open(folder) for _ in range(runs)]
    with _locked(store.db_path, "exclusive"):
        gave_up = _open(folder)
    return {
        "history_mb": round(size / 1e6, 1),
        "conversations": conversations,
        "open_ms_median": _ms(statistics.median(opens)),
        "integrity_check_ms_median": _ms(statistics.median(checks)),
        "partial_save_kb": round(len(partial_json(answer)) / 1e3, 1),
        "partial_save_ms_median": _ms(statistics.median(saves)),
        "partial_save_ms_worst_of_50": _ms(max(saves)),
        "open_while_write_locked_ms_median": _ms(statistics.median(locked_opens)),
        "open_when_locked_for_reading_gives_up_after_s": round(gave_up, 2),
    }


class _locked:
    def __init__(self, path: Path, mode: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _LOCKER, str(path), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )

    def __enter__(self) -> None:
        assert self.process.stdout is not None and self.process.stdout.readline().strip() == "locked"

    def __exit__(self, *exc: object) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write("\n")
        self.process.stdin.close()
        self.process.wait(30)


def model_figures(name: str, text: Path, mmproj: Path, runs: int) -> dict:
    settings = LoadSettings(str(text), str(mmproj), n_ctx=2048)
    real = engine_module.damage.check_text_model
    with_probe, without_probe, probe_image = [], [], []
    for _ in range(runs):  # alternated, so that a busy moment of the machine falls on both
        with_probe.append(_timed(lambda: Engine(settings).close()))
        engine_module.damage.check_text_model = lambda *a: None  # type: ignore[assignment]
        try:
            without_probe.append(_timed(lambda: Engine(settings).close()))
        finally:
            engine_module.damage.check_text_model = real  # type: ignore[assignment]
        engine = Engine(settings)
        try:
            probe_image.append(_timed(lambda: engine_module.damage.check_projector(engine._native, mmproj)))  # noqa: B023
        finally:
            engine.close()
    return {
        "model": name,
        "load_ms_median_with_probe": _ms(statistics.median(with_probe)),
        "load_ms_median_without_probe": _ms(statistics.median(without_probe)),
        "probe_image_ms_median": _ms(statistics.median(probe_image)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--answer-chars", type=int, default=2500, help="the size of each saved answer's reasoning")
    parser.add_argument("--history-only", action="store_true")
    args = parser.parse_args(argv)
    from stagelens.models.default import demo_model
    from stagelens_dev.testmodels import make_test_model

    with tempfile.TemporaryDirectory(prefix="stagelens-figures-") as tmp:
        history = history_figures(Path(tmp) / "data", args.conversations, args.runs, args.answer_chars)
        report: dict = {"history": history, "models": []}
        if args.history_only:
            print(json.dumps(report, indent=2))
            return 0
        demo = demo_model()
        if demo is not None:
            report["models"].append(model_figures("demo", Path(demo.text), Path(demo.mmproj), args.runs))
        tiny = make_test_model("tiny", Path(tmp) / "tiny")
        report["models"].append(model_figures("tiny", Path(tiny.text), Path(tiny.mmproj), args.runs))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
