"""The search inspector of one answer, in two tabs: the search tree (ui/search_tree.py: zoom,
export as PNG or SVG) and the table (per stage, every candidate with its score, tokens, time
and what ended it, the winner marked; best-of-N's whole answers with their scores; each retrace
with the stages it discarded, greyed). A candidate clicked in either shows its full text below."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from stagelens.engine import Trace
from stagelens.engine.trace import Stage, score_legend
from stagelens.ui.answer_actions import tool
from stagelens.ui.search_tree import ZOOM_STEP, SearchTreeView
from stagelens.ui.stage_panel import TITLES, format_duration
from stagelens.ui.typescale import SPACE

COLUMNS = ("Stage / candidate", "Score", "Tokens", "Time", "Ended by", "Text")
TREE_HEIGHT = 330
EXPORT_FILTERS = "PNG image (*.png);;SVG drawing (*.svg)"


class BeamInspector(QFrame):
    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("beamInspector")
        self.setAccessibleName("Search inspector")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, SPACE[1], 0, 0)
        layout.setSpacing(SPACE[1])
        self.tabs = QTabWidget(self)
        self.tabs.setAccessibleName("Search tree or table")
        self.tabs.tabBar().setAccessibleName("Show the search as a tree or a table")
        self.tabs.addTab(self._tree_page(), "Search tree")
        self.tree = self._table()
        self.tabs.addTab(self.tree, "Table")
        layout.addWidget(self.tabs)
        self.detail = QPlainTextEdit(self)
        self.detail.setReadOnly(True)
        self.detail.setAccessibleName("Full text of the selected candidate")
        self.detail.setPlaceholderText("Click a candidate to read its full text")
        self.detail.setMaximumHeight(96)
        layout.addWidget(self.detail)
        self.trace: Trace | None = None

    def _tree_page(self) -> QWidget:
        page = QWidget(self)
        column = QVBoxLayout(page)
        column.setContentsMargins(0, SPACE[1], 0, 0)
        column.setSpacing(SPACE[1])
        bar = QHBoxLayout()
        bar.setContentsMargins(SPACE[1], 0, SPACE[1], 0)
        bar.setSpacing(SPACE[1] // 2)
        self.search_view = SearchTreeView(page)
        self.search_view.setFixedHeight(TREE_HEIGHT)
        self.search_view.node_clicked.connect(lambda _stage, _i, text: self.detail.setPlainText(text))
        self.zoom_in = tool(page, "", "Zoom in", "Zoom in (Ctrl+wheel)", "zoom-in")
        self.zoom_out = tool(page, "", "Zoom out", "Zoom out (Ctrl+wheel)", "zoom-out")
        self.zoom_fit = tool(page, "", "Fit the tree", "Show the whole tree", "fit")
        self.zoom_in.clicked.connect(lambda: self.search_view.zoom(ZOOM_STEP))
        self.zoom_out.clicked.connect(lambda: self.search_view.zoom(1 / ZOOM_STEP))
        self.zoom_fit.clicked.connect(self.search_view.fit)
        self.export_button = tool(page, "Export…", "Export the search tree", "Save the tree as PNG or SVG", "export")
        self.export_button.clicked.connect(self.export_dialog)
        hint = QLabel("Hover a candidate for its text, click it to read it all; drag to move.", page)
        hint.setObjectName("hint")
        for widget in (self.zoom_out, self.zoom_in, self.zoom_fit):
            bar.addWidget(widget)
        bar.addSpacing(SPACE[2])
        bar.addWidget(hint, 1)
        bar.addWidget(self.export_button)
        column.addLayout(bar)
        column.addWidget(self.search_view)
        return page

    def _table(self) -> QTreeWidget:
        table = QTreeWidget(self)
        table.setAccessibleName("Candidates of every stage")
        table.setColumnCount(len(COLUMNS))
        table.setHeaderLabels(list(COLUMNS))
        table.setRootIsDecorated(True)
        table.setUniformRowHeights(True)
        table.setAlternatingRowColors(True)
        table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        table.setTextElideMode(Qt.TextElideMode.ElideRight)
        table.currentItemChanged.connect(self._show_item)
        return table

    # ------------------------------------------------------------------ show
    def show_trace(self, trace: Trace) -> None:
        self.trace = trace
        self.search_view.show_trace(trace)
        self._fill_table(trace)

    def _fill_table(self, trace: Trace) -> None:
        self.tree.clear()
        self.tree.headerItem().setText(1, f"Score ({score_legend(trace.settings, bool(trace.answers))})")
        bold = QFont(self.font())
        bold.setBold(True)
        for stage in trace.stages:
            n = len(stage.candidates)
            winner = next((i for i, c in enumerate(stage.candidates) if c.selected), -1)
            kept = f"answer #{winner + 1} of {n}" if trace.answers else f"winner #{winner + 1} of {n}"
            state = kept if winner >= 0 else f"{n} candidates, unfinished"
            top = self._heading(f"{TITLES.get(stage.name, stage.name)} — {state}", bold, stage.text)
            self.tree.addTopLevelItem(top)
            self._add_candidates(top, stage, bold)
        if trace.answers:
            self._add_answers(trace, bold)
        for col in range(5):  # before the retraces: their long titles span the row, not the first column
            self.tree.resizeColumnToContents(col)
        for k, retrace in enumerate(trace.retraces):
            best = "—" if retrace.best is None else f"{retrace.best:+.3f}"
            threshold = "—" if retrace.threshold is None else f"{retrace.threshold:+.3f}"
            title = (
                f"Retrace {k + 1} — the best {TITLES.get(retrace.stage, retrace.stage)} scored {best}, under "
                f"{threshold}: {TITLES.get(retrace.resampled, retrace.resampled)} was sampled again"
            )
            top = self._heading(title, bold, "")
            self.tree.addTopLevelItem(top)
            top.setFirstColumnSpanned(True)  # spanning takes effect once the item is in the tree
            for stage in retrace.discarded:
                head = self._heading(f"{TITLES.get(stage.name, stage.name)} (discarded)", bold, stage.text)
                top.addChild(head)
                head.setFirstColumnSpanned(True)
                self._add_candidates(head, stage, bold, retired=True)
                head.setExpanded(True)
            top.setToolTip(0, title)
            self._grey(top)
            top.setExpanded(True)
        rows = sum(1 + len(s.candidates) for s in trace.stages) + (1 + len(trace.answers) if trace.answers else 0)
        rows += sum(1 + sum(1 + len(s.candidates) for s in r.discarded) for r in trace.retraces)
        # rows are uniform: the first row's real height, so no blank space is left below the last one
        row_height = self.tree.sizeHintForRow(0)
        if row_height <= 0:
            row_height = self.fontMetrics().height() + 2
        header = self.tree.header().sizeHint().height()
        self.tree.setMinimumHeight(min(TREE_HEIGHT, header + rows * row_height + 2 * self.tree.frameWidth()))

    def _heading(self, title: str, bold: QFont, text: str) -> QTreeWidgetItem:
        top = QTreeWidgetItem([title, "", "", "", "", ""])
        top.setFirstColumnSpanned(True)
        top.setFont(0, bold)
        top.setData(0, Qt.ItemDataRole.UserRole, text)
        return top

    def _grey(self, item: QTreeWidgetItem) -> None:
        muted = self.palette().color(QPalette.ColorGroup.Disabled, QPalette.ColorRole.Text)
        for col in range(len(COLUMNS)):
            item.setForeground(col, muted)
        for i in range(item.childCount()):
            child = item.child(i)
            if child is not None:
                self._grey(child)

    def _add_answers(self, trace: Trace, bold: QFont) -> None:
        """Best-of-N: one row per whole answer (candidate i of every stage), its score, the one kept."""
        kept = next((a.index for a in trace.answers if a.selected), -1)
        state = f"answer #{kept + 1} kept" if kept >= 0 else "unfinished"
        top = self._heading(f"Best of {len(trace.answers)} whole answers — {state}", bold, trace.conclusion)
        self.tree.addTopLevelItem(top)
        top.setFirstColumnSpanned(True)
        for answer in trace.answers:
            score = "—" if answer.score is None else f"{answer.score:+.3f}"
            conclusion = trace.stages[-1].candidates[answer.index].text if trace.stages else ""
            mark = "★ " if answer.selected else "   "
            item = QTreeWidgetItem(
                [f"{mark}answer #{answer.index + 1}", score, str(answer.n_tokens), "", "", conclusion]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, conclusion)
            if answer.selected:
                for col in range(len(COLUMNS)):
                    item.setFont(col, bold)
            top.addChild(item)
        top.setExpanded(True)

    def _add_candidates(self, top: QTreeWidgetItem, stage: Stage, bold: QFont, retired: bool = False) -> None:
        for i, cand in enumerate(stage.candidates):
            mark = "★ " if cand.selected and not retired else "   "
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
            if cand.selected and not retired:
                for col in range(len(COLUMNS)):
                    item.setFont(col, bold)
            item.setData(
                1,
                Qt.ItemDataRole.AccessibleTextRole,
                f"candidate {i + 1}{', winner' if cand.selected else ''}, score {score}",
            )
            top.addChild(item)
        top.setExpanded(True)

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

    # ---------------------------------------------------------------- export
    def export_dialog(self) -> None:
        if self.trace is None:
            return
        path, chosen = QFileDialog.getSaveFileName(self, "Export the search tree", "search-tree.png", EXPORT_FILTERS)
        if not path:
            return
        fmt = (
            "svg" if path.lower().endswith(".svg") or ("SVG" in chosen and not path.lower().endswith(".png")) else "png"
        )
        if not Path(path).suffix:
            path += f".{fmt}"
        try:
            self.export_to(Path(path))
        except OSError as exc:
            QMessageBox.warning(self, "Export failed", str(exc))

    def export_to(self, path: Path) -> None:
        """The search tree as PNG or SVG, by the file's suffix."""
        if path.suffix.lower() == ".svg":
            self.search_view.export_svg(path)
        else:
            self.search_view.export_png(path)
