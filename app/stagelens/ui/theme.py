"""The window's look: light or dark (following the system, or forced by the `theme` setting),
every colour derived from the palette, every size from ui/typescale.py.

The Markdown views are not styled by the stylesheet (a stylesheet on a text view blackens the
table cells of its document); they take their colours from `markdown_colors`.
"""

from __future__ import annotations

from PySide6.QtGui import QColor, QFont, QGuiApplication, QPalette

from stagelens.ui.typescale import RADIUS, SPACE, points

_ORIGINAL: dict[str, QPalette] = {}  # the system's palette, kept while a theme is forced

LIGHT = {
    "window": "#f6f6f4",
    "text": "#1f2328",
    "base": "#ffffff",
    "button": "#eeeeec",
    "highlight": "#2f6fde",
    "highlighted_text": "#ffffff",
    "placeholder": "#8a8f95",
    "disabled": "#a0a4a8",
}
DARK = {
    "window": "#1f2023",
    "text": "#e6e7e9",
    "base": "#27282c",
    "button": "#2e3034",
    "highlight": "#7aa7f5",
    "highlighted_text": "#15161a",
    "placeholder": "#8d9197",
    "disabled": "#6c7076",
}

FORCED = {"light": LIGHT, "dark": DARK}  # the `theme` setting's choices other than "system"


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """The colour `t` of the way from a to b."""
    return QColor(_mix(a, b, t))


def _mix(a: QColor, b: QColor, t: float) -> str:
    return QColor(
        round(a.red() * (1 - t) + b.red() * t),
        round(a.green() * (1 - t) + b.green() * t),
        round(a.blue() * (1 - t) + b.blue() * t),
    ).name()


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def palette_for(colors: dict[str, str]) -> QPalette:
    """A whole palette from a few colours (the forced light and dark themes)."""
    c = {k: QColor(v) for k, v in colors.items()}
    palette = QPalette()
    roles = QPalette.ColorRole
    for role, color in (
        (roles.Window, c["window"]),
        (roles.WindowText, c["text"]),
        (roles.Base, c["base"]),
        (roles.AlternateBase, mix(c["base"], c["text"], 0.04)),
        (roles.Text, c["text"]),
        (roles.Button, c["button"]),
        (roles.ButtonText, c["text"]),
        (roles.BrightText, QColor("#ffffff")),
        (roles.Highlight, c["highlight"]),
        (roles.HighlightedText, c["highlighted_text"]),
        (roles.PlaceholderText, c["placeholder"]),
        (roles.ToolTipBase, c["base"]),
        (roles.ToolTipText, c["text"]),
        (roles.Link, c["highlight"]),
        (roles.Light, mix(c["button"], QColor("#ffffff"), 0.3)),
        (roles.Midlight, mix(c["button"], QColor("#ffffff"), 0.15)),
        (roles.Mid, mix(c["button"], c["text"], 0.3)),
        (roles.Dark, mix(c["button"], c["text"], 0.5)),
        (roles.Shadow, QColor("#000000")),
    ):
        palette.setColor(role, color)
    for role in (roles.WindowText, roles.Text, roles.ButtonText):
        palette.setColor(QPalette.ColorGroup.Disabled, role, c["disabled"])
    palette.setColor(QPalette.ColorGroup.Disabled, roles.Button, mix(c["button"], c["window"], 0.5))
    return palette


def apply_theme(app: QGuiApplication, theme: str) -> None:
    """system: the platform's palette (and its light/dark changes); light, dark: forced."""
    forced = FORCED.get(theme)
    if forced is not None:
        _ORIGINAL.setdefault("system", QPalette(app.palette()))
        app.setPalette(palette_for(forced))
    elif "system" in _ORIGINAL:  # back from a forced theme
        app.setPalette(_ORIGINAL.pop("system"))
    app.setStyleSheet(stylesheet(app.palette()))  # type: ignore[attr-defined]


def follow_system(app: QGuiApplication) -> None:
    """The system switched between light and dark: restyle, unless a theme is forced."""
    if "system" not in _ORIGINAL:
        app.setStyleSheet(stylesheet(app.palette()))  # type: ignore[attr-defined]


def stylesheet(palette: QPalette | None = None) -> str:
    palette = palette or QGuiApplication.palette()
    base = palette.color(QPalette.ColorRole.Base)
    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    accent = palette.color(QPalette.ColorRole.Highlight)
    on_accent = palette.color(QPalette.ColorRole.HighlightedText)
    dark = is_dark(palette)
    bubble = _mix(base, accent, 0.22 if dark else 0.10)
    panel = _mix(window, text, 0.045 if dark else 0.035)
    sidebar = _mix(window, text, 0.03 if dark else 0.025)
    hover = _mix(window, text, 0.09)
    muted = _mix(text, window, 0.42)
    border = _mix(window, text, 0.16)
    strong_border = _mix(window, text, 0.28)
    error = "#ff8a80" if dark else "#b3261e"
    stop = "#e57373" if dark else "#c62828"
    size = QGuiApplication.font().pointSizeF() if QGuiApplication.instance() else 10.0
    size = size if size > 0 else 10.0
    caption, title, display = points(size, "caption"), points(size, "title"), points(size, "display")
    r_s, r_m, r_l = RADIUS["small"], RADIUS["medium"], RADIUS["large"]
    return f"""
#sidebar {{ background: {sidebar}; border-right: 1px solid {border}; }}
#sidebar QListWidget {{ background: transparent; border: none; outline: none; }}
#sidebar QListWidget::item {{ padding: {SPACE[1] + 2}px {SPACE[2]}px; border-radius: {r_s}px; }}
#sidebar QListWidget::item:selected {{ background: {_mix(QColor(sidebar), accent, 0.22)}; color: {text.name()}; }}
#sidebar QListWidget::item:hover:!selected {{ background: {hover}; }}
#sidebar QLineEdit {{ border: 1px solid {border}; border-radius: {r_s}px; padding: {SPACE[1]}px {SPACE[2]}px;
                     background: {base.name()}; }}
#newChat {{ border: 1px solid {border}; border-radius: {r_s}px; padding: {SPACE[1] + 2}px {SPACE[2]}px;
           background: {base.name()}; font-weight: 600; }}
#newChat:hover {{ border-color: {accent.name()}; }}
#modelButton {{ font-weight: 600; padding: {SPACE[1]}px {SPACE[4] + 2}px {SPACE[1]}px {SPACE[2]}px;
               border-radius: {r_s}px; }}
#modelButton:hover {{ background: {hover}; }}
#modelButton::menu-indicator {{ subcontrol-position: right center; subcontrol-origin: padding; right: 2px; }}
#modelDetails, #presetExplanation, #elapsed {{ color: {muted}; font-size: {caption}pt; }}
#questionBubble {{ background: {bubble}; border-radius: {r_l}px; }}
#reasoningPanel {{ background: {panel}; border: 1px solid {border}; border-radius: {r_m}px; }}
#reasoningHeader {{ color: {muted}; font-weight: 600; border: none; padding: {SPACE[1] // 2}px; }}
#stageTitle {{ font-weight: 600; color: {_mix(text, window, 0.1)}; }}
#answerAction {{ color: {muted}; border: none; border-radius: {r_s}px; padding: {SPACE[1] // 2}px {SPACE[1] + 2}px; }}
#answerAction:hover {{ background: {hover}; color: {text.name()}; }}
#answerAction:checked {{ background: {_mix(window, accent, 0.18)}; color: {text.name()}; }}
#answerAction::menu-button {{ border: none; width: 14px; }}
#questionAction {{ color: {muted}; border: none; border-radius: {r_s}px; padding: 2px; }}
#questionAction:hover {{ background: {hover}; }}
#codeCopy {{ color: {muted}; border: none; border-radius: {r_s}px; padding: 0 {SPACE[1]}px;
            font-size: {caption}pt; }}
#codeCopy:hover {{ background: {_mix(window, text, 0.14)}; color: {text.name()}; }}
#answerStatus[kind="error"] {{ color: {error}; }}
#answerStatus[kind="stopped"] {{ color: {muted}; font-style: italic; }}
#answerStatus[kind="note"] {{ color: {muted}; }}
#stageNote {{ color: {muted}; font-style: italic; }}
#versionLabel, #hint {{ color: {muted}; }}
#versionLabel {{ font-size: {caption}pt; padding: 0 {SPACE[1]}px; }}
#errorText, #thumbErrorText {{ color: {error}; }}
#presetButton {{ border: 1px solid {border}; padding: 2px {SPACE[2] + 2}px; background: {base.name()}; }}
#presetButton[position="first"] {{ border-top-left-radius: {r_m}px; border-bottom-left-radius: {r_m}px; }}
#presetButton[position="last"] {{ border-top-right-radius: {r_m}px; border-bottom-right-radius: {r_m}px; }}
#presetButton:hover {{ background: {hover}; }}
#presetButton:checked {{ background: {accent.name()}; color: {on_accent.name()}; border-color: {accent.name()}; }}
#questionEdit {{ border: 1px solid {strong_border}; border-radius: {r_m}px; padding: {SPACE[1]}px {SPACE[2]}px;
                background: {base.name()}; }}
#questionEdit:focus {{ border: 1px solid {accent.name()}; }}
#addImages {{ border: 1px solid {strong_border}; border-radius: {r_m}px; background: {base.name()}; }}
#addImages:hover {{ border-color: {accent.name()}; }}
#sendButton {{ background: {accent.name()}; color: {on_accent.name()}; border: none; border-radius: {r_m}px;
              font-weight: 600; padding: 0 {SPACE[3]}px; }}
#sendButton:disabled {{ background: {_mix(window, text, 0.12)}; color: {muted}; }}
#sendButton[stop="true"] {{ background: {stop}; color: white; }}
#thumb {{ border: 1px solid {border}; border-radius: {r_m - 2}px; background: {base.name()}; }}
#thumbError {{ border: 2px solid {error}; border-radius: {r_m - 2}px; background: {base.name()}; }}
#thumbPending {{ border: 1px dashed {strong_border}; border-radius: {r_m - 2}px; background: {base.name()}; }}
#thumbErrorText {{ font-size: {caption}pt; }}
#thumbRemove {{ border: none; border-radius: 9px; background: {_mix(window, text, 0.55)}; color: {window.name()};
               font-size: {caption}pt; }}
#banner {{ background: {_mix(window, QColor(error), 0.12)}; border: 1px solid {error}; border-radius: {r_m}px; }}
#statusItem {{ border: none; border-left: 1px solid {border}; padding: 0 {SPACE[2]}px; color: {muted}; }}
QStatusBar {{ border-top: 1px solid {border}; }}
#primaryButton {{ background: {accent.name()}; color: {on_accent.name()}; border: none; border-radius: {r_m}px;
                 padding: {SPACE[2]}px {SPACE[4]}px; font-weight: 600; }}
#secondaryButton {{ background: {base.name()}; border: 1px solid {strong_border}; border-radius: {r_m}px;
                   padding: {SPACE[2] - 1}px {SPACE[4]}px; }}
#secondaryButton:hover {{ border-color: {accent.name()}; }}
#emptyTitle {{ font-size: {display}pt; font-weight: 600; }}
#emptyText {{ color: {muted}; }}
#searchTreeTitle {{ font-weight: 600; font-size: {title}pt; }}
#beamInspector QTabWidget::pane {{ border: 1px solid {border}; border-radius: {r_s}px; }}
"""


def markdown_colors(palette: QPalette):
    """The colours Markdown is drawn in (ui/markdown.py), from the palette."""
    from stagelens.ui.markdown import MarkdownColors

    window = palette.color(QPalette.ColorRole.Window)
    text = palette.color(QPalette.ColorRole.WindowText)
    accent = palette.color(QPalette.ColorRole.Highlight)
    dark = is_dark(palette)
    return MarkdownColors(
        code_background=mix(window, text, 0.07 if dark else 0.045),
        code_header=mix(window, text, 0.13 if dark else 0.09),
        muted=mix(text, window, 0.40),
        border=mix(window, text, 0.22),
        link=mix(accent, text, 0.25 if dark else 0.1),
        quote=mix(text, window, 0.30),
    )


def app_font() -> QFont:
    return QGuiApplication.font()
