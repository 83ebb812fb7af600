"""Styling that follows the system palette (light or dark): colours are derived from it."""

from __future__ import annotations

from PySide6.QtGui import QColor, QGuiApplication, QPalette


def _mix(a: QColor, b: QColor, t: float) -> str:
    return QColor(
        round(a.red() * (1 - t) + b.red() * t),
        round(a.green() * (1 - t) + b.green() * t),
        round(a.blue() * (1 - t) + b.blue() * t),
    ).name()


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def stylesheet(palette: QPalette | None = None) -> str:
    palette = palette or QGuiApplication.palette()
    base = palette.color(QPalette.ColorRole.Base)
    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    accent = palette.color(QPalette.ColorRole.Highlight)
    dark = is_dark(palette)
    bubble = _mix(base, accent, 0.22 if dark else 0.12)
    panel = _mix(window, text, 0.06)
    muted = _mix(text, window, 0.40)
    border = _mix(window, text, 0.18)
    error = "#ff8a80" if dark else "#b3261e"
    stop = "#e57373" if dark else "#c62828"
    return f"""
#questionBubble {{ background: {bubble}; border-radius: 12px; }}
#reasoningPanel {{ background: {panel}; border: 1px solid {border}; border-radius: 8px; }}
#reasoningHeader {{ color: {muted}; font-weight: 600; border: none; padding: 2px; }}
#liveTail {{ color: {muted}; font-style: italic; padding: 0 0 2px 18px; }}
#stageTitle {{ font-weight: 600; }}
#stageText {{ color: {_mix(text, window, 0.15)}; }}
#conclusion {{ font-size: 15pt; padding: 2px 4px; }}
#answerStatus[kind="error"] {{ color: {error}; }}
#answerStatus[kind="stopped"] {{ color: {muted}; font-style: italic; }}
#answerStatus[kind="note"] {{ color: {muted}; }}
#stageNote {{ color: {muted}; font-style: italic; }}
#versionLabel, #hint {{ color: {muted}; }}
#errorText, #thumbErrorText {{ color: {error}; }}
#thumb {{ border: 1px solid {border}; border-radius: 6px; background: {base.name()}; }}
#thumbError {{ border: 2px solid {error}; border-radius: 6px; background: {base.name()}; }}
#thumbErrorText {{ font-size: 8pt; }}
#thumbRemove {{ border: none; border-radius: 9px; background: {_mix(window, text, 0.55)}; color: {window.name()};
               font-size: 8pt; }}
#sendButton[stop="true"] {{ background: {stop}; color: white; border-radius: 6px; }}
#banner {{ background: {_mix(window, QColor(error), 0.15)}; border: 1px solid {error}; border-radius: 8px; }}
#statusItem {{ border: none; border-left: 1px solid {border}; padding: 0 8px; }}
#emptyTitle {{ font-size: 20pt; font-weight: 600; }}
#emptyText {{ color: {muted}; }}
#dropOverlay {{ background: {_mix(window, accent, 0.25)}; border: 3px dashed {accent.name()}; border-radius: 16px;
               font-size: 16pt; }}
"""
