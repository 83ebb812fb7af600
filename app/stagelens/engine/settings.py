"""Re-export: SearchSettings and LoadSettings live in stagelens.settings (one source of settings)."""

from stagelens.settings import LoadSettings, SearchSettings

__all__ = ["LoadSettings", "SearchSettings"]
