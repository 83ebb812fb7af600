"""The compiled core, loaded the one safe way.

llama_cpp must be imported first: it loads its libllama by path, and our
extension's `libllama.so.0` dependency then binds to that same library instead
of pulling in a second copy with separate global state. The same goes for
libmtmd, which llama_cpp loads only in its mtmd_cpp module.
"""

import llama_cpp  # noqa: F401  (import order matters, see above)
import llama_cpp.mtmd_cpp  # noqa: F401  (loads libmtmd the same way)

from stagelens.engine import _native  # noqa: E402

NativeEngine = _native.Engine
ImageChunk = _native.ImageChunk
CancelFlag = _native.CancelFlag
SearchParams = _native.SearchParams

EngineError = _native.EngineError
ModelLoadError = _native.ModelLoadError
NoVisionError = _native.NoVisionError
ImageRejectedError = _native.ImageRejectedError
ContextOverflowError = _native.ContextOverflowError
KVCacheFullError = _native.KVCacheFullError
DecodeError = _native.DecodeError
InvalidNumbersError = _native.InvalidNumbersError

EVENT_STAGE_BEGIN = _native.EVENT_STAGE_BEGIN
EVENT_TEXT = _native.EVENT_TEXT
EVENT_STAGE_END = _native.EVENT_STAGE_END
EVENT_RETRACE = _native.EVENT_RETRACE

# the verifier scorer runs through the external hook: its model scores each stage's candidates (engine/verifier.py)
SCORERS = {
    "logprob": _native.SCORER_LOGPROB,
    "judge": _native.SCORER_JUDGE,
    "python": _native.SCORER_EXTERNAL,
    "verifier": _native.SCORER_EXTERNAL,
}
MODES = {"batched": _native.MODE_BATCHED, "reference": _native.MODE_REFERENCE}


def devices() -> list[dict]:
    return _native.devices()


def system_info() -> str:
    return _native.system_info()


def supports_gpu_offload() -> bool:
    return _native.supports_gpu_offload()
