"""The window's side of keeping the user's data: notices about the history and the settings file
(in the notice banner), writes waiting for a history another program has locked (in the status
bar, tried again every second), and quitting, which waits for them for a while and says where
what could not be saved is kept."""

from __future__ import annotations

import logging
from pathlib import Path

from PySide6.QtCore import QEventLoop, QObject, Qt, QTimer
from PySide6.QtWidgets import QApplication, QLabel, QMessageBox, QStatusBar

from stagelens.history import HistoryStore
from stagelens.session import Session
from stagelens.session.store import StoreNotice
from stagelens.ui.guard import guarded
from stagelens.ui.notice_banner import NoticeBanner

log = logging.getLogger(__name__)

RETRY_MS = 1000
QUIT_WAIT_S = 10.0  # how long quitting waits for a locked history


def open_history() -> tuple[HistoryStore | None, str | None]:
    """The user's history; a damaged or locked one still opens (its notices say what happened).
    None, with why, only when its folder cannot be used at all: nothing is saved then."""
    try:
        return HistoryStore(), None
    except OSError as exc:
        log.error("no history: %s", exc)
        return None, f"The history cannot be opened ({exc.strerror or exc}): nothing is saved this time."


class HistoryWatch(QObject):
    def __init__(
        self,
        session: Session,
        notices: NoticeBanner,
        bar: QStatusBar,
        parent: QObject | None = None,
        shown: dict[str, str | None] | None = None,  # notices to show at once (the settings file's, ...)
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.notices = notices
        self.bar = bar
        self.quit_notice: QMessageBox | None = None  # shown when quitting could not save everything
        self.pending_label = QLabel("", bar)
        self.pending_label.setObjectName("statusItem")
        self.pending_label.setAccessibleName("Changes not saved yet")
        self.pending_label.setVisible(False)
        bar.addPermanentWidget(self.pending_label)
        self.timer = QTimer(self)
        self.timer.setInterval(RETRY_MS)
        self.timer.timeout.connect(guarded(self._retry))
        session.saves_changed.connect(guarded(self._saves_changed))
        session.store_notice.connect(guarded(self.show_store_notice))
        session.save_failed.connect(guarded(lambda message: bar.showMessage(message, 8000)))
        for key, message in (shown or {}).items():
            if message:
                notices.show_notice(key, message)
        if session.store is not None:
            for notice in session.store.notices:
                self.show_store_notice(notice)
        self._sync_timer()

    def show_store_notice(self, notice: StoreNotice) -> None:
        if notice.kind == "available":
            self.notices.remove("locked")
            self.bar.showMessage(notice.message, 6000)
        else:
            self.notices.show_notice(notice.kind, notice.message)
        self._sync_timer()

    def _saves_changed(self, pending: int, reason: str) -> None:
        if pending:
            self.pending_label.setText(f"Not saved yet: {pending} change{'s' if pending > 1 else ''}")
            self.pending_label.setToolTip(f"{reason[:1].upper()}{reason[1:]}; StageLens keeps trying.")
        elif self.pending_label.isVisible():
            self.bar.showMessage("Saved", 3000)
        self.pending_label.setVisible(bool(pending))
        self._sync_timer()

    def _retry(self) -> None:
        self.session.retry_saves()
        self._sync_timer()

    def _sync_timer(self) -> None:
        if self.session.store_waiting:
            if not self.timer.isActive():
                self.timer.start()
        else:
            self.timer.stop()

    def close(self) -> Path | None:
        """Close the session, waiting up to QUIT_WAIT_S for a locked history; when something could
        not be saved, say where it is kept (a message that outlives the window)."""
        self.timer.stop()
        waiting = self.session.store_waiting
        reason = self.session.saves.reason if self.session.saves is not None else ""
        if waiting:
            self.bar.showMessage("Saving before quitting…")
            QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents)
        rescue = self.session.close(
            wait_s=QUIT_WAIT_S if waiting else 0.0,
            tick=lambda: QApplication.processEvents(QEventLoop.ProcessEventsFlag.ExcludeUserInputEvents),
        )
        if rescue is not None:
            box = QMessageBox(QMessageBox.Icon.Warning, "StageLens: not saved", _rescue_text(rescue, reason))
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            box.show()
            self.quit_notice = box
        return rescue


def _rescue_text(rescue: Path, reason: str) -> str:
    why = f" ({reason})" if reason else ""
    return (
        f"The latest changes could not be saved in the history for {QUIT_WAIT_S:.0f} seconds{why}.\n\n"
        f"The conversation, with what was written of its answers, is kept in:\n{rescue}\n\n"
        "Everything saved before is still in the history."
    )
