"""Starting the window (`stagelens` with no subcommand) and `stagelens --self-test`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from stagelens.settings import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NO_DISPLAY, EXIT_OK, STAGE_NAMES

SELF_TEST_TIMEOUT_S = 120.0
SELF_TEST_QUESTION = "What shapes are in this picture?"


def _has_display() -> bool:
    """Whether Qt can open a window. Qt aborts the process (no exception) when DISPLAY names
    an X server that is gone, so on X11/Wayland systems the server's socket is tried first."""
    if os.environ.get("QT_QPA_PLATFORM"):
        return True
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return _wayland_reachable(os.environ.get("WAYLAND_DISPLAY", "")) or _x11_reachable(
            os.environ.get("DISPLAY", "")
        )
    return True  # Windows and macOS always have a window server


def _wayland_reachable(name: str) -> bool:
    if not name:
        return False
    path = Path(name) if os.path.isabs(name) else Path(os.environ.get("XDG_RUNTIME_DIR", "/nonexistent")) / name
    return path.is_socket()


def _x11_reachable(display: str) -> bool:
    """DISPLAY is [host]:number[.screen]; a local server listens on /tmp/.X11-unix/X<number>
    (also in the abstract namespace), a remote or forwarded one on TCP port 6000 + number."""
    import socket

    host, _, rest = display.rpartition(":")
    number = rest.split(".", 1)[0]
    if not number.isdigit():
        return False
    try:
        if host in ("", "unix"):
            for address in (f"\0/tmp/.X11-unix/X{number}", f"/tmp/.X11-unix/X{number}"):
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                    sock.settimeout(1.0)
                    try:
                        sock.connect(address)
                        return True
                    except OSError:
                        continue
            return False
        with socket.create_connection((host, 6000 + int(number)), timeout=1.0):
            return True
    except OSError:
        return False


def run_app(args: argparse.Namespace) -> int:
    self_test = bool(getattr(args, "self_test", False))
    if self_test:
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    elif not _has_display():
        print(
            "stagelens: error: no display found (DISPLAY / WAYLAND_DISPLAY is unset or its server does not "
            "answer; run a subcommand, or QT_QPA_PLATFORM=offscreen to run the window without one)",
            file=sys.stderr,
        )
        return EXIT_NO_DISPLAY
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        import qasync
        from PySide6.QtWidgets import QApplication
    except ImportError as exc:
        print(f"stagelens: error: the window needs PySide6 and qasync ({exc})", file=sys.stderr)
        return EXIT_FAILED

    app = QApplication.instance() or QApplication(sys.argv[:1])
    _setup_application(app)
    runner = asyncio.Runner(loop_factory=lambda: qasync.QEventLoop(app))
    try:
        with runner:
            return runner.run(_self_test(app) if self_test else _main(app))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _setup_application(app) -> None:
    from PySide6.QtGui import QIcon

    from stagelens.resources import resources_dir
    from stagelens.ui.theme import follow_system, stylesheet

    app.setApplicationName("StageLens")
    app.setApplicationDisplayName("StageLens")
    app.setOrganizationName("StageLens")
    app.setDesktopFileName("stagelens")
    try:
        icon = resources_dir() / "icons" / "stagelens.svg"
        if icon.is_file():
            app.setWindowIcon(QIcon(str(icon)))
    except FileNotFoundError:
        pass
    app.setStyleSheet(stylesheet(app.palette()))
    # follow the system when it switches between light and dark while running
    hints = app.styleHints()
    if hasattr(hints, "colorSchemeChanged"):
        hints.colorSchemeChanged.connect(lambda *_: follow_system(app))


async def _main(app) -> int:
    from PySide6.QtCore import QTimer

    from stagelens.ui.main_window import MainWindow

    closed = asyncio.Event()
    app.aboutToQuit.connect(closed.set)
    app.lastWindowClosed.connect(closed.set)
    try:
        window = MainWindow()
    except Exception as exc:  # MainWindow stops its engine thread before this is raised
        logging.getLogger(__name__).exception("the window could not start")
        print(f"stagelens: error: the window could not start: {exc}", file=sys.stderr)
        return EXIT_FAILED
    window.show()
    # Ctrl+C in the terminal closes the window; the timer lets Python see the signal while Qt idles
    signal.signal(signal.SIGINT, lambda *_: window.close())
    wake = QTimer()
    wake.start(250)
    wake.timeout.connect(lambda: None)
    await closed.wait()
    return EXIT_OK


async def _wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        await asyncio.sleep(0.02)


async def _self_test(app) -> int:
    from stagelens.history import HistoryStore
    from stagelens.resources import sample_images
    from stagelens.settings import AppSettings
    from stagelens.ui.guard import last_errors
    from stagelens.ui.main_window import MainWindow

    started = time.monotonic()
    errors_before = len(last_errors())
    with tempfile.TemporaryDirectory(prefix="stagelens-selftest-") as tmp:
        settings = replace(AppSettings(), beam=2, max_stage_tokens=16, n_ctx=4096)
        window = MainWindow(history=HistoryStore(Path(tmp)), settings=settings, save_settings_file=False)
        window.show()
        try:
            result = await _run_self_test(window, sample_images())
        except Exception as exc:
            result = f"FAILED: {exc}"
        finally:
            window.close()
    swallowed = last_errors()[errors_before:]
    if swallowed and result.startswith("ok"):
        # a slot raised: the window carried on, but the program has a bug
        result = f"FAILED: {len(swallowed)} error(s) were caught in the window, the first: {swallowed[0]}"
    ok = result.startswith("ok")
    print(f"stagelens self-test: {result} ({time.monotonic() - started:.1f} s)", file=sys.stdout if ok else sys.stderr)
    return EXIT_OK if ok else EXIT_FAILED


async def _run_self_test(window, samples) -> str:
    budget = SELF_TEST_TIMEOUT_S
    await _wait_for(lambda: window.model_ready or window.banner.isVisible(), budget, "the model to load")
    if not window.model_ready:
        return "FAILED: " + window.banner_text.text().replace("<br>", " ").replace("<b>", "").replace("</b>", "")
    if not samples:
        return "FAILED: no sample image found in the resources folder"
    window.add_image_paths([samples[0]])
    await _wait_for(lambda: not window.strip.loading(), budget, "the sample image to be read")
    if not window.strip.valid_images():
        return f"FAILED: the sample image {samples[0].name} was refused"
    window.ask(SELF_TEST_QUESTION)
    if not window.conversation.turns:
        return "FAILED: the question was not sent"
    turn = window.conversation.turns[-1]
    await _wait_for(lambda: window.running is None, budget, "the answer")
    answer = turn.answer
    if answer is None or answer.trace is None:
        return f"FAILED: the engine reported: {answer.error if answer else 'no answer'}"
    card = window._card_for(turn)
    card.panel.set_expanded(True)
    stages = card.panel.stage_names()
    expected = list(STAGE_NAMES[:-1])  # every stage but the conclusion
    if stages != expected:
        return f"FAILED: the Reasoning panel holds {stages}, expected {', '.join(expected)}"
    conclusion = answer.trace.stage("conclusion")
    if conclusion is None or not conclusion.complete:
        return "FAILED: the answer has no finished conclusion"
    if not card.conclusion.text():
        return "FAILED: the conclusion is not shown"
    model = window.model.name if window.model else "?"
    return (
        f"ok — 3 stages + conclusion ({len(answer.trace.conclusion)} chars) from {model} on {window.backend}, "
        f"{answer.trace.stats.tokens_per_s:.0f} tok/s"
    )
