"""StageLens: a desktop visual assistant that reasons in four stages."""

__version__ = "0.1.0"
