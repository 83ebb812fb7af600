"""StageLens development tooling: test-model writers, benchmarks, asset generators.

Installed next to `stagelens` by ``pip install .`` / ``pip install -e .`` but never shipped in the
packaged app (every PyInstaller spec excludes it). The product may use it only through lazy imports
that say clearly what is missing when it is absent.
"""
