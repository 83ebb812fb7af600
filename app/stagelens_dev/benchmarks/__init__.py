"""Benchmarks that are not product commands (``stagelens bench`` is): each runs with ``python -m``.

- ``stall``: how long the window's event loop stalls while an answer is produced.
- ``startup``: seconds from launching the packaged app to its window on screen.
- ``decode_batching``: llama.cpp's own gain from decoding N sequences in one batch.
"""
