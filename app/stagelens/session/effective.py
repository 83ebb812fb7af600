"""What a conversation is answered with: the model chosen and the effective load and search
settings, derived from the user's settings in one place."""

from __future__ import annotations

import logging
from pathlib import Path

from stagelens.models.default import ModelChoice
from stagelens.settings import AppSettings, LoadSettings, SearchSettings, max_beam_for, preset_beams
from stagelens.settings.presets import search_settings
from stagelens.settings.verifier import VerifierSettings

log = logging.getLogger(__name__)

TEST_MODEL_NAME = "Test model (random weights)"


def chosen_model(settings: AppSettings, override: ModelChoice | None = None) -> ModelChoice | None:
    """The files in Settings, else the model the program was started with, else the default model."""
    if settings.model_text and settings.model_mmproj:
        return named_model(Path(settings.model_text), Path(settings.model_mmproj))
    if override is not None:
        return override
    from stagelens.models.default import default_model

    return default_model()


def named_model(text: Path, mmproj: Path) -> ModelChoice:
    """Files chosen by path, under the name they have: the demo model's, an installed model's, or
    the text file's."""
    from stagelens.models.default import demo_model
    from stagelens.models.registry import RegistryError, installed_models

    demo = demo_model()
    if demo is not None and (demo.text, demo.mmproj) == (text, mmproj):
        return demo
    try:
        for model in installed_models():
            if (Path(model.text), Path(model.mmproj)) == (text, mmproj):
                return ModelChoice(model.name, text, mmproj, "installed")
    except (RegistryError, OSError) as exc:
        log.warning("installed models could not be listed: %s", exc)
    return ModelChoice(text.stem, text, mmproj, "local")


def default_model_name(override: ModelChoice | None = None) -> str:
    """What "the default model" is called in Settings."""
    if override is not None:
        return override.name
    from stagelens.models.default import demo_model

    demo = demo_model()
    return demo.name if demo is not None else TEST_MODEL_NAME


def gpu_layers(settings: AppSettings, model: ModelChoice) -> int:
    if not settings.gpu_auto:
        return settings.n_gpu_layers
    try:
        from stagelens.models.gpu import resolve_gpu_layers

        return resolve_gpu_layers("auto", model.text, model.mmproj, settings.n_ctx)
    except Exception as exc:  # the planner is optional; fall back to the number in Settings
        log.warning("automatic GPU layers failed: %s", exc)
        return settings.n_gpu_layers


def load_settings_for(settings: AppSettings, model: ModelChoice) -> LoadSettings:
    return LoadSettings(
        str(model.text),
        str(model.mmproj),
        n_gpu_layers=gpu_layers(settings, model),
        n_ctx=settings.n_ctx,
        n_threads=settings.n_threads,
        max_beam=max_beam_for(settings.beam, settings.best_of, *preset_beams()),  # switching presets needs no reload
        image_max_side=settings.image_max_side,
        extra={"verifier": verifier_settings_for(settings)} if settings.verifier_text else {},
    )


def verifier_settings_for(settings: AppSettings) -> VerifierSettings:
    """The verifier the Settings dialog chose (loaded beside the model, for the scorer "verifier")."""
    return VerifierSettings(
        settings.verifier_text, settings.verifier_projector or None, settings.verifier_mode, settings.verifier_format
    )


def search_settings_for(settings: AppSettings, preset: str | None = None) -> SearchSettings:
    """What the next question is searched with: the preset's (default: the settings' preset)."""
    return search_settings(settings, preset)
