"""Benchmark: seconds from launching the packaged app to its window being on screen.

    python -m stagelens_dev.benchmarks.startup build/pyinstaller/dist/stagelens/stagelens [--runs 5]

Runs the app on a private Xvfb display, polls with xdotool until a visible window named
StageLens exists, then closes it. Prints the first (cold) run and the median of the rest.
Needs the Debian packages xvfb and xdotool.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def time_to_window(exe: Path, display: str, home: Path, timeout: float = 60.0) -> float:
    env = {**os.environ, "DISPLAY": display, "STAGELENS_HOME": str(home)}
    env.pop("QT_QPA_PLATFORM", None)
    started = time.perf_counter()
    proc = subprocess.Popen([str(exe)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while time.perf_counter() - started < timeout:
            found = subprocess.run(
                ["xdotool", "search", "--onlyvisible", "--name", "StageLens"], env=env, capture_output=True, text=True
            )
            if found.stdout.strip():
                return time.perf_counter() - started
            if proc.poll() is not None:
                raise SystemExit(f"the app exited with code {proc.returncode} before showing a window")
            time.sleep(0.02)
        raise SystemExit(f"no window after {timeout} s")
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stagelens_dev.benchmarks.startup",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("exe", type=Path)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    display = ":97"
    xvfb = subprocess.Popen(
        ["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        with tempfile.TemporaryDirectory() as home:
            runs = [time_to_window(args.exe, display, Path(home)) for _ in range(args.runs)]
    finally:
        xvfb.terminate()
    warm = runs[1:] or runs
    print(
        f"first run (cold): {runs[0]:.2f} s; median of {len(warm)} warm runs: {statistics.median(warm):.2f} s; "
        f"all: {', '.join(f'{r:.2f}' for r in runs)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
