"""The Settings dialog's Verifier group: the second model the scorer "Verifier" loads beside the answering
model (a reward model, or any GGUF as a judge), its projector, and how it scores."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QComboBox, QFormLayout, QGroupBox, QLabel, QWidget

from stagelens.settings import AppSettings, setting


class VerifierBox(QGroupBox):
    def __init__(self, settings: AppSettings, form_row, file_field, parent: QWidget | None = None) -> None:
        """`form_row(form, label, field)` and `file_field(label, placeholder, parent)`: the dialog's own."""
        super().__init__("Verifier (for the Verifier scorer)", parent)
        form = QFormLayout(self)
        self.text_field = file_field("Verifier model file", "A reward model (VisualPRM, VL-PRM) or any GGUF", self)
        self.mmproj_field = file_field("Verifier projector file", "Its mmproj (empty: it reads the text only)", self)
        self.text_field.edit.setText(settings.verifier_text)
        self.mmproj_field.edit.setText(settings.verifier_projector)
        self.mode = self._choices("verifier_mode", settings.verifier_mode, "Verifier mode")
        self.format = self._choices("verifier_format", settings.verifier_format, "Verifier format")
        hint = QLabel("Loaded beside the model; its cost is counted apart in each answer's details.", self)
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        for label, field in (
            ("Verifier model:", self.text_field),
            ("Its projector:", self.mmproj_field),
            ("Scores:", self.mode),
            ("Prompt format:", self.format),
            ("", hint),
        ):
            form_row(form, label, field)

    def _choices(self, key: str, value: str, name: str) -> QComboBox:
        box = QComboBox(self)
        box.setAccessibleName(name)
        box.setToolTip(setting(key).help)
        s = setting(key)
        for choice in s.choices:
            box.addItem(s.choice_label(choice), choice)
        box.setCurrentIndex(max(0, box.findData(value)))
        return box

    def problem(self, scorer: str) -> str | None:
        """Why the dialog cannot be saved as it is (None: it can)."""
        text, mmproj = self.text_field.edit.text().strip(), self.mmproj_field.edit.text().strip()
        if scorer == "verifier" and not text:
            return "The Verifier scorer needs a verifier model file."
        for label, path in (("verifier model", text), ("verifier projector", mmproj)):
            if path and not Path(path).is_file():
                return f"The {label} file {path} does not exist."
        if mmproj and not text:
            return "Choose the verifier model of that projector too."
        return None

    def values(self) -> dict[str, str]:
        return {
            "verifier_text": self.text_field.edit.text().strip(),
            "verifier_projector": self.mmproj_field.edit.text().strip(),
            "verifier_mode": str(self.mode.currentData()),
            "verifier_format": str(self.format.currentData()),
        }

    def restore(self, d: AppSettings) -> None:
        self.text_field.edit.setText(d.verifier_text)
        self.mmproj_field.edit.setText(d.verifier_projector)
        self.mode.setCurrentIndex(max(0, self.mode.findData(d.verifier_mode)))
        self.format.setCurrentIndex(max(0, self.format.findData(d.verifier_format)))
