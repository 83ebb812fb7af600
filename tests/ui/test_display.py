"""Starting the window where no display answers: a one-line message and exit 2, never Qt's abort."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stagelens.ui.app import _has_display, _x11_reachable

APP_DIR = Path(__file__).resolve().parents[2] / "app"


def _free_display_number() -> int:
    for number in range(900, 1000):
        if not Path(f"/tmp/.X11-unix/X{number}").exists():
            return number
    pytest.skip("no free X display number")


def _env(tmp_path: Path, **display: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "DISPLAY", "WAYLAND_DISPLAY")}
    env.update(PYTHONPATH=str(APP_DIR), STAGELENS_HOME=str(tmp_path / "home"), XDG_RUNTIME_DIR=str(tmp_path), **display)
    return env


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland sockets")
def test_a_display_whose_server_is_gone_gets_the_message_not_an_abort(tmp_path):
    env = _env(tmp_path, DISPLAY=f":{_free_display_number()}", WAYLAND_DISPLAY="wayland-gone")
    result = subprocess.run([sys.executable, "-m", "stagelens"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "no display" in result.stderr and result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11/Wayland sockets")
def test_display_probe_finds_a_listening_server(tmp_path, monkeypatch):
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-test")
    assert not _has_display()
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(tmp_path / "wayland-test"))
        server.listen()
        assert _has_display(), "a Wayland socket in XDG_RUNTIME_DIR counts"
    number = _free_display_number()
    assert not _x11_reachable(f":{number}")
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(f"\0/tmp/.X11-unix/X{number}")  # abstract namespace, as Xorg and Xvfb also listen
        server.listen()
        assert _x11_reachable(f":{number}") and _x11_reachable(f":{number}.0")
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        if port > 6000:
            assert _x11_reachable(f"127.0.0.1:{port - 6000}"), "host:N is TCP port 6000+N"
    assert not _x11_reachable("") and not _x11_reachable("garbage")
