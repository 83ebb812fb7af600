"""Models: test-model generator, catalog, downloads, local import."""
