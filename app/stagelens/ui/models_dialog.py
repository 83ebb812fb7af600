"""Models dialog: the catalog (download with per-file progress, pause/resume/cancel), installed
models, importing local GGUF files, and the GPU backend. Never calls llama_cpp directly: downloads
run in the download manager's threads and reach the window through ui/bridge.py (queued)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from stagelens.models.catalog import CatalogEntry, CatalogError, load_catalog
from stagelens.models.download import DownloadManager
from stagelens.models.download_errors import AccessDeniedError
from stagelens.models.download_job import DownloadJob
from stagelens.models.download_progress import DownloadEvent
from stagelens.models.gguf_info import ModelFileError, human_bytes
from stagelens.models.gpu import INSTALL_HINTS, BackendInfo, backend_info, plan_offload
from stagelens.models.registry import InstalledModel, Registry, RegistryError
from stagelens.settings import int_default
from stagelens.ui.bridge import DownloadEvents
from stagelens.ui.model_rows import CatalogCard, InstalledRow, muted

__all__ = ["CatalogCard", "InstalledRow", "ModelsDialog", "shared_manager"]

GGUF_FILTER = "GGUF models (*.gguf);;All files (*)"
REFRESH_MS = 250
DEFAULT_N_CTX = int_default("n_ctx")  # the app's default context when the caller does not say
TOKEN_NEEDED_STYLE = "QLineEdit { border: 2px solid #d04040; border-radius: 4px; }"


_shared: dict[str, object] = {}


def shared_manager() -> DownloadManager:
    """One download manager for the whole app, so downloads go on while the dialog is closed;
    quitting the app pauses them (their partial files resume next time)."""
    if "manager" not in _shared:
        bridge = DownloadEvents(QApplication.instance())
        manager = DownloadManager(on_event=bridge.report)
        _shared.update(manager=manager, bridge=bridge)
        app = QApplication.instance()
        if app is not None:
            app.aboutToQuit.connect(lambda: manager.shutdown(timeout=3.0))
    return _shared["manager"]  # type: ignore[return-value]


class ModelsDialog(QDialog):
    """File > Models…"""

    model_chosen = Signal(str, str)  # text GGUF path, mmproj path
    gpu_layers_chosen = Signal(object)  # "auto" or an int

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        manager: DownloadManager | None = None,
        catalog: list[CatalogEntry] | None = None,
        backend: BackendInfo | None = None,
        gpu_auto: bool | None = None,
        n_gpu_layers: int | None = None,
        n_ctx: int | None = None,
    ) -> None:
        super().__init__(parent)
        # the GPU settings in force; a main window that does not pass them has them in .settings
        current = getattr(parent, "settings", None)
        self.gpu_auto = bool(gpu_auto if gpu_auto is not None else getattr(current, "gpu_auto", True))
        self.n_gpu_layers = int(n_gpu_layers if n_gpu_layers is not None else getattr(current, "n_gpu_layers", 0))
        self.n_ctx = int(n_ctx or getattr(current, "n_ctx", 0) or DEFAULT_N_CTX)
        self.setWindowTitle("Models")
        self.setAccessibleName("Models")
        self.resize(780, 620)
        self.manager = manager or shared_manager()
        if manager is not None and manager.on_event is None:
            bridge = DownloadEvents(self)
            manager.on_event = bridge.report
            self._bridge = bridge
        events = getattr(self, "_bridge", None) or _shared.get("bridge")
        if isinstance(events, DownloadEvents):
            events.arrived.connect(self._on_event)
        self.registry: Registry = self.manager.registry  # type: ignore[assignment]
        try:
            self.catalog = catalog if catalog is not None else load_catalog()
            catalog_error = ""
        except CatalogError as exc:
            self.catalog, catalog_error = [], str(exc)
        self.backend = backend
        self.cards: dict[str, CatalogCard] = {}

        layout = QVBoxLayout(self)
        self.tabs = QTabWidget(self)
        self.tabs.addTab(self._build_catalog(catalog_error), "Catalog")
        self.installed_page = QWidget(self)
        self.tabs.addTab(self._build_installed(), "Installed")
        self.tabs.addTab(self._build_gpu(), "GPU")
        layout.addWidget(self.tabs)
        self.message = QLabel("", self)
        self.message.setObjectName("answerStatus")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)
        bottom = QHBoxLayout()
        self.import_button = QPushButton("Import local files…", self)
        self.import_button.clicked.connect(self._pick_import)
        bottom.addWidget(self.import_button)
        bottom.addStretch(1)
        close = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        close.rejected.connect(self.reject)
        bottom.addWidget(close)
        layout.addLayout(bottom)

        self.refresh_installed()
        for job in self.manager.jobs:
            self._show_job(job)
        self._timer = QTimer(self)
        self._timer.setInterval(REFRESH_MS)
        self._timer.timeout.connect(self._refresh_running)
        self._timer.start()

    # -- building ------------------------------------------------------------------------------

    def _scroll(self, inner: QWidget) -> QScrollArea:
        area = QScrollArea(self)
        area.setWidgetResizable(True)
        area.setFrameShape(QFrame.Shape.NoFrame)
        area.setWidget(inner)
        return area

    def _build_catalog(self, error: str) -> QWidget:
        inner = QWidget(self)
        col = QVBoxLayout(inner)
        col.addWidget(
            muted(
                "Vision models llama.cpp can run: each is a text model plus its vision projector (mmproj). "
                f"Files go to {self.registry.folder}. None of them was trained on the four-stage format, "
                "so StageLens guides them through the stages.",
                inner,
            )
        )
        col.addLayout(self._build_token_row(inner))
        if error:
            col.addWidget(QLabel(error, inner))
        for entry in self.catalog:
            card = CatalogCard(entry, inner)
            card.download_requested.connect(self.start_download)
            card.pause_requested.connect(lambda mid: self._job_action(mid, "pause"))
            card.resume_requested.connect(lambda mid: self._job_action(mid, "resume"))
            card.cancel_requested.connect(lambda mid: self._job_action(mid, "cancel"))
            self.cards[entry.id] = card
            col.addWidget(card)
        col.addStretch(1)
        return self._scroll(inner)

    def _build_token_row(self, parent: QWidget) -> QHBoxLayout:
        row = QHBoxLayout()
        row.addWidget(QLabel("Hub token:", parent))
        self.token = QLineEdit(parent)
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        self.token.setPlaceholderText("hf_… (only for gated or private models)")
        self.token.setAccessibleName("Hugging Face token")
        if isinstance(self.manager.token, str):
            self.token.setText(self.manager.token)
        self.token.textChanged.connect(self._token_changed)
        row.addWidget(self.token, 1)
        row.addWidget(muted("kept in memory until StageLens quits, never saved to disk", parent))
        return row

    def _token_changed(self, text: str) -> None:
        # None lets huggingface-hub fall back to HF_TOKEN or a saved `hf auth login`
        self.manager.token = text.strip() or None
        self.token.setStyleSheet("")

    def _build_installed(self) -> QWidget:
        self.installed_layout = QVBoxLayout(self.installed_page)
        return self._scroll(self.installed_page)

    def _build_gpu(self) -> QWidget:
        page = QWidget(self)
        col = QVBoxLayout(page)
        info = self.backend or backend_info()
        self.backend = info
        summary = QLabel(f"<b>Backend:</b> {info.summary}", page)
        summary.setWordWrap(True)
        col.addWidget(summary)
        grid = QGridLayout()
        for r, head in enumerate(("Device", "Backend", "Type", "Free", "Total")):
            grid.addWidget(QLabel(f"<b>{head}</b>", page), 0, r)
        for i, d in enumerate(info.devices, start=1):
            for c, value in enumerate(
                (d.description or d.name, d.backend, d.type, human_bytes(d.free), human_bytes(d.total))
            ):
                grid.addWidget(QLabel(value, page), i, c)
        col.addLayout(grid)
        row = QHBoxLayout()
        row.addWidget(QLabel("GPU layers:", page))
        self.gpu_mode = QComboBox(page)
        self.gpu_mode.addItems(["auto", "manual"])
        self.gpu_mode.setAccessibleName("GPU layers mode")
        self.gpu_layers = QSpinBox(page)
        self.gpu_layers.setRange(-1, 999)
        self.gpu_layers.setSpecialValueText("all")  # -1, as in Settings: every layer on the GPU
        self.gpu_layers.setAccessibleName("Number of GPU layers")
        for widget in (self.gpu_mode, self.gpu_layers):
            widget.blockSignals(True)
        self.gpu_mode.setCurrentText("auto" if self.gpu_auto else "manual")
        self.gpu_layers.setValue(self.n_gpu_layers)
        for widget in (self.gpu_mode, self.gpu_layers):
            widget.blockSignals(False)
        self.gpu_layers.setEnabled(not self.gpu_auto)
        self.gpu_mode.currentTextChanged.connect(self._gpu_mode_changed)
        self.gpu_layers.valueChanged.connect(lambda v: self.gpu_layers_chosen.emit(v))
        row.addWidget(self.gpu_mode)
        row.addWidget(self.gpu_layers)
        row.addStretch(1)
        col.addLayout(row)
        self.gpu_plan = muted("", page)
        col.addWidget(self.gpu_plan)
        if not info.gpus:
            hints = "<br>".join(f"<b>{name}:</b> <code>{hint}</code>" for name, hint in INSTALL_HINTS.items())
            text = QLabel(
                "This llama-cpp-python has no GPU backend. To use a GPU, reinstall it with one:<br>" + hints, page
            )
            text.setWordWrap(True)
            text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            col.addWidget(text)
        col.addStretch(1)
        self._update_gpu_plan()
        return page

    def _gpu_mode_changed(self, mode: str) -> None:
        self.gpu_layers.setEnabled(mode == "manual")
        self.gpu_layers_chosen.emit("auto" if mode == "auto" else self.gpu_layers.value())
        self._update_gpu_plan()

    def _update_gpu_plan(self) -> None:
        models = self.registry.list()
        if not models or self.backend is None:
            self.gpu_plan.setText(
                "'auto' puts as many layers on the GPU as fit in its free memory, "
                "keeping some free for the compute buffers."
            )
            return
        lines = [f"With {self.n_ctx} tokens of context (Settings):"]
        for m in models[:6]:
            try:
                plan = plan_offload(m.text, m.mmproj, self.n_ctx, self.backend)
                lines.append(f"{m.name}: auto = {plan.n_gpu_layers} layers ({plan.reason})")
            except ModelFileError as exc:
                lines.append(f"{m.name}: {exc}")
        self.gpu_plan.setText("\n".join(lines))

    # -- installed -----------------------------------------------------------------------------

    def refresh_installed(self) -> None:
        while self.installed_layout.count():
            item = self.installed_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()  # deleteLater() waits for the event loop; do not paint it meanwhile
                widget.deleteLater()
        try:
            models = self.registry.list()
        except RegistryError as exc:
            models = []
            self._say(str(exc), error=True)
        if not models:
            self.installed_layout.addWidget(
                muted(
                    "No models installed yet. Download one from the Catalog, or import a text GGUF and its "
                    "mmproj file you already have.",
                    self.installed_page,
                )
            )
        for m in models:
            row = InstalledRow(m, self.installed_page)
            row.remove_requested.connect(self.remove_model)
            row.use_requested.connect(self._use)
            self.installed_layout.addWidget(row)
        self.installed_layout.addStretch(1)
        ids = {m.id for m in models}
        for model_id, card in self.cards.items():
            card.set_installed(model_id in ids or any(i.startswith(model_id + "-") for i in ids))
        self.tabs.setTabText(1, f"Installed ({len(models)})")

    def remove_model(self, model_id: str) -> None:
        try:
            model = self.registry.remove(model_id)
        except RegistryError as exc:
            self._say(str(exc), error=True)
            return
        self._say(f"Removed {model.name}" + ("" if model.owns_files else " (your files were kept)"))
        self.refresh_installed()
        self._update_gpu_plan()

    def _use(self, model_id: str) -> None:
        model = self.registry.get(model_id)
        if model is not None:
            self.model_chosen.emit(model.text, model.mmproj)
            self._say(f"{model.name} will answer the next question")

    # -- import ----------------------------------------------------------------------------------

    def _pick_import(self) -> None:
        text, _ = QFileDialog.getOpenFileName(self, "Choose the text model (GGUF)", "", GGUF_FILTER)
        if not text:
            return
        from stagelens.models.pairing import find_projector

        mmproj = None
        try:
            found = find_projector(text)
        except ModelFileError as exc:
            self._say(str(exc), error=True)
            return
        if found is None:
            mmproj, _ = QFileDialog.getOpenFileName(
                self, "Choose its vision projector (mmproj GGUF)", str(Path(text).parent), GGUF_FILTER
            )
            if not mmproj:
                return
        self.import_files(text, mmproj or found)

    def import_files(self, text: str | Path, mmproj: str | Path | None = None) -> InstalledModel | None:
        from stagelens.models.pairing import import_local

        try:
            model = import_local(text, mmproj, registry=self.registry)
        except ModelFileError as exc:
            self._say(f"Not imported: {exc}", error=True)
            return None
        self._say(f"Imported {model.name}")
        self.refresh_installed()
        self._update_gpu_plan()
        self.tabs.setCurrentIndex(1)
        return model

    # -- downloads -------------------------------------------------------------------------------

    def start_download(self, model_id: str, quant: str) -> DownloadJob | None:
        entry = next((e for e in self.catalog if e.id == model_id), None)
        if entry is None:
            return None
        job = self.manager.start(entry, quant)
        self._show_job(job)
        return job

    def _job_for(self, model_id: str) -> DownloadJob | None:
        jobs = [j for j in self.manager.jobs if j.entry.id == model_id]
        return jobs[-1] if jobs else None

    def _job_action(self, model_id: str, action: str) -> None:
        job = self._job_for(model_id)
        if job is None:
            return
        if action == "resume":
            self.manager.resume(job)
        else:
            getattr(job, action)()
        self._show_job(job)

    def _show_job(self, job: DownloadJob) -> None:
        card = self.cards.get(job.entry.id)
        if card is not None:
            card.show_event(job.event())

    def _on_event(self, event: DownloadEvent) -> None:
        job = next((j for j in self.manager.jobs if j.id == event.job_id), None)
        if job is None:
            return
        self._show_job(job)
        if event.state == "done":
            self._say(f"{job.entry.name} is installed and ready to use")
            self.refresh_installed()
            self._update_gpu_plan()
        elif event.state == "failed" and isinstance(job.error, AccessDeniedError):
            self._say(
                f"{job.entry.name}: {event.message}. Paste a Hugging Face token in the "
                "Hub token field at the top of the Catalog, then press Resume.",
                error=True,
            )
            self.tabs.setCurrentIndex(0)
            self.token.setStyleSheet(TOKEN_NEEDED_STYLE)
            self.token.setFocus()
        elif event.state == "failed":
            self._say(f"{job.entry.name}: {event.message}", error=True)

    def _refresh_running(self) -> None:
        for job in self.manager.jobs:
            if not job.finished:
                self._show_job(job)

    def _say(self, text: str, error: bool = False) -> None:
        self.message.setText(text)
        self.message.setProperty("kind", "error" if error else "")
        self.message.style().unpolish(self.message)
        self.message.style().polish(self.message)
