"""A read-only Markdown view sized to its text: the conclusion and each stage are one each.

- Safe: see ui/markdown.py (nothing is loaded, no HTML runs); a clicked link is copied, never
  opened, and the view says so.
- Streaming: `set_markdown(text, live=True)` re-renders the whole text in one step on the GUI
  thread (no intermediate empty state is ever painted, and the height only changes when the text
  does), once for all the updates that arrive together. Long texts render less often: the next
  render waits RENDER_BACKOFF times as long as the last one took, so a huge answer cannot stall
  the window.
- Code blocks have a Copy button; `markdown` is the source, `plain_text()` what it reads as.
"""

from __future__ import annotations

import math
import time

from PySide6.QtCore import QEvent, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QFont,
    QGuiApplication,
    QPalette,
    QResizeEvent,
    QTextCharFormat,
    QTextCursor,
    QTextOption,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QSizePolicy, QTextBrowser, QToolButton, QToolTip, QWidget

from stagelens.ui.icons import set_icon
from stagelens.ui.markdown import CodeBlock, MarkdownColors, SafeDocument, render
from stagelens.ui.theme import markdown_colors
from stagelens.ui.typescale import SPACE, TYPE, points

RENDER_BACKOFF = 3.0  # a live render waits this many times the last render's duration
COPIED_MS = 1500


class MarkdownView(QTextBrowser):
    link_copied = Signal(str)  # a link was clicked: its address is on the clipboard

    def __init__(self, parent: QWidget | None = None, name: str = "Text", role: str = "body") -> None:
        super().__init__(parent)
        self.markdown = ""
        self.code_blocks: list[CodeBlock] = []
        self.copy_buttons: list[QToolButton] = []
        self.renders = 0  # how many times the text was rendered (tests: no needless re-renders)
        self._rendered: tuple[str, str] | None = None  # (text, palette key) last rendered
        self._last_render_s = 0.0
        self._last_render_at = 0.0
        self._hfw: tuple[int, int, int] = (-1, -1, 0)  # (width, render count, height)
        self.setObjectName("markdown")
        self.setProperty("role", role)
        self.setAccessibleName(name)
        self.setDocument(SafeDocument(self))
        self.document().setDocumentMargin(1)
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setReadOnly(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setTextInteractionFlags(
            Qt.TextInteractionFlag.TextSelectableByMouse
            | Qt.TextInteractionFlag.TextSelectableByKeyboard
            | Qt.TextInteractionFlag.LinksAccessibleByMouse
        )
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)
        self.setMinimumWidth(1)  # one long unbreakable word must not widen the conversation
        self.viewport().setAutoFillBackground(False)
        transparent = self.palette()
        transparent.setColor(QPalette.ColorRole.Base, Qt.GlobalColor.transparent)  # not by stylesheet: that
        self.setPalette(transparent)  # blackens table cell backgrounds in the document
        self.anchorClicked.connect(self._copy_link)
        self.highlighted.connect(self._hover_link)
        self._pending = QTimer(self)
        self._pending.setSingleShot(True)
        self._pending.timeout.connect(self._render_now)

    # ---------------------------------------------------------------- text
    def set_markdown(self, text: str, live: bool = False) -> None:
        """Show `text`; while `live`, renders may be spaced out (see RENDER_BACKOFF)."""
        self.markdown = text
        if not live:
            self._pending.stop()
            self._render_now()
            return
        if self._pending.isActive() or (self.markdown, self._palette_key()) == self._rendered:
            return  # the render already scheduled will show the newest text
        # never at once: the events that arrive together (every candidate's text, each flush) are one render
        wait_s = self._last_render_s * RENDER_BACKOFF - (time.perf_counter() - self._last_render_at)
        self._pending.start(max(0, math.ceil(wait_s * 1000)))

    def flush(self) -> None:
        """Render a scheduled text now."""
        if self._pending.isActive():
            self._pending.stop()
            self._render_now()

    def text(self) -> str:
        """The Markdown shown (as QLabel.text() gives a label's text)."""
        return self.markdown

    def plain_text(self) -> str:
        self.flush()
        return self.document().toPlainText()

    def _render_now(self) -> None:
        key = (self.markdown, self._palette_key())
        if key == self._rendered:
            return
        started = time.perf_counter()
        colors = self._colors()
        self.code_blocks = render(self.document(), self.markdown, colors, self._role_font())
        if self.property("role") == "tail":  # what is being written now: quieter than what is done
            tone = QTextCharFormat()
            tone.setFontItalic(True)
            tone.setForeground(colors.muted)
            cursor = QTextCursor(self.document())
            cursor.select(QTextCursor.SelectionType.Document)
            cursor.mergeCharFormat(tone)
        self._rendered = key
        self.renders += 1
        self._last_render_at = time.perf_counter()
        self._last_render_s = self._last_render_at - started
        self.updateGeometry()
        self._fit_height()
        self._place_copy_buttons()

    def _role_font(self) -> QFont:
        font = QFont(self.font())
        role = str(self.property("role") or "body")
        if role in TYPE and font.pointSizeF() > 0:
            font.setPointSizeF(points(font.pointSizeF(), role))
        return font

    def _colors(self) -> MarkdownColors:
        return markdown_colors(self.palette())

    def _palette_key(self) -> str:
        p = self.palette()
        return p.color(QPalette.ColorRole.Window).name() + p.color(QPalette.ColorRole.WindowText).name()

    # --------------------------------------------------------------- sizing
    def hasHeightForWidth(self) -> bool:  # noqa: N802 - Qt override
        return True

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt override
        cached_width, cached_renders, cached = self._hfw
        if (cached_width, cached_renders) == (width, self.renders):
            return cached
        document = self.document()
        previous = document.textWidth()
        frame = 2 * self.frameWidth()
        document.setTextWidth(max(1, width - frame))
        height = math.ceil(document.size().height()) + frame
        document.setTextWidth(previous)
        self._hfw = (width, self.renders, height)
        return height

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        width = max(self.width(), 200)
        return QSize(width, self.heightForWidth(width))

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(1, self.heightForWidth(max(self.width(), 1)))

    def _fit_height(self) -> None:
        height = self.heightForWidth(self.width())
        if self.minimumHeight() != height or self.maximumHeight() != height:
            self.setFixedHeight(height)
            # the layouts above cache their children's heights for a width: make them ask again
            parent = self.parentWidget()
            while parent is not None and not parent.isWindow():
                parent.updateGeometry()
                parent = parent.parentWidget()

    def resizeEvent(self, event: QResizeEvent) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit_height()
        self._place_copy_buttons()

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 - Qt override
        super().changeEvent(event)
        changes = (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange)
        if event.type() in changes and self._rendered is not None:
            self._rendered = None  # colours and sizes come from the palette and the font
            self._render_now()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        event.ignore()  # nothing to scroll here: the conversation scrolls

    # ---------------------------------------------------------- code blocks
    def _place_copy_buttons(self) -> None:
        while len(self.copy_buttons) < len(self.code_blocks):
            button = QToolButton(self.viewport())
            button.setObjectName("codeCopy")
            button.setAutoRaise(True)
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            set_icon(button, "copy")
            button.setFont(QGuiApplication.font())  # the window's font, not the text's
            index = len(self.copy_buttons)
            button.clicked.connect(lambda _=False, i=index: self.copy_code(i))
            self.copy_buttons.append(button)
        layout = self.document().documentLayout()
        for i, button in enumerate(self.copy_buttons):
            if i >= len(self.code_blocks):
                button.hide()
                continue
            block = self.code_blocks[i]
            button.setText("Copy")
            button.setAccessibleName(f"Copy {block.language} code" if block.language else "Copy code")
            button.setToolTip("Copy this code to the clipboard")
            button.adjustSize()
            # block rects are the cells' content boxes: the code cell's is as wide as the column
            label = layout.blockBoundingRect(block.table.cellAt(0, 0).firstCursorPosition().block())
            code = layout.blockBoundingRect(block.table.cellAt(1, 0).firstCursorPosition().block())
            button.setFixedHeight(max(16, int(label.height()) + 2 * SPACE[1]))
            x = int(code.right()) - button.width() + SPACE[1]
            y = int(label.center().y() - button.height() / 2)  # on the line of the language label
            button.move(max(0, x), max(0, y))
            button.show()

    def copy_code(self, index: int) -> None:
        self.flush()
        if not 0 <= index < len(self.code_blocks):
            return
        QGuiApplication.clipboard().setText(self.code_blocks[index].text)
        button = self.copy_buttons[index]
        button.setText("Copied")
        button.adjustSize()
        QTimer.singleShot(COPIED_MS, self, self._place_copy_buttons)

    # ---------------------------------------------------------------- links
    def _copy_link(self, url: QUrl) -> None:
        address = url.toString()
        QGuiApplication.clipboard().setText(address)
        QToolTip.showText(self.mapToGlobal(self.rect().center()), f"Link copied: {address}", self)
        self.link_copied.emit(address)

    def _hover_link(self, url: QUrl) -> None:
        if not url.isEmpty():
            QToolTip.showText(
                self.cursor().pos(), f"{url.toString()}\n(click to copy the address; StageLens opens no links)", self
            )
