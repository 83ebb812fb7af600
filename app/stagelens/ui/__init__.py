"""The desktop window (PySide6). Never calls llama_cpp directly: it talks to stagelens.engine."""
