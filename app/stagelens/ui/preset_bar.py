"""The answer presets above the question: Fast, Balanced, Thorough, Custom — one click each, with
the chosen one's one-line explanation and every preset's thinking time relative to Fast on the
current model (measured on its answers as they come; stagelens.session.timing says how)."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QButtonGroup, QHBoxLayout, QLabel, QToolButton, QWidget

from stagelens.session import Session
from stagelens.settings import PRESETS, preset
from stagelens.ui.guard import guarded
from stagelens.ui.typescale import SPACE


class PresetBar(QWidget):
    preset_chosen = Signal(str)

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setObjectName("presetBar")
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(0)
        caption = QLabel("Answer:", self)
        caption.setObjectName("hint")
        row.addWidget(caption)
        row.addSpacing(SPACE[2])
        self.group = QButtonGroup(self)
        self.group.setExclusive(True)
        self.buttons: dict[str, QToolButton] = {}
        for i, p in enumerate(PRESETS):
            button = QToolButton(self)
            button.setObjectName("presetButton")
            button.setProperty("position", "first" if i == 0 else "last" if i == len(PRESETS) - 1 else "middle")
            button.setText(p.label)
            button.setCheckable(True)
            button.setAccessibleName(f"{p.label} answers")
            button.clicked.connect(guarded(lambda _=False, name=p.name: self._clicked(name)))
            self.group.addButton(button)
            self.buttons[p.name] = button
            row.addWidget(button)
        row.addSpacing(SPACE[3])
        self.explanation = QLabel(self)
        self.explanation.setObjectName("presetExplanation")
        self.explanation.setAccessibleName("About the chosen preset")
        self.explanation.setMinimumWidth(1)
        self.explanation.setWordWrap(True)  # a narrow window shows it on two lines, not cut off
        row.addWidget(self.explanation, 1)
        session.model_loaded.connect(guarded(lambda _loaded: self.refresh()))
        session.answer_finished.connect(guarded(lambda *_: self.refresh()))
        self.refresh()

    def _clicked(self, name: str) -> None:
        if name != self.session.settings.preset:
            self.preset_chosen.emit(name)
        self.refresh()

    def refresh(self) -> None:
        """Show the settings' preset, and each preset's estimate on the current model."""
        chosen = self.session.settings.preset
        for p in PRESETS:
            estimate = self.session.estimate(p.name)
            button = self.buttons[p.name]
            button.setChecked(p.name == chosen)
            against = "" if p.name == "fast" else f" · {estimate.explain()}"
            button.setToolTip(f"{p.explanation}{against}")
        current = preset(chosen)
        estimate = self.session.estimate(chosen)
        timing = "quickest" if chosen == "fast" else f"{estimate.describe()} Fast"
        self.explanation.setText(f"{timing}  ·  {current.explanation}")
        self.explanation.setToolTip(estimate.explain())
