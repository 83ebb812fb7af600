"""The engine layer: the native stage-level beam search and its Python face.

Never imports Qt. `stagelens.engine.native` loads llama_cpp before our
extension so there is one libllama in the process.
"""

from stagelens.engine.compat import ModelMismatchError, check_projector_fits
from stagelens.engine.damage import DamagedModelError
from stagelens.engine.engine import Engine
from stagelens.engine.events import StageEvent
from stagelens.engine.native import (
    CancelFlag,
    ContextOverflowError,
    DecodeError,
    EngineError,
    ImageRejectedError,
    InvalidNumbersError,
    KVCacheFullError,
    ModelLoadError,
    NoVisionError,
)
from stagelens.engine.prompt import STAGE_NAMES, TemplateError
from stagelens.engine.settings import LoadSettings, SearchSettings
from stagelens.engine.trace import Candidate, ModelInfo, Stage, Stats, Trace
from stagelens.engine.turns import PastTurn, UserTurn

__all__ = [
    "STAGE_NAMES",
    "CancelFlag",
    "Candidate",
    "ContextOverflowError",
    "DamagedModelError",
    "DecodeError",
    "Engine",
    "EngineError",
    "ImageRejectedError",
    "InvalidNumbersError",
    "KVCacheFullError",
    "LoadSettings",
    "ModelInfo",
    "ModelLoadError",
    "ModelMismatchError",
    "NoVisionError",
    "PastTurn",
    "SearchSettings",
    "Stage",
    "StageEvent",
    "Stats",
    "TemplateError",
    "Trace",
    "UserTurn",
    "check_projector_fits",
]
