"""The open conversation, one AnswerCard per turn, kept in step with the session: a turn asked,
an answer streaming or finished, another version chosen, another conversation opened."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget

from stagelens.engine import StageEvent
from stagelens.images import ChatImage
from stagelens.session import Answer, Conversation, Session, Turn
from stagelens.ui.answer_view import AnswerCard
from stagelens.ui.bridge import ImageEvents
from stagelens.ui.guard import guarded
from stagelens.ui.typescale import SPACE

FOLLOW_SLACK_PX = 24  # this close to the end counts as at the end


class ConversationView(QScrollArea):
    reasoning_toggled = Signal(bool)  # the user opened or closed a Reasoning panel

    def __init__(self, session: Session, images: ImageEvents, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.images = images
        self.reasoning_expanded = session.settings.reasoning_expanded
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAccessibleName("Conversation")
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.thread_widget = QWidget(self)
        self.thread_layout = QVBoxLayout(self.thread_widget)
        self.thread_layout.setContentsMargins(SPACE[1], SPACE[1], SPACE[3], SPACE[1])
        self.thread_layout.setSpacing(SPACE[2])
        self.thread_layout.addStretch(1)
        self.setWidget(self.thread_widget)
        self.verticalScrollBar().rangeChanged.connect(self._follow_bottom)
        self.verticalScrollBar().valueChanged.connect(self._remember_position)
        self._at_bottom = True  # the user has not scrolled up from the end
        self.cards: list[AnswerCard] = []

        session.conversation_opened.connect(guarded(self.show_conversation))
        session.turn_added.connect(guarded(self._add_card))
        session.answer_started.connect(guarded(self._started))
        session.answer_updated.connect(guarded(self._on_update))
        session.answer_finished.connect(guarded(self._on_finished))
        session.version_selected.connect(guarded(lambda turn: self._refresh_card(turn)))
        session.branch_shown.connect(guarded(self.show_conversation))
        images.finished.connect(guarded(self._image_loaded))

    def show_conversation(self, conversation: Conversation) -> None:
        for card in self.cards:
            card.setParent(None)
            card.deleteLater()
        self.cards = []
        for turn in conversation.turns:
            self._add_card(turn, refresh=False)
        self.refresh()

    def card_for(self, turn: Turn) -> AnswerCard | None:
        return next((c for c in self.cards if c.turn is turn), None)

    def set_reasoning_expanded(self, expanded: bool) -> None:
        """How a finished answer's Reasoning panel starts, from now on."""
        self.reasoning_expanded = expanded
        for card in self.cards:
            card.reasoning_expanded = expanded

    def refresh(self) -> None:
        conversation = self.session.conversation
        turns = conversation.turns
        last = turns[-1] if turns else None
        idle = self.session.running is None
        for card in self.cards:
            card.regenerate_allowed = card.turn is last and idle
            card.bubble.set_editable(idle and self.session.model_ready)
            if card.turn in turns:
                card.bubble.show_branches(
                    conversation.branch_index(card.turn), len(conversation.siblings(card.turn)), not idle
                )
            card.refresh()

    def _started(self, _turn: Turn, _answer: Answer) -> None:
        self._at_bottom = True  # a question just sent: show its answer coming
        self.refresh()

    def _add_card(self, turn: Turn, refresh: bool = True) -> None:
        card = AnswerCard(turn, self.reasoning_expanded, self.thread_widget)
        card.regenerate_clicked.connect(guarded(self.session.regenerate))
        card.edit_requested.connect(guarded(self._edit))
        card.branch_requested.connect(guarded(self._step_branch))
        card.version_requested.connect(guarded(self.session.select_version))
        card.reasoning_toggled.connect(self.reasoning_toggled)
        self.thread_layout.insertWidget(self.thread_layout.count() - 1, card)
        self.cards.append(card)
        for thumb in card.thumbs:
            if thumb.placeholder:  # watched after the thumbnail is made: one done in between is still seen
                self.images.watch(thumb.image)
        if refresh:
            self.refresh()

    def _edit(self, turn: Turn, question: str) -> None:
        self.session.edit(turn, question)

    def _step_branch(self, turn: Turn, step: int) -> None:
        conversation = self.session.conversation
        self.session.choose_branch(turn, conversation.branch_index(turn) + step)

    def _refresh_card(self, turn: Turn) -> None:
        card = self.card_for(turn)
        if card is not None:
            card.refresh()

    def _on_update(self, turn: Turn, _answer: Answer, _event: StageEvent) -> None:
        card = self.card_for(turn)
        if card is not None:
            card.update_live()

    def _on_finished(self, turn: Turn, _answer: Answer, _save_error: str | None) -> None:
        self._refresh_card(turn)
        self.refresh()
        if self._at_bottom:  # the finished answer's actions appear below it: keep its end in view
            QTimer.singleShot(0, self, self._to_end)

    def _to_end(self) -> None:
        bar = self.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _image_loaded(self, image: ChatImage) -> None:
        for card in self.cards:
            if any(i is image for i in card.turn.images):
                card.image_loaded(image)

    def _remember_position(self, value: int) -> None:
        self._at_bottom = value >= self.verticalScrollBar().maximum() - FOLLOW_SLACK_PX

    def _follow_bottom(self, _low: int, high: int) -> None:
        """While an answer is written the view follows its end, unless the user scrolled up to
        read: then it stays exactly where they are."""
        if self.session.running is not None and self._at_bottom:
            self.verticalScrollBar().setValue(high)
