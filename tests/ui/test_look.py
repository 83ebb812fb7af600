"""The window's look: one spacing scale, one icon set, light and dark (following the system, or
forced by a setting), and the drop overlay over the whole window while images are dragged."""

from __future__ import annotations

import warnings
from dataclasses import replace

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, QPoint, Qt, QUrl  # noqa: E402
from PySide6.QtGui import QDragEnterEvent, QDragLeaveEvent, QPalette  # noqa: E402
from PySide6.QtWidgets import QAbstractButton, QApplication, QLayout, QToolButton, QWidget  # noqa: E402
from tests.fixtures.qt_drop import drop  # noqa: E402
from tests.fixtures.qt_window import ask, shot, wait_images  # noqa: E402
from tests.fixtures.traces import judged_trace, markdown_trace  # noqa: E402

from stagelens.ui.icons import SHAPES  # noqa: E402
from stagelens.ui.theme import apply_theme, is_dark  # noqa: E402
from stagelens.ui.typescale import SPACE  # noqa: E402


def layouts(root: QWidget) -> list[QLayout]:
    found = [w.layout() for w in [root, *root.findChildren(QWidget)] if w.layout() is not None]
    nested: list[QLayout] = []
    while found:
        layout = found.pop()
        nested.append(layout)
        found += [layout.itemAt(i).layout() for i in range(layout.count()) if layout.itemAt(i).layout()]
    return nested


def off_scale(window: QWidget) -> list[str]:
    """Layouts of our own widgets whose margins or spacing are not on the spacing scale."""
    allowed = {*SPACE, SPACE[1] // 2, SPACE[2] - 2, SPACE[4] + 2, -1}
    wrong = []
    for layout in layouts(window):
        owner = layout.parentWidget()
        if (
            owner is None
            or not type(owner).__module__.startswith("stagelens")
            or layout.metaObject().className() == "QMainWindowLayout"
        ):
            continue  # Qt's own widgets (dialog button boxes, scroll areas) keep their style's spacing
        m = layout.contentsMargins()
        values = {m.left(), m.top(), m.right(), m.bottom(), layout.spacing()}
        if not values <= allowed:
            wrong.append(f"{type(owner).__name__}.{owner.objectName()}: {sorted(values - allowed)}")
    return wrong


def test_one_spacing_scale_and_one_icon_set(make_scripted, qtbot):
    window, _runner = make_scripted([judged_trace()], reasoning_expanded=True)
    _turn, card = ask(qtbot, window)
    qtbot.mouseClick(card.inspector_button, Qt.MouseButton.LeftButton)
    assert not off_scale(window), off_scale(window)
    buttons = [b for b in window.findChildren(QAbstractButton) if b.isVisible() and isinstance(b, QToolButton)]
    named = [b.property("iconName") for b in buttons if b.property("iconName")]
    assert set(named) <= set(SHAPES) and len(named) >= 10, "the window's tool buttons draw from one icon set"
    for button in (card.copy_button, card.regenerate_button, card.inspector_button, window.question.add_button):
        assert not button.icon().isNull(), button.accessibleName()


def test_a_forced_theme_and_back_to_the_system(make_scripted, qtbot):
    app = QApplication.instance()
    system = QPalette(app.palette())
    window, _runner = make_scripted([markdown_trace()], reasoning_expanded=True)
    _turn, card = ask(qtbot, window)
    light_icon = card.copy_button.icon().pixmap(16, 16).toImage()
    try:
        window.apply_settings(replace(window.settings, theme="dark"))
        assert is_dark(app.palette()) and is_dark(card.conclusion.palette())
        code = card.conclusion.code_blocks[0].table.cellAt(1, 0).format().background().color()
        assert code.lightness() < 80, "the code box follows the dark palette"
        dark_icon = card.copy_button.icon().pixmap(16, 16).toImage()
        assert dark_icon != light_icon, "the icons are drawn again in the dark palette's colours"
        window.resize(1000, 720)
        shot(window, "17-dark")
        window.apply_settings(replace(window.settings, theme="light"))
        assert not is_dark(app.palette())
        assert app.palette().color(QPalette.ColorRole.Window) != system.color(QPalette.ColorRole.Window)
        shot(window, "17b-light")
        window.apply_settings(replace(window.settings, theme="system"))
        assert app.palette().color(QPalette.ColorRole.Window) == system.color(QPalette.ColorRole.Window)
    finally:
        apply_theme(app, "system")


def test_the_drop_overlay_covers_the_whole_window(make_scripted, qtbot, scene_path):
    window, _runner = make_scripted([markdown_trace()])
    ask(qtbot, window)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(scene_path))])
    with warnings.catch_warnings():  # PySide marks the only QDragEnterEvent constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(
            QPoint(40, 40), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
        )
    QApplication.sendEvent(window, enter)
    overlay = window.drop_overlay
    assert enter.isAccepted() and overlay.isVisible()
    assert overlay.geometry() == window.rect(), "menus, sidebar and status bar included"
    assert _under(window, overlay)
    shot(window, "18-drop-overlay")
    QApplication.sendEvent(window, QDragLeaveEvent())
    assert not overlay.isVisible()
    drop(window, mime)
    wait_images(qtbot, window)
    assert not overlay.isVisible() and [i.name for i in window.strip.images] == ["scene.png"]


def _under(window: QWidget, overlay: QWidget) -> bool:
    """The overlay is the last child painted (on top of everything else in the window)."""
    widgets = [c for c in window.children() if isinstance(c, QWidget) and c.isVisible()]
    return widgets[-1] is overlay
