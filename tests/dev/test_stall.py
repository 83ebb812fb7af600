"""The event-loop stall benchmark runs end to end (its numbers are reported, never asserted)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

APP_DIR = Path(__file__).resolve().parents[2] / "app"


def test_stall_benchmark_runs_under_the_apps_event_loop(tmp_path):
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "STAGELENS_HOME": str(tmp_path), "PYTHONPATH": str(APP_DIR)}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "stagelens_dev.benchmarks.stall",
            "--preset",
            "tiny",
            "--beam",
            "2",
            "--max-stage-tokens",
            "48",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["error"] is None and result["decode_tokens"] > 0
    assert result["ticks"] > 0 and result["asyncio"]["ticks"] > 0, "both heartbeats ran while answering"
    assert result["max_gap_ms"] >= result["median_gap_ms"] > 0
