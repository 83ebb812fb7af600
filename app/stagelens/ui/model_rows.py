"""The rows of the Models dialog: a catalog model with its download progress, one file's
progress, an installed model with what its files say about themselves."""

from __future__ import annotations

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from stagelens.models.catalog import CatalogEntry
from stagelens.models.download_progress import FINISHED, DownloadEvent, FileProgress
from stagelens.models.gguf_info import GGUFInfo, ModelFileError, describe, human_bytes, read_gguf_info
from stagelens.models.registry import InstalledModel


def muted(text: str, parent: QWidget | None = None) -> QLabel:
    label = QLabel(text, parent)
    label.setObjectName("hint")
    label.setWordWrap(True)
    return label


class FileProgressRow(QWidget):
    """One file: name, bar, and 'bytes / total · percent · speed · time left'."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        self.name = QLabel(self)
        self.bar = QProgressBar(self)
        self.bar.setRange(0, 1000)
        self.bar.setTextVisible(False)
        self.bar.setFixedHeight(8)
        self.detail = muted("", self)
        self.detail.setWordWrap(False)
        grid.setColumnStretch(0, 1)
        grid.addWidget(self.name, 0, 0)
        grid.addWidget(self.detail, 0, 1, Qt.AlignmentFlag.AlignRight)
        grid.addWidget(self.bar, 1, 0, 1, 2)

    def show_progress(self, f: FileProgress) -> None:
        role = "projector" if f.role == "mmproj" else "model"
        self.name.setText(f"{f.name}  ({role})")
        self.bar.setValue(int(10 * f.percent) if f.percent is not None else 0)
        self.detail.setText(f.describe())
        self.bar.setAccessibleName(f"{f.name}: {f.describe()}")


class CatalogCard(QFrame):
    """A catalog model: what it is, what it costs, and its download controls and progress."""

    download_requested = Signal(str, str)  # model id, quant
    pause_requested = Signal(str)
    resume_requested = Signal(str)
    cancel_requested = Signal(str)

    def __init__(self, entry: CatalogEntry, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.entry = entry
        self.setObjectName("modelCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(entry.name)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        title = QLabel(f"<b>{entry.name}</b> &nbsp;<span>{entry.params} · {entry.family}</span>", self)
        top.addWidget(title, 1)
        self.badge = QLabel("", self)
        self.badge.setObjectName("installedBadge")
        top.addWidget(self.badge)
        self.quant = QComboBox(self)
        self.quant.setAccessibleName(f"Quantization for {entry.name}")
        for q in entry.quants:
            self.quant.addItem(q)
        self.quant.setCurrentText(entry.default_quant)
        self.quant.currentTextChanged.connect(self._update_cost)
        top.addWidget(self.quant)
        self.download = QPushButton("Download", self)
        self.download.setAccessibleName(f"Download {entry.name}")
        self.download.clicked.connect(lambda: self.download_requested.emit(entry.id, self.quant.currentText()))
        top.addWidget(self.download)
        layout.addLayout(top)
        layout.addWidget(QLabel(entry.description, self))
        self.cost = muted("", self)
        layout.addWidget(self.cost)
        self.progress_box = QWidget(self)
        box = QVBoxLayout(self.progress_box)
        box.setContentsMargins(0, 4, 0, 0)
        self.rows = [FileProgressRow(self.progress_box), FileProgressRow(self.progress_box)]
        for row in self.rows:
            box.addWidget(row)
        buttons = QHBoxLayout()
        self.status = QLabel("", self.progress_box)
        self.status.setObjectName("downloadStatus")
        self.status.setWordWrap(True)
        buttons.addWidget(self.status, 1)
        self.pause = QPushButton("Pause", self.progress_box)
        self.resume = QPushButton("Resume", self.progress_box)
        self.cancel = QPushButton("Cancel", self.progress_box)
        for button, signal in (
            (self.pause, self.pause_requested),
            (self.resume, self.resume_requested),
            (self.cancel, self.cancel_requested),
        ):
            button.setAccessibleName(f"{button.text()} download of {entry.name}")
            button.clicked.connect(lambda _=False, s=signal: s.emit(entry.id))
            buttons.addWidget(button)
        box.addLayout(buttons)
        layout.addWidget(self.progress_box)
        self.progress_box.hide()
        self._update_cost()

    def _update_cost(self) -> None:
        quant = self.quant.currentText() or self.entry.default_quant
        mem = self.entry.memory_estimate(quant)
        size = self.entry.download_size(quant)
        exact = all(f.size is not None for f in self.entry.files(quant))
        parts = [
            f"{'' if exact else '~'}{human_bytes(size)} download",
            f"~{human_bytes(mem.total_bytes)} RAM (or VRAM) at {mem.n_ctx} tokens of context",
            f"licence: {self.entry.license}",
        ]
        checksum = all(f.sha256 for f in self.entry.files(quant))
        parts.append("sha256 from the catalog" if checksum else "checked against the Hub's sha256")
        self.cost.setText(" · ".join(parts))

    def set_installed(self, installed: bool) -> None:
        self.badge.setText("✓ Installed" if installed else "")
        self.download.setText("Download again" if installed else "Download")

    def show_event(self, event: DownloadEvent) -> None:
        self.progress_box.show()
        for row, f in zip(self.rows, event.files, strict=False):
            row.show_progress(f)
        running = event.state not in FINISHED
        self.download.setEnabled(not running)
        self.quant.setEnabled(not running)
        self.pause.setVisible(running)
        self.resume.setVisible(event.state in ("paused", "failed"))
        self.cancel.setVisible(event.state not in ("done", "cancelled"))
        label = {
            "queued": "Starting…",
            "checking": "Checking the files on the Hub…",
            "downloading": "Downloading",
            "verifying": "Verifying…",
            "paused": "Paused",
            "cancelled": "Cancelled",
            "failed": "Failed",
            "done": "Installed",
        }[event.state]
        detail = event.message if event.state in ("failed", "paused", "cancelled", "verifying") else ""
        self.status.setText(f"<b>{label}</b>{': ' + detail if detail else ''}")
        self.status.setProperty("kind", "error" if event.state == "failed" else "")
        if event.state in ("done", "cancelled"):
            QTimer.singleShot(4000, self, self._hide_if_finished)

    def _hide_if_finished(self) -> None:
        if self.status.text().startswith(("<b>Installed", "<b>Cancelled")):
            self.progress_box.hide()


class InstalledRow(QFrame):
    remove_requested = Signal(str)
    use_requested = Signal(str)

    def __init__(self, model: InstalledModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        self.setObjectName("modelCard")
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setAccessibleName(model.name)
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        source = "from the catalog" if model.source == "catalog" else "imported"
        top.addWidget(QLabel(f"<b>{model.name}</b> &nbsp;<span>{source}</span>", self), 1)
        use = QPushButton("Use", self)
        use.setAccessibleName(f"Use {model.name}")
        use.clicked.connect(lambda: self.use_requested.emit(model.id))
        remove = QPushButton("Remove", self)
        remove.setAccessibleName(f"Remove {model.name}")
        remove.clicked.connect(lambda: self.remove_requested.emit(model.id))
        top.addWidget(use)
        top.addWidget(remove)
        layout.addLayout(top)
        self.facts = [muted(_file_facts(model, role), self) for role in ("text", "mmproj")]
        for label in self.facts:
            layout.addWidget(label)
        paths = muted(f"{model.text}\n{model.mmproj}", self)
        paths.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(paths)


def _file_info(model: InstalledModel, role: str) -> GGUFInfo:
    """What the registry recorded about one file at install time, or the file itself."""
    saved = model.metadata.get(role)
    names = GGUFInfo.__dataclass_fields__
    if isinstance(saved, dict) and names.keys() <= saved.keys():
        return GGUFInfo(**{k: saved[k] for k in names})
    return read_gguf_info(model.text if role == "text" else model.mmproj)


def _file_facts(model: InstalledModel, role: str) -> str:
    """One line of gguf_info.describe() rows: parameters, size, quantization, vision..."""
    try:
        rows = describe(_file_info(model, role))
    except (ModelFileError, TypeError) as exc:
        return f"{role}: {exc}"
    head = dict(rows)
    rest = [f"{label} {value}" for label, value in rows if label not in ("file", "role")]
    return f"<b>{head['role']}</b> {head['file']}: " + " · ".join(rest)
