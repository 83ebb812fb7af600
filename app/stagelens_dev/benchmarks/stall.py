"""Benchmark: how long the window's event loop stalls while an answer is produced.

The window runs on the same qasync event loop as the app. A 5 ms precise QTimer and a 5 ms
asyncio sleep loop tick during the answer; the longest gap between ticks is the worst time
the window could not react. Run: `python -m stagelens_dev.benchmarks.stall [--preset bench]` (offscreen).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _gap_stats(started: float, ticks: list[float], ended: float) -> dict:
    points = [started, *ticks, ended]
    gaps = sorted((b - a) * 1000 for a, b in zip(points, points[1:], strict=False))
    return {
        "ticks": len(ticks),
        "max_gap_ms": round(gaps[-1], 1),
        "p99_gap_ms": round(gaps[int(len(gaps) * 0.99)], 1),
        "median_gap_ms": round(statistics.median(gaps), 1),
    }


async def _signalled(signals, timeout_s: float) -> None:
    done = asyncio.get_running_loop().create_future()

    def finish(*_args) -> None:
        if not done.done():
            done.set_result(None)

    for signal in signals:
        signal.connect(finish)
    await asyncio.wait_for(done, timeout_s)


async def _measure(window, tick_ms: int, timeout_s: float) -> dict:
    from PySide6.QtCore import Qt, QTimer

    from stagelens.resources import sample_images

    if not window.model_ready:
        await _signalled([window.model_loaded, window.engine.worker.load_failed], timeout_s)
    if not window.model_ready:
        raise RuntimeError(f"the model did not load: {window.banner_text.text()}")

    qt_ticks: list[float] = []
    timer = QTimer()
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.setInterval(tick_ms)
    timer.timeout.connect(lambda: qt_ticks.append(time.perf_counter()))
    asyncio_ticks: list[float] = []

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(tick_ms / 1000)
            asyncio_ticks.append(time.perf_counter())

    window.add_image_paths([sample_images()[0]])
    finished = asyncio.ensure_future(_signalled([window.answer_finished], timeout_s))
    beat = asyncio.ensure_future(heartbeat())
    timer.start()
    started = time.perf_counter()
    window.ask("Describe the picture.")
    await finished
    ended = time.perf_counter()
    timer.stop()
    beat.cancel()
    turn = window.conversation.turns[-1]
    trace = turn.answer.trace if turn.answer else None
    return {
        "answer_s": round(ended - started, 2),
        **_gap_stats(started, qt_ticks, ended),
        "asyncio": _gap_stats(started, asyncio_ticks, ended),
        "decode_tokens": trace.stats.decode_tokens if trace else None,
        "error": turn.answer.error if turn.answer else "no answer",
    }


def measure_stall(
    preset: str = "bench",
    beam: int = 4,
    max_stage_tokens: int = 48,
    tick_ms: int = 5,
    n_threads: int = 0,
    timeout_s: float = 600.0,
) -> dict:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    import qasync
    from PySide6.QtWidgets import QApplication

    import stagelens.ui  # noqa: F401 - applies the PySide reference-count workaround
    from stagelens.history import HistoryStore
    from stagelens.models.default import ModelChoice
    from stagelens.paths import test_models_dir
    from stagelens.settings import AppSettings
    from stagelens.ui.main_window import MainWindow
    from stagelens_dev.testmodels import make_test_model

    app = QApplication.instance() or QApplication([])
    files = make_test_model(preset, test_models_dir())
    model = ModelChoice(f"{preset} test model", files.text, files.mmproj, "test")
    settings = AppSettings(
        preset="custom", beam=beam, max_stage_tokens=max_stage_tokens, n_ctx=4096, n_threads=n_threads
    )
    with tempfile.TemporaryDirectory(prefix="stagelens-stall-") as tmp:
        window = MainWindow(history=HistoryStore(Path(tmp)), settings=settings, model=model, save_settings_file=False)
        window.show()
        try:
            with asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app)) as runner:
                result = runner.run(_measure(window, tick_ms, timeout_s))
        finally:
            window.close()
    return {"preset": preset, "beam": beam, "max_stage_tokens": max_stage_tokens, "tick_ms": tick_ms, **result}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stagelens_dev.benchmarks.stall", description=__doc__)
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
        aio = result["asyncio"]
        print(
            f"event-loop stall while answering ({result['preset']}, beam {result['beam']}, "
            f"{result['max_stage_tokens']} tokens/stage, {result['answer_s']} s): "
            f"Qt timer max {result['max_gap_ms']} ms, p99 {result['p99_gap_ms']} ms, median "
            f"{result['median_gap_ms']} ms ({result['ticks']} ticks); asyncio max {aio['max_gap_ms']} ms, "
            f"p99 {aio['p99_gap_ms']} ms ({aio['ticks']} ticks)"
        )
    return 0 if not result["error"] else 1


if __name__ == "__main__":
    sys.exit(main())
