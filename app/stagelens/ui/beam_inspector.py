"""The beam inspector of one answer: per stage, every candidate with its score, tokens and
time, the winner marked; selecting a candidate shows its full text."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QPlainTextEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from stagelens.engine import Trace
from stagelens.ui.stage_panel import TITLES, format_duration

COLUMNS = ("Stage / candidate", "Score", "Tokens", "Time", "Ended by", "Text")
SCORE_NAMES = {"logprob": "mean log-prob", "judge": "judge margin", "python": "custom score"}


class BeamInspector(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("beamInspector")
        self.setAccessibleName("Beam inspector")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        self.tree = QTreeWidget(self)
        self.tree.setAccessibleName("Candidates of every stage")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.currentItemChanged.connect(self._show_item)
        layout.addWidget(self.tree)
        self.detail = QPlainTextEdit(self)
        self.detail.setReadOnly(True)
        self.detail.setAccessibleName("Full text of the selected candidate")
        self.detail.setPlaceholderText("Select a candidate to read its full text")
        self.detail.setMaximumHeight(90)
        layout.addWidget(self.detail)

    def show_trace(self, trace: Trace) -> None:
        self.tree.clear()
        scorer = str(trace.settings.get("scorer", "logprob"))
        self.tree.headerItem().setText(1, f"Score ({SCORE_NAMES.get(scorer, scorer)})")
        bold = QFont(self.font())
        bold.setBold(True)
        for stage in trace.stages:
            n = len(stage.candidates)
            winner = next((i for i, c in enumerate(stage.candidates) if c.selected), -1)
            state = f"winner #{winner + 1} of {n}" if winner >= 0 else f"{n} candidates, unfinished"
            top = QTreeWidgetItem([f"{TITLES.get(stage.name, stage.name)} — {state}", "", "", "", "", ""])
            top.setFirstColumnSpanned(True)
            top.setFont(0, bold)
            top.setData(0, Qt.ItemDataRole.UserRole, stage.text)
            self.tree.addTopLevelItem(top)
            for i, cand in enumerate(stage.candidates):
                mark = "★ " if cand.selected else "   "
                score = "—" if cand.score is None else f"{cand.score:+.3f}"
                item = QTreeWidgetItem(
                    [
                        f"{mark}#{i + 1}",
                        score,
                        str(cand.n_tokens),
                        format_duration(cand.wall_s, digits=2),
                        cand.closed_by,
                        " ".join(cand.text.split()),
                    ]
                )
                item.setData(0, Qt.ItemDataRole.UserRole, cand.text)
                item.setToolTip(5, cand.text[:2000])
                for col in (1, 2, 3):
                    item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if cand.selected:
                    for col in range(len(COLUMNS)):
                        item.setFont(col, bold)
                item.setData(
                    1,
                    Qt.ItemDataRole.AccessibleTextRole,
                    f"candidate {i + 1}{', winner' if cand.selected else ''}, score {score}",
                )
                top.addChild(item)
            top.setExpanded(True)
        for col in range(5):
            self.tree.resizeColumnToContents(col)
        rows = sum(1 + len(s.candidates) for s in trace.stages)
        # rows are uniform: the first row's real height, so no blank space is left below the last one
        row_height = self.tree.sizeHintForRow(0)
        if row_height <= 0:
            row_height = self.fontMetrics().height() + 2
        header = self.tree.header().sizeHint().height()
        self.tree.setFixedHeight(min(360, header + rows * row_height + 2 * self.tree.frameWidth()))

    def candidate_rows(self) -> list[tuple[str, int, bool]]:
        """(stage title, candidate count, whether a winner is marked) for each stage shown."""
        rows = []
        for i in range(self.tree.topLevelItemCount()):
            top = self.tree.topLevelItem(i)
            if top is None:
                continue
            children = [top.child(j) for j in range(top.childCount())]
            marked = any(child is not None and child.text(0).startswith("★") for child in children)
            rows.append((top.text(0), top.childCount(), marked))
        return rows

    def _show_item(self, item: QTreeWidgetItem | None, _previous: QTreeWidgetItem | None) -> None:
        self.detail.setPlainText(str(item.data(0, Qt.ItemDataRole.UserRole) or "") if item else "")
