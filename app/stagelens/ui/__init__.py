"""The desktop window (PySide6). Never calls llama_cpp directly: it talks to stagelens.engine."""

from stagelens.ui.none_refcount import make_none_immortal

make_none_immortal()
