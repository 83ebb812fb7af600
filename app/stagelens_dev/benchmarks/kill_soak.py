"""Soak: kill the window (kill -9) mid-answer many times, and check what the history kept.

Each round starts the window in its own process on one history, asks a question in the saved
conversation (the first round starts it), and kills the process at a random moment while the
answer streams. The next round reopens the history first and checks it: every question asked so
far is there, every killed one marked unfinished (with its partial text, once a checkpoint had
time to land), the answers finished before are intact, SQLite's integrity check passes, and no
temporary file or orphan image is left. Run:
`python -m stagelens_dev.benchmarks.kill_soak --kills 20 [--model M.gguf --mmproj P.gguf]` (offscreen).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

_ROUND = textwrap.dedent("""
    import json, os, sys, time
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication
    from stagelens.models.default import ModelChoice
    from stagelens.settings import AppSettings
    from stagelens.ui.main_window import MainWindow

    app = QApplication([])
    text, mmproj, delay, question = sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4]
    settings = AppSettings(beam=2, max_stage_tokens=int(os.environ["SOAK_STAGE_TOKENS"]), n_ctx=8192)
    window = MainWindow(settings=settings, model=ModelChoice("soak", text, mmproj, "test"), save_settings_file=False)

    def wait(cond):
        while not cond():
            app.processEvents()
            time.sleep(0.001)

    wait(lambda: window.model_ready or window.banner.isVisible())
    rows = window.history.list_conversations()
    if rows:
        window.open_conversation(rows[0].id)
    started = []
    window.live_updated.connect(lambda kind, stage: started or started.append(time.monotonic()))
    window.ask(question)
    wait(lambda: started)
    QTimer.singleShot(int(delay * 1000), lambda: os.kill(os.getpid(), 9))
    wait(lambda: window.running is None)
    print(json.dumps({"finished_before_the_kill": True}), flush=True)
    wait(lambda: not window.session.store_waiting)
    os.kill(os.getpid(), 9)
""")


def _check(history: Path) -> dict:
    db = sqlite3.connect(history / "history.sqlite3")
    try:
        integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
        states = [state for (state,) in db.execute("SELECT state FROM answers ORDER BY id")]
        partial = [
            bool(p) and bool(json.loads(p)["texts"])
            for (p,) in db.execute("SELECT partial FROM answers WHERE state = 'streaming' ORDER BY id")
        ]
        questions = [q for (q,) in db.execute("SELECT question FROM turns ORDER BY position")]
    finally:
        db.close()
    leftovers = [p.name for p in (history / "images").iterdir() if p.name.endswith(".tmp")]
    return {"integrity": integrity, "states": states, "partial": partial, "questions": questions, "tmp": leftovers}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--model", help="text GGUF (default: the tiny test model)")
    parser.add_argument("--mmproj")
    parser.add_argument("--stage-tokens", type=int, default=200)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--finish-every", type=int, default=4, help="every n-th round, the answer finishes first")
    args = parser.parse_args(argv)
    if not args.model:
        from stagelens_dev.testmodels import make_test_model

        files = make_test_model("tiny", Path(tempfile.gettempdir()) / "stagelens-soak-model")
        args.model, args.mmproj = str(files.text), str(files.mmproj)
    rnd = random.Random(args.seed)
    home = Path(tempfile.mkdtemp(prefix="stagelens-soak-"))
    env = {
        **os.environ,
        "STAGELENS_HOME": str(home),
        "QT_QPA_PLATFORM": "offscreen",
        "SOAK_STAGE_TOKENS": str(args.stage_tokens),
    }
    asked: list[str] = []
    killed: list[tuple[str, float]] = []
    finished_first = 0
    problems: list[str] = []
    started = time.monotonic()
    for n in range(args.kills):
        question = f"Question {n + 1}: describe the picture."
        delay = 600.0 if args.finish_every and (n + 1) % args.finish_every == 0 else rnd.uniform(0.05, 2.5)
        result = subprocess.run(
            [sys.executable, "-c", _ROUND, args.model, args.mmproj, str(delay), question],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        asked.append(question)
        if result.returncode != -9:
            problems.append(f"round {n + 1}: exit {result.returncode}: {result.stderr.strip()[-300:]}")
            continue
        if "finished_before_the_kill" in result.stdout:
            finished_first += 1
        else:
            killed.append((question, delay))
        check = _check(home / "data")
        if check["integrity"] != "ok":
            problems.append(f"round {n + 1}: integrity {check['integrity']}")
        if check["questions"] != asked:
            problems.append(f"round {n + 1}: questions {check['questions']} != asked {asked}")
    from stagelens.history import HistoryStore

    HistoryStore(home / "data").close()  # what the next start does: leftovers are cleaned
    final = _check(home / "data")
    streaming = final["states"].count("streaming")
    without_text = [round(d, 2) for (_q, d), has in zip(killed, final["partial"], strict=False) if not has]
    report = {
        "kills": args.kills,
        "killed_mid_answer": len(killed),
        "answered_before_the_kill": finished_first,
        "questions_kept": f"{len(final['questions'])}/{len(asked)}",
        "unfinished_marked": f"{streaming}/{len(killed)}",
        "unfinished_with_partial_text": f"{sum(final['partial'])}/{streaming}",
        "kill_delays_s_of_those_without_text": without_text,
        "kill_delays_s_of_those_with_text": [
            round(d, 2) for (_q, d), has in zip(killed, final["partial"], strict=False) if has
        ],
        "finished_answers_kept": f"{final['states'].count('done')}/{finished_first}",
        "integrity": final["integrity"],
        "temporary_files_left": len(final["tmp"]),
        "problems": problems,
        "wall_s": round(time.monotonic() - started, 1),
        "history": str(home),
    }
    print(json.dumps(report, indent=2))
    return 0 if not problems and streaming == len(killed) else 1


if __name__ == "__main__":
    raise SystemExit(main())
