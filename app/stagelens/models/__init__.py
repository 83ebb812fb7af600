"""Model files: locating real models and generating small deterministic test models."""
