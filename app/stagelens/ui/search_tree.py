"""The search of one answer drawn as a tree: the stages left to right, each stage's candidates
with their scores, the judge's knockout as a bracket with each comparison's margin, and the path
that won in the accent colour. Every candidate grows from the winner of the stage before (that
is how stage-level beam search works); in best-of-N, candidate i of every stage is whole answer i,
so each grows from its own answer's stage before, and each answer's score ends its row. Branches a
retrace discarded are drawn greyed and dashed below the tree, labelled with the score that sent the
search back. Zoomable; a node shows its text on hover and its full text when clicked; the drawing
exports as PNG or SVG."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetrics,
    QImage,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QWheelEvent,
)
from PySide6.QtWidgets import (
    QGraphicsItem,
    QGraphicsPathItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSceneMouseEvent,
    QGraphicsView,
    QWidget,
)

from stagelens.engine import Trace
from stagelens.engine.trace import Candidate, Retrace, Stage, score_legend
from stagelens.session.conversation import STAGE_TITLES
from stagelens.ui.markdown import plain_text
from stagelens.ui.theme import is_dark, mix

NODE_W, NODE_H = 200.0, 58.0
NODE_GAP = 14.0
ROUND_W = 46.0  # width of one round of a bracket
COLUMN_GAP = 56.0
TOP = 34.0  # room for the stage titles
ROOT_W = 120.0
TIP_CHARS = 700
ZOOM_STEP = 1.2
ZOOM_RANGE = (0.2, 4.0)
FIT_MIN = 0.7


@dataclass(frozen=True)
class TreeColors:
    background: QColor
    node: QColor
    node_border: QColor
    winner: QColor
    winner_border: QColor
    text: QColor
    muted: QColor
    edge: QColor
    path: QColor

    @classmethod
    def of(cls, palette: QPalette) -> TreeColors:
        window = palette.color(QPalette.ColorRole.Base)
        text = palette.color(QPalette.ColorRole.Text)
        accent = palette.color(QPalette.ColorRole.Highlight)
        return cls(
            background=window,
            node=mix(window, text, 0.05 if is_dark(palette) else 0.03),
            node_border=mix(window, text, 0.25),
            winner=mix(window, accent, 0.22),
            winner_border=accent,
            text=text,
            muted=mix(text, window, 0.42),
            edge=mix(window, text, 0.30),
            path=accent,
        )


class CandidateNode(QGraphicsRectItem):
    """One candidate: "#n", its score, the start of its text; hover: its text; click: chosen."""

    def __init__(
        self, view: SearchTreeView, stage: Stage, index: int, colors: TreeColors, font: QFont, retired: bool = False
    ) -> None:
        super().__init__(0, 0, NODE_W, NODE_H)
        self.stage, self.index, self.retired = stage, index, retired
        self.candidate: Candidate = stage.candidates[index]
        self._view = view
        winner = self.candidate.selected and not retired
        self.setBrush(QBrush(colors.background if retired else colors.winner if winner else colors.node))
        pen = QPen(colors.winner_border if winner else colors.node_border, 2.0 if winner else 1.0)
        if retired:
            pen.setStyle(Qt.PenStyle.DashLine)
        self.setPen(pen)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setAcceptHoverEvents(True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        score = "—" if self.candidate.score is None else f"{self.candidate.score:+.3f}"
        gone = " · discarded by a retrace" if retired else ""
        self.setToolTip(
            f"{STAGE_TITLES.get(stage.name, stage.name)} #{index + 1}{' · the winner' if winner else ''}{gone}\n"
            f"score {score} · {self.candidate.n_tokens} tokens\n\n{_tip(self.candidate.text)}"
        )
        bold = QFont(font)
        bold.setBold(True)
        kept = "  ★" if winner else "  (was best)" if self.candidate.selected else ""
        head = view.scene().addSimpleText(f"#{index + 1}{kept}", bold)
        head.setBrush(colors.muted if retired else colors.text)
        head.setParentItem(self)
        head.setPos(8, 6)
        score_item = view.scene().addSimpleText(score, font)
        score_item.setBrush(colors.text if winner else colors.muted)
        score_item.setParentItem(self)
        score_item.setPos(NODE_W - 8 - QFontMetrics(font).horizontalAdvance(score), 6)
        first = " ".join(plain_text(self.candidate.text).split()) or "(empty)"
        line = QFontMetrics(font).elidedText(first, Qt.TextElideMode.ElideRight, int(NODE_W - 16))
        snippet = view.scene().addSimpleText(line, font)
        snippet.setBrush(colors.muted if not winner else colors.text)
        snippet.setParentItem(self)
        snippet.setPos(8, NODE_H / 2 + 2)

    def mousePressEvent(self, event: QGraphicsSceneMouseEvent) -> None:  # noqa: N802 - Qt override
        super().mousePressEvent(event)
        self._view.node_clicked.emit(self.stage.name, self.index, self.candidate.text)


def _tip(text: str) -> str:
    text = text.strip() or "(empty)"
    return text if len(text) <= TIP_CHARS else text[:TIP_CHARS].rstrip() + "…"


@dataclass
class Layout:
    """Where each node went (for the edges, the brackets and the tests)."""

    nodes: dict[tuple[str, int], CandidateNode] = field(default_factory=dict)
    outlets: dict[str, QPointF] = field(default_factory=dict)  # where a stage's winner leaves it
    margins: list[tuple[str, int, int, float]] = field(default_factory=list)  # (stage, a, b, margin) drawn
    path: list[tuple[str, int]] = field(default_factory=list)  # the winning path: (stage, candidate)
    columns: dict[str, float] = field(default_factory=dict)  # each stage's x
    retraced: list[list[CandidateNode]] = field(default_factory=list)  # per retrace, the discarded nodes
    answer_labels: list[str] = field(default_factory=list)  # best-of-N: each answer's score, as drawn


class SearchTreeView(QGraphicsView):
    node_clicked = Signal(str, int, str)  # stage, candidate, its full text

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("searchTree")
        self.setAccessibleName("Search tree")
        self.viewport().setAccessibleName("Search tree drawing")
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.layout_: Layout = Layout()
        self.trace: Trace | None = None

    # ---------------------------------------------------------------- build
    def show_trace(self, trace: Trace) -> None:
        self.trace = trace
        scene = self.scene()
        scene.clear()
        colors = TreeColors.of(self.palette())
        scene.setBackgroundBrush(colors.background)
        font = QFont(self.font())
        layout = Layout()
        tallest = max((len(s.candidates) for s in trace.stages), default=1)
        height = tallest * NODE_H + (tallest - 1) * NODE_GAP
        middle = TOP + height / 2
        root = self._root(trace, colors, font, middle)
        outlet = QPointF(root.right(), middle)
        x = ROOT_W + COLUMN_GAP
        scorer = str(trace.settings.get("scorer", "logprob"))
        previous: Stage | None = None
        for stage in trace.stages:
            n = len(stage.candidates)
            top = TOP + (height - (n * NODE_H + (n - 1) * NODE_GAP)) / 2
            title = scene.addSimpleText(STAGE_TITLES.get(stage.name, stage.name), _bold(font))
            title.setBrush(colors.text)
            title.setPos(x, 6)
            layout.columns[stage.name] = x
            for i in range(n):
                node = CandidateNode(self, stage, i, colors, font)
                scene.addItem(node)
                node.setPos(x, top + i * (NODE_H + NODE_GAP))
                layout.nodes[(stage.name, i)] = node
                winner = stage.candidates[i].selected
                own = layout.nodes.get((previous.name, i)) if trace.answers and previous is not None else None
                start = QPointF(own.pos().x() + NODE_W, own.pos().y() + NODE_H / 2) if own is not None else outlet
                self._edge(start, QPointF(x, node.pos().y() + NODE_H / 2), colors, winner)
                if winner:
                    layout.path.append((stage.name, i))
            previous = stage
            width = NODE_W
            if stage.bracket:
                end, rounds = self._bracket(stage, x + NODE_W, layout, colors, font)
                width += rounds * ROUND_W + 8
                outlet = end
            else:
                chosen = next((i for i, c in enumerate(stage.candidates) if c.selected), -1)
                winner_node = layout.nodes.get((stage.name, chosen))
                y = winner_node.pos().y() + NODE_H / 2 if winner_node is not None else middle
                outlet = QPointF(x + NODE_W, y)
            layout.outlets[stage.name] = outlet
            if not stage.complete:
                note = scene.addSimpleText("stopped here", font)
                note.setBrush(colors.muted)
                note.setPos(x, TOP + height + 8)
            x += width + COLUMN_GAP
        if trace.answers and previous is not None:
            self._answer_scores(trace, previous, x - COLUMN_GAP + 8, layout, colors, font)
        below = TOP + height + 28
        for k, retrace in enumerate(trace.retraces):
            below = self._retrace_band(k, retrace, below, layout, colors, font)
        what = (
            "★ the answer kept (best-of-N: each row is one whole answer)"
            if trace.answers
            else "★ the winner of its stage"
        )
        legend = scene.addSimpleText(
            f"Scores: {score_legend(trace.settings, bool(trace.answers))}  ·  {what}  ·  the thick line is the path "
            "that won"
            + ("  ·  Δ: the judge's margin" if scorer == "judge" and not trace.answers else "")
            + ("  ·  dashed: discarded by a retrace" if trace.retraces else ""),
            font,
        )
        legend.setBrush(colors.muted)
        legend.setPos(0, below)
        self.layout_ = layout
        scene.setSceneRect(scene.itemsBoundingRect().adjusted(-12, -8, 12, 8))
        self.fit()

    def _root(self, trace: Trace, colors: TreeColors, font: QFont, middle: float) -> QRectF:
        rect = QRectF(0, middle - NODE_H / 2, ROOT_W, NODE_H)
        box = self.scene().addRect(rect, QPen(colors.winner_border, 2.0), QBrush(colors.winner))
        images = len(trace.images)
        label = "Question" + (f"\n+ {images} image{'s' if images != 1 else ''}" if images else "")
        text = self.scene().addSimpleText(label, _bold(font))
        text.setBrush(colors.text)
        text.setPos(10, middle - text.boundingRect().height() / 2)
        box.setToolTip(_tip(trace.question))
        return rect

    def _answer_scores(
        self, trace: Trace, last: Stage, x: float, layout: Layout, colors: TreeColors, font: QFont
    ) -> None:
        """Best-of-N: each whole answer's score at the end of its row."""
        for answer in trace.answers:
            node = layout.nodes.get((last.name, answer.index))
            if node is None:
                continue
            score = "—" if answer.score is None else f"{answer.score:+.3f}"
            text = f"answer {score}{'  ★' if answer.selected else ''}"
            label = self.scene().addSimpleText(text, _bold(font) if answer.selected else font)
            label.setBrush(colors.text if answer.selected else colors.muted)
            label.setPos(x, node.pos().y() + NODE_H / 2 - label.boundingRect().height() / 2)
            layout.answer_labels.append(text)

    def _retrace_band(
        self, k: int, retrace: Retrace, y: float, layout: Layout, colors: TreeColors, font: QFont
    ) -> float:
        """The two stages retrace k discarded, greyed, under their columns; returns the next free y."""
        best = "—" if retrace.best is None else f"{retrace.best:+.2f}"
        threshold = "—" if retrace.threshold is None else f"{retrace.threshold:+.2f}"
        label = self.scene().addSimpleText(
            f"Retrace {k + 1}\n{STAGE_TITLES.get(retrace.stage, retrace.stage)}'s best {best}\n"
            f"under {threshold}: {STAGE_TITLES.get(retrace.resampled, retrace.resampled)}\nsampled again",
            font,
        )
        label.setBrush(colors.muted)
        label.setPos(0, y)
        nodes: list[CandidateNode] = []
        tallest = 1
        outlet: QPointF | None = None
        for stage in retrace.discarded:
            x = layout.columns.get(stage.name)
            if x is None:
                continue
            tallest = max(tallest, len(stage.candidates))
            for i in range(len(stage.candidates)):
                node = CandidateNode(self, stage, i, colors, font, retired=True)
                self.scene().addItem(node)
                node.setPos(x, y + i * (NODE_H + NODE_GAP))
                nodes.append(node)
                if outlet is not None:
                    self._edge(outlet, QPointF(x, node.pos().y() + NODE_H / 2), colors, False)
            chosen = next((i for i, c in enumerate(stage.candidates) if c.selected), 0)
            outlet = QPointF(x + NODE_W, y + chosen * (NODE_H + NODE_GAP) + NODE_H / 2)
        layout.retraced.append(nodes)
        return y + max(tallest * (NODE_H + NODE_GAP), label.boundingRect().height()) + NODE_GAP

    def _edge(self, start: QPointF, end: QPointF, colors: TreeColors, on_path: bool) -> None:
        path = QPainterPath(start)
        bend = (end.x() - start.x()) / 2
        path.cubicTo(QPointF(start.x() + bend, start.y()), QPointF(end.x() - bend, end.y()), end)
        item = QGraphicsPathItem(path)
        item.setPen(QPen(colors.path if on_path else colors.edge, 3.0 if on_path else 1.2))
        item.setZValue(-1 if not on_path else -0.5)
        self.scene().addItem(item)

    def _bracket(
        self, stage: Stage, left: float, layout: Layout, colors: TreeColors, font: QFont
    ) -> tuple[QPointF, int]:
        """Draw the knockout; returns where its champion leaves and how many rounds it had."""
        slots = {i: layout.nodes[(stage.name, i)].pos().y() + NODE_H / 2 for i in range(len(stage.candidates))}
        reach = dict.fromkeys(slots, left)  # how far right each candidate's line has got
        rounds = max(p.round for p in stage.bracket) + 1
        small = QFont(font)
        small.setPointSizeF(max(6.0, font.pointSizeF() * 0.85))
        winner_of_stage = next((i for i, c in enumerate(stage.candidates) if c.selected), -1)
        for pairing in sorted(stage.bracket, key=lambda p: (p.round, min(p.a, p.b))):
            x = left + (pairing.round + 1) * ROUND_W
            ya, yb = slots[pairing.a], slots[pairing.b]
            won = pairing.winner
            for who, y in ((pairing.a, ya), (pairing.b, yb)):
                on_path = who == won == winner_of_stage
                self._line(QPointF(reach[who], y), QPointF(x, y), colors, on_path)
            self._line(QPointF(x, ya), QPointF(x, yb), colors, False)
            junction = (ya + yb) / 2
            if won == winner_of_stage:  # the path that won runs up (or down) the bracket to the junction
                self._line(QPointF(x, slots[won]), QPointF(x, junction), colors, True)
            label = self.scene().addSimpleText(f"Δ {abs(pairing.margin):.2f}", small)
            label.setBrush(colors.text)
            label.setPos(x - label.boundingRect().width() - 3, junction - label.boundingRect().height() - 1)
            label.setToolTip(
                f"#{pairing.a + 1} vs #{pairing.b + 1}: #{won + 1} won by a margin of {abs(pairing.margin):.3f}\n"
                "(log-probability of the judge answering for the winner minus for the other)"
            )
            layout.margins.append((stage.name, pairing.a, pairing.b, pairing.margin))
            slots[won], reach[won] = junction, x
        end = left + rounds * ROUND_W + 8
        champion = winner_of_stage if winner_of_stage >= 0 else max(reach, key=lambda k: reach[k])
        self._line(QPointF(reach[champion], slots[champion]), QPointF(end, slots[champion]), colors, True)
        return QPointF(end, slots[champion]), rounds

    def _line(self, a: QPointF, b: QPointF, colors: TreeColors, on_path: bool) -> None:
        pen = QPen(colors.path if on_path else colors.edge, 3.0 if on_path else 1.2)
        self.scene().addLine(a.x(), a.y(), b.x(), b.y(), pen).setZValue(-0.5 if on_path else -1)

    # ----------------------------------------------------------------- zoom
    def zoom(self, factor: float) -> None:
        current = self.transform().m11()
        target = min(max(current * factor, ZOOM_RANGE[0]), ZOOM_RANGE[1])
        self.scale(target / current, target / current)

    def fit(self) -> None:
        """Readable first: the whole height, and the whole width unless that would make the text
        smaller than FIT_MIN (then it scrolls sideways, from the question on the left)."""
        self.resetTransform()
        rect = self.scene().sceneRect()
        view = self.viewport()
        if rect.width() > 0 and rect.height() > 0 and view.width() > 0 and view.height() > 0:
            scale = min(1.0, view.height() / rect.height(), max(FIT_MIN, view.width() / rect.width()))
            self.scale(scale, scale)
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().minimum())

    def scale_now(self) -> float:
        return self.transform().m11()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 - Qt override
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.zoom(ZOOM_STEP if event.angleDelta().y() > 0 else 1 / ZOOM_STEP)
            event.accept()
        else:
            super().wheelEvent(event)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(640, 300)

    # --------------------------------------------------------------- export
    def export_png(self, path: Path, scale: float = 2.0) -> None:
        rect = self.scene().sceneRect()
        image = QImage(int(rect.width() * scale), int(rect.height() * scale), QImage.Format.Format_ARGB32)
        image.fill(self.scene().backgroundBrush().color())
        painter = QPainter(image)
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.scene().render(painter, QRectF(image.rect()), rect)
        painter.end()
        if not image.save(str(path), "PNG"):  # type: ignore[call-overload]  # PySide6 takes str (its stubs say bytes)
            raise OSError(f"{path} could not be written")

    def export_svg(self, path: Path) -> None:
        from PySide6.QtSvg import QSvgGenerator

        rect = self.scene().sceneRect()
        generator = QSvgGenerator()
        generator.setFileName(str(path))
        generator.setSize(QSize(int(rect.width()), int(rect.height())))
        generator.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
        generator.setTitle("StageLens search tree")
        generator.setDescription(self.trace.question if self.trace else "")
        painter = QPainter()
        if not painter.begin(generator):
            raise OSError(f"{path} could not be written")
        self.scene().render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
        painter.end()
        if not path.is_file():
            raise OSError(f"{path} could not be written")


def _bold(font: QFont) -> QFont:
    bold = QFont(font)
    bold.setBold(True)
    return bold
