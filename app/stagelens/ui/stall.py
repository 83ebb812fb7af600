"""Benchmark: how long the window's event loop stalls while an answer is produced.

A 5 ms QTimer ticks during the answer; the longest gap between ticks is the worst time the
window could not react. Run: `python -m stagelens.ui.stall [--preset bench]` (offscreen).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def measure_stall(preset: str = "bench", beam: int = 4, max_stage_tokens: int = 48, tick_ms: int = 5,
                  n_threads: int = 0, timeout_s: float = 600.0) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    import stagelens.ui  # noqa: F401 - applies the PySide reference-count workaround
    from stagelens.history import HistoryStore
    from stagelens.models.default import ModelChoice
    from stagelens.models.testmodel import make_test_model
    from stagelens.paths import test_models_dir
    from stagelens.resources import sample_images
    from stagelens.settings_store import AppSettings
    from stagelens.ui.main_window import MainWindow

    _app = QApplication.instance() or QApplication([])  # kept alive for the whole measurement
    files = make_test_model(preset, test_models_dir())
    model = ModelChoice(f"{preset} test model", files.text, files.mmproj, "test")
    settings = AppSettings(beam=beam, max_stage_tokens=max_stage_tokens, n_ctx=4096, n_threads=n_threads)
    with tempfile.TemporaryDirectory(prefix="stagelens-stall-") as tmp:
        window = MainWindow(history=HistoryStore(Path(tmp)), settings=settings, model=model, save_settings_file=False)
        window.show()
        loop = QEventLoop()
        window.model_loaded.connect(loop.quit)
        window.engine.worker.load_failed.connect(loop.quit)
        QTimer.singleShot(int(timeout_s * 1000), loop.quit)
        loop.exec()
        if not window.model_ready:
            raise RuntimeError(f"the {preset} model did not load: {window.banner_text.text()}")

        ticks: list[float] = []
        timer = QTimer()
        timer.setInterval(tick_ms)
        timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
        window.answer_finished.connect(loop.quit)
        window.add_image_paths([sample_images()[0]])
        timer.start()
        started = time.perf_counter()
        window.ask("Describe the picture.")
        loop.exec()
        ended = time.perf_counter()
        timer.stop()
        turn = window.conversation.turns[-1]
        trace = turn.answer.trace if turn.answer else None
        window.close()
    points = [started, *ticks, ended]
    gaps = [(b - a) * 1000 for a, b in zip(points, points[1:], strict=False)]
    return {
        "preset": preset,
        "beam": beam,
        "max_stage_tokens": max_stage_tokens,
        "tick_ms": tick_ms,
        "answer_s": round(ended - started, 2),
        "ticks": len(ticks),
        "max_gap_ms": round(max(gaps), 1),
        "p99_gap_ms": round(sorted(gaps)[int(len(gaps) * 0.99)], 1),
        "median_gap_ms": round(statistics.median(gaps), 1),
        "decode_tokens": trace.stats.decode_tokens if trace else None,
        "error": turn.answer.error if turn.answer else "no answer",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stagelens.ui.stall", description=__doc__)
    parser.add_argument("--preset", choices=("tiny", "bench"), default="bench")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--max-stage-tokens", type=int, default=48)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = measure_stall(args.preset, args.beam, args.max_stage_tokens, n_threads=args.threads)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"event-loop stall while answering ({result['preset']}, beam {result['beam']}, "
              f"{result['max_stage_tokens']} tokens/stage, {result['answer_s']} s, {result['ticks']} ticks of "
              f"{result['tick_ms']} ms): max {result['max_gap_ms']} ms, p99 {result['p99_gap_ms']} ms, "
              f"median {result['median_gap_ms']} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
