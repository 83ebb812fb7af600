"""Scene generator, demo-model training and `stagelens eval`."""
