"""The window's menus and shortcuts; every action runs a window method, guarded."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence, QShortcut
from PySide6.QtWidgets import QMainWindow, QMenu

from stagelens.ui.guard import guarded

Key = QKeySequence | QKeySequence.StandardKey | None
Slot = Callable[[], object]


@dataclass(frozen=True)
class MenuHandlers:
    new_chat: Slot
    pick_images: Slot
    export: Slot
    settings: Slot
    models: Slot
    quit: Slot
    paste: Slot
    stop: Slot
    reasoning_expanded: Callable[[bool], object]


@dataclass
class WindowActions:
    new: QAction
    export: QAction
    expanded: QAction
    stop_shortcut: QShortcut


def build_menus(window: QMainWindow, on: MenuHandlers, reasoning_expanded: bool) -> WindowActions:
    file_menu = window.menuBar().addMenu("&File")
    new = _action(window, file_menu, "&New chat", QKeySequence.StandardKey.New, on.new_chat)
    _action(window, file_menu, "&Add images…", QKeySequence.StandardKey.Open, on.pick_images)
    export = _action(window, file_menu, "&Export conversation…", QKeySequence("Ctrl+E"), on.export)
    file_menu.addSeparator()
    _action(window, file_menu, "&Settings…", QKeySequence("Ctrl+,"), on.settings)
    _action(window, file_menu, "&Models…", None, on.models)
    file_menu.addSeparator()
    _action(window, file_menu, "&Quit", QKeySequence.StandardKey.Quit, on.quit)
    edit_menu = window.menuBar().addMenu("&Edit")
    paste = _action(window, edit_menu, "&Paste images", QKeySequence.StandardKey.Paste, on.paste)
    paste.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
    _action(window, edit_menu, "&Stop answering", None, on.stop)
    view_menu = window.menuBar().addMenu("&View")
    expanded = _action(
        window,
        view_menu,
        "Show &reasoning expanded",
        None,
        on.reasoning_expanded,
        checkable=True,
        checked=reasoning_expanded,
    )
    stop_shortcut = QShortcut(QKeySequence(Qt.Key.Key_Escape), window)
    stop_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
    stop_shortcut.activated.connect(on.stop)
    return WindowActions(new, export, expanded, stop_shortcut)


def _action(
    window: QMainWindow,
    menu: QMenu,
    text: str,
    key: Key,
    slot: Callable[..., object],
    checkable: bool = False,
    checked: bool = False,
) -> QAction:
    action = QAction(text, window)
    if key is not None:
        action.setShortcut(QKeySequence(key))
    action.setCheckable(checkable)
    action.setChecked(checked)
    if checkable:  # the slot gets the new check state, never a flip of what it remembers
        action.triggered.connect(guarded(lambda *_: slot(action.isChecked())))
    else:
        action.triggered.connect(guarded(lambda *_: slot()))
    menu.addAction(action)
    window.addAction(action)
    return action
