"""Settings (Ctrl+,): model files, search, and loading options. Applies to the next question."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from stagelens.settings import PRESETS, AppSettings, preset, search_choice, setting
from stagelens.ui.model_facts import KnownModel, known_models
from stagelens.ui.verifier_fields import VerifierBox

log = logging.getLogger(__name__)

GGUF_FILTER = "GGUF models (*.gguf);;All files (*)"
LABEL_WIDTH = 130  # one label column for every group, so the fields line up


def _form(box: QGroupBox) -> QFormLayout:
    form = QFormLayout(box)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def _add_row(form: QFormLayout, label: str, field: QWidget) -> None:
    caption = QLabel(label, form.parentWidget())
    caption.setMinimumWidth(LABEL_WIDTH)
    caption.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    if label:
        caption.setBuddy(field)
    form.addRow(caption, field)


class FileField(QWidget):
    def __init__(self, label: str, placeholder: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        self.edit = QLineEdit(self)
        self.edit.setPlaceholderText(placeholder)
        self.edit.setAccessibleName(label)
        self.edit.setClearButtonEnabled(True)
        self.browse = QPushButton("Browse…", self)
        self.browse.setAccessibleName(f"Browse for {label.lower()}")
        self.browse.clicked.connect(self._pick)
        self._label = label
        row.addWidget(self.edit, 1)
        row.addWidget(self.browse)

    def _pick(self) -> None:
        start = str(Path(self.edit.text()).parent) if self.edit.text() else ""
        path, _ = QFileDialog.getOpenFileName(self, f"Choose the {self._label.lower()}", start, GGUF_FILTER)
        if path:
            self.edit.setText(path)


class SettingsDialog(QDialog):
    def __init__(self, settings: AppSettings, default_model_name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Settings")
        self.setAccessibleName("Settings")
        self.setMinimumWidth(520)
        self._settings = settings
        layout = QVBoxLayout(self)

        model_box = QGroupBox("Model", self)
        model_form = _form(model_box)
        self.model_choice = QComboBox(model_box)
        self.model_choice.setAccessibleName("Model")
        self.model_choice.setToolTip("The default model, the demo model and the models installed with File > Models…")
        self.text_field = FileField("Text model file", f"Default: {default_model_name}", model_box)
        self.mmproj_field = FileField("Vision projector file", "mmproj GGUF that belongs to the text model", model_box)
        self.text_field.edit.setText(settings.model_text)
        self.mmproj_field.edit.setText(settings.model_mmproj)
        self._fill_models(known_models(default_model_name))
        self.model_choice.activated.connect(self._model_chosen)
        self.text_field.edit.textChanged.connect(self._match_model)
        self.mmproj_field.edit.textChanged.connect(self._match_model)
        _add_row(model_form, "Model:", self.model_choice)
        _add_row(model_form, "Text model:", self.text_field)
        _add_row(model_form, "Vision projector:", self.mmproj_field)
        hint = QLabel("Pick a model above, or choose any local text GGUF and its vision projector.", model_box)
        hint.setObjectName("hint")
        hint.setWordWrap(True)
        _add_row(model_form, "", hint)
        layout.addWidget(model_box)

        search_box = QGroupBox("Answering", self)
        search_form = _form(search_box)
        self.preset = QComboBox(search_box)
        self.preset.setAccessibleName("Answer preset")
        for p in PRESETS:
            self.preset.addItem(p.label, p.name)
            self.preset.setItemData(self.preset.count() - 1, p.explanation, Qt.ItemDataRole.ToolTipRole)
        self.preset_hint = QLabel(search_box)
        self.preset_hint.setObjectName("hint")
        self.preset_hint.setWordWrap(True)
        self.beam = self._spin("beam", settings.beam, "Beam width", "Candidates written for every stage")
        self.scorer = QComboBox(search_box)
        self.scorer.setAccessibleName("Scorer")
        scorer = setting("scorer")
        for choice in scorer.choices:
            self.scorer.addItem(scorer.choice_label(choice), choice)
        self.scorer.setCurrentIndex(max(0, self.scorer.findData(settings.scorer)))
        self.temperature = QDoubleSpinBox(search_box)
        self.temperature.setRange(*setting("temperature").float_bounds())
        self.temperature.setSingleStep(0.05)
        self.temperature.setValue(settings.temperature)
        self.temperature.setAccessibleName("Temperature")
        self.retrace = self._spin("retrace", settings.retrace, "Retraces", setting("retrace").help)
        self.retrace.setSpecialValueText("Off")
        self.best_of = self._spin("best_of", settings.best_of, "Best of N", setting("best_of").help)
        self.best_of.setSpecialValueText("Off (stage-level search)")
        self.best_of.setSuffix(" whole answers")
        self.stage_tokens = self._spin(
            "max_stage_tokens", settings.max_stage_tokens, "Stage token budget", "Most tokens each stage may use"
        )
        self.expanded = QCheckBox("Show the reasoning expanded after each answer", search_box)
        self.expanded.setChecked(settings.reasoning_expanded)
        self.expanded.setAccessibleName("Reasoning expanded by default")
        self.stage_tokens.setSuffix(" tokens")
        _add_row(search_form, "Preset:", self.preset)
        _add_row(search_form, "", self.preset_hint)
        _add_row(search_form, "Beam width:", self.beam)
        _add_row(search_form, "Scorer:", self.scorer)
        _add_row(search_form, "Temperature:", self.temperature)
        _add_row(search_form, "Retracing:", self.retrace)
        _add_row(search_form, "Best of N:", self.best_of)
        _add_row(search_form, "Stage token budget:", self.stage_tokens)
        _add_row(search_form, "", self.expanded)
        format_box = QWidget(search_box)
        format_layout = QVBoxLayout(format_box)
        format_layout.setContentsMargins(0, 0, 0, 0)
        self.format_instruction = QPlainTextEdit(format_box)
        self.format_instruction.setPlainText(settings.format_instruction)
        self.format_instruction.setAccessibleName("Format instruction")
        self.format_instruction.setToolTip(setting("format_instruction").help)
        self.format_instruction.setTabChangesFocus(True)
        self.format_instruction.setFixedHeight(self.format_instruction.fontMetrics().lineSpacing() * 5 + 12)
        self.reset_instruction = QPushButton("Reset to StageLens's text", format_box)
        self.reset_instruction.setAccessibleName("Reset the format instruction")
        self.reset_instruction.clicked.connect(
            lambda: self.format_instruction.setPlainText(str(setting("format_instruction").default))
        )
        reset_row = QHBoxLayout()
        reset_row.addStretch(1)
        reset_row.addWidget(self.reset_instruction)
        format_layout.addWidget(self.format_instruction)
        format_layout.addLayout(reset_row)
        format_box.setMinimumHeight(format_layout.sizeHint().height())  # the form would squeeze it otherwise
        instruction_hint = QLabel(
            "What models not trained on the four stages are told (the demo model is told nothing). Empty: nothing.",
            search_box,
        )
        instruction_hint.setObjectName("hint")
        instruction_hint.setWordWrap(True)
        _add_row(search_form, "Format instruction:", format_box)
        _add_row(search_form, "", instruction_hint)
        layout.addWidget(search_box)
        self.verifier = VerifierBox(settings, _add_row, FileField, self)
        layout.addWidget(self.verifier)

        load_box = QGroupBox("Performance", self)
        load_form = _form(load_box)
        self.gpu_layers = self._spin("n_gpu_layers", settings.n_gpu_layers, "GPU layers", "-1: all layers on the GPU")
        self.gpu_layers.setSpecialValueText("All")
        self.threads = self._spin("n_threads", settings.n_threads, "CPU threads", "0: automatic")
        self.threads.setSpecialValueText("Automatic")
        self.n_ctx = self._spin("n_ctx", settings.n_ctx, "Context size", "Tokens the conversation may hold")
        self.n_ctx.setSingleStep(1024)
        self.n_ctx.setSuffix(" tokens")
        self.image_side = self._spin(
            "image_max_side",
            settings.image_max_side,
            "Image max side",
            "Images are downscaled so their longest side fits",
        )
        self.image_side.setSuffix(" px")
        self.gpu_auto = QCheckBox("Automatic (fit the model in free GPU memory)", load_box)
        self.gpu_auto.setAccessibleName("Automatic GPU layers")
        self.gpu_auto.setChecked(settings.gpu_auto)
        self.gpu_auto.toggled.connect(lambda on: self.gpu_layers.setEnabled(not on))
        self.gpu_layers.setEnabled(not settings.gpu_auto)
        _add_row(load_form, "GPU layers:", self.gpu_layers)
        _add_row(load_form, "", self.gpu_auto)
        _add_row(load_form, "CPU threads:", self.threads)
        _add_row(load_form, "Context size:", self.n_ctx)
        _add_row(load_form, "Image max side:", self.image_side)
        layout.addWidget(load_box)

        self._custom = self._numbers_of(settings)  # Custom's own numbers
        self._showing_preset = False
        self._show_preset(settings.preset)
        self.preset.activated.connect(lambda i: self._show_preset(str(self.preset.itemData(i))))
        for field in (self.beam, self.temperature, self.retrace, self.best_of):
            field.valueChanged.connect(self._numbers_edited)
        self.scorer.currentIndexChanged.connect(self._numbers_edited)

        look_box = QGroupBox("Appearance", self)
        look_form = _form(look_box)
        self.theme = QComboBox(look_box)
        self.theme.setAccessibleName("Light or dark")
        theme = setting("theme")
        for choice in theme.choices:
            self.theme.addItem(theme.choice_label(choice), choice)
        self.theme.setCurrentIndex(max(0, self.theme.findData(settings.theme)))
        _add_row(look_form, "Light or dark:", self.theme)
        layout.addWidget(look_box)

        note = QLabel("Changes apply to the next question.", self)
        note.setObjectName("hint")
        layout.addWidget(note)
        self.error_label = QLabel(self)
        self.error_label.setObjectName("errorText")
        self.error_label.setWordWrap(True)
        self.error_label.setVisible(False)
        layout.addWidget(self.error_label)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.RestoreDefaults,
            self,
        )
        buttons.accepted.connect(self._accept)
        buttons.rejected.connect(self.reject)
        buttons.button(QDialogButtonBox.StandardButton.RestoreDefaults).clicked.connect(self._restore)
        for button, name in (
            (QDialogButtonBox.StandardButton.Ok, "Save settings"),
            (QDialogButtonBox.StandardButton.Cancel, "Cancel"),
            (QDialogButtonBox.StandardButton.RestoreDefaults, "Restore default settings"),
        ):
            buttons.button(button).setAccessibleName(name)
        layout.addWidget(buttons)
        self.resize(self.sizeHint())  # not the minimum: wrapped hints need their height

    # ------------------------------------------------------------ presets
    def _show_preset(self, name: str) -> None:
        """The preset's numbers in the fields (Custom: the user's own)."""
        self._showing_preset = True
        try:
            self.preset.setCurrentIndex(max(0, self.preset.findData(name)))
            beam, scorer, temperature, retrace, best_of = self._custom
            numbers = replace(
                self._settings, beam=beam, scorer=scorer, temperature=temperature, retrace=retrace, best_of=best_of
            )
            choice = search_choice(numbers, name)
            self.beam.setValue(choice.beam)
            self.scorer.setCurrentIndex(max(0, self.scorer.findData(choice.scorer)))
            self.temperature.setValue(choice.temperature)
            self.retrace.setValue(choice.retrace)
            self.best_of.setValue(choice.best_of)
            self.preset_hint.setText(preset(name).explanation)
        finally:
            self._showing_preset = False

    def _numbers_edited(self) -> None:
        """Numbers of one's own are the Custom preset."""
        if self._showing_preset:
            return
        self._custom = (
            self.beam.value(),
            str(self.scorer.currentData()),
            round(self.temperature.value(), 3),
            self.retrace.value(),
            self.best_of.value(),
        )
        if self.preset.currentData() != "custom":
            self._show_preset("custom")

    @staticmethod
    def _numbers_of(settings: AppSettings) -> tuple[int, str, float, int, int]:
        return (settings.beam, settings.scorer, settings.temperature, settings.retrace, settings.best_of)

    def chosen_preset(self) -> str:
        return str(self.preset.currentData())

    def _spin(self, key: str, value: int, name: str, tip: str) -> QSpinBox:
        """A spin box over the window's range of the setting `key`."""
        spin = QSpinBox(self)
        spin.setRange(*setting(key).int_bounds())
        spin.setValue(value)
        spin.setAccessibleName(name)
        spin.setToolTip(tip)
        return spin

    def _fill_models(self, models: list[KnownModel]) -> None:
        for model in models:
            self.model_choice.addItem(model.name, model)
            self.model_choice.setItemData(
                self.model_choice.count() - 1, model.text or "the default model", Qt.ItemDataRole.ToolTipRole
            )
        self.model_choice.addItem("Other files (chosen below)", None)
        self._match_model()

    def _model_chosen(self, index: int) -> None:
        model = self.model_choice.itemData(index)
        if isinstance(model, KnownModel):
            self.text_field.edit.setText(model.text)
            self.mmproj_field.edit.setText(model.mmproj)
            self.error_label.setVisible(False)

    def _match_model(self) -> None:
        """Show which known model the file fields hold, or "Other files"."""
        text, mmproj = self.text_field.edit.text().strip(), self.mmproj_field.edit.text().strip()
        other = self.model_choice.count() - 1
        for i in range(other):
            model = self.model_choice.itemData(i)
            if (model.text, model.mmproj) == (text, mmproj):
                self.model_choice.setCurrentIndex(i)
                return
        self.model_choice.setCurrentIndex(other)

    def _restore(self) -> None:
        d = AppSettings()
        self.text_field.edit.setText(d.model_text)
        self.mmproj_field.edit.setText(d.model_mmproj)
        self._custom = self._numbers_of(d)
        self._show_preset(d.preset)
        self.stage_tokens.setValue(d.max_stage_tokens)
        self.format_instruction.setPlainText(d.format_instruction)
        self.gpu_layers.setValue(d.n_gpu_layers)
        self.gpu_auto.setChecked(d.gpu_auto)
        self.threads.setValue(d.n_threads)
        self.n_ctx.setValue(d.n_ctx)
        self.image_side.setValue(d.image_max_side)
        self.theme.setCurrentIndex(max(0, self.theme.findData(d.theme)))
        self.verifier.restore(d)

    def _accept(self) -> None:
        text, mmproj = self.text_field.edit.text().strip(), self.mmproj_field.edit.text().strip()
        problem = None
        if bool(text) != bool(mmproj):
            problem = "Choose both the text model and its vision projector, or leave both empty."
        else:
            for label, path in (("text model", text), ("vision projector", mmproj)):
                if path and not Path(path).is_file():
                    problem = f"The {label} file {path} does not exist."
        problem = problem or self.verifier.problem(self._custom[1])
        if problem:
            self.error_label.setText(problem)
            self.error_label.setVisible(True)
            return
        self.accept()

    def result_settings(self) -> AppSettings:
        return replace(
            self._settings,
            model_text=self.text_field.edit.text().strip(),
            model_mmproj=self.mmproj_field.edit.text().strip(),
            preset=self.chosen_preset(),
            beam=self._custom[0],
            scorer=self._custom[1],
            temperature=self._custom[2],
            retrace=self._custom[3],
            best_of=self._custom[4],
            max_stage_tokens=self.stage_tokens.value(),
            format_instruction=self.format_instruction.toPlainText(),
            reasoning_expanded=self.expanded.isChecked(),
            n_gpu_layers=self.gpu_layers.value(),
            gpu_auto=self.gpu_auto.isChecked(),
            n_threads=self.threads.value(),
            n_ctx=self.n_ctx.value(),
            image_max_side=self.image_side.value(),
            theme=str(self.theme.currentData()),
            **self.verifier.values(),
        ).validated()
