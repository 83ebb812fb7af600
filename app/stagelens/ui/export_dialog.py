"""File > Export conversation…: Markdown with the stages, or JSON with the full traces
(stagelens.session.export writes them)."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from stagelens.fileio import write_atomic
from stagelens.session import Conversation, export

FORMATS = "Markdown with stages (*.md);;JSON with full traces (*.json)"


def export_conversation(conversation: Conversation, path: Path, fmt: str) -> None:
    turns, title = list(conversation.turns), conversation.title
    text = export.to_json(title, turns) if fmt == "json" else export.to_markdown(title, turns)
    write_atomic(path, text.encode("utf-8"))


def choose_and_export(window: QMainWindow, conversation: Conversation) -> None:
    name = "".join(c if c.isalnum() or c in " -_" else "_" for c in conversation.title).strip() or "chat"
    path, chosen = QFileDialog.getSaveFileName(window, "Export conversation", f"{name}.md", FORMATS)
    if not path:
        return
    fmt = "json" if path.lower().endswith(".json") or "JSON" in chosen else "md"
    if not Path(path).suffix:  # the format chosen in the dialog names the file
        path += f".{fmt}"
    try:
        export_conversation(conversation, Path(path), fmt)
    except OSError as exc:
        QMessageBox.warning(window, "Export failed", f"{path} could not be written: {exc}")
        return
    window.statusBar().showMessage(f"Exported to {path}", 5000)
