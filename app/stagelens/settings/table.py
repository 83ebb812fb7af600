"""Every setting StageLens has, once: the defaults, ranges and choices that the dataclasses,
the command-line parsers, the window's settings file and the Settings dialog are built from.

Groups say where a setting appears: ``load`` (LoadSettings, `ask`'s model options), ``search``
(SearchSettings, `ask`'s search options), ``window`` (AppSettings: the settings file and the
Settings dialog), ``engine`` (Engine.answer's own options), ``bench``, ``eval``, ``gpu``
(`models gpu`), ``test-model`` (`make-test-model`) and ``verifier`` (VerifierSettings: the
verifier scorer's model, for `ask` and `eval`). A setting without a flag is not on the
command line.
"""

from __future__ import annotations

from collections.abc import Iterator

from stagelens.settings.command_rows import COMMAND_ROWS
from stagelens.settings.definition import Setting, Value
from stagelens.settings.verifier_rows import VERIFIER_ROWS

THREADS_HELP = "CPU threads (0: one per core up to 4 cores, else half the cores)"


def _groups(*names: str) -> frozenset[str]:
    return frozenset(names)


# What a model that was not trained on the four-stage format is told (in the system turn, or at the
# start of the first user turn when the chat template has no system role).
FORMAT_INSTRUCTION = """\
Answer in four stages, in this order, each between its own tags:
<SUMMARY> what the question asks and how you will answer it, in one or two sentences </SUMMARY>
<CAPTION> what the image shows that matters for the question </CAPTION>
<REASONING> step-by-step reasoning from the image to the answer </REASONING>
<CONCLUSION> the final answer only: a word, a number or one short sentence </CONCLUSION>
Write every opening and closing tag, and write nothing after </CONCLUSION>."""


TABLE: tuple[Setting, ...] = (
    # -- loading a model ------------------------------------------------------------------
    Setting(
        "model",
        str,
        None,
        "text model GGUF (default: the shipped demo model)",
        _groups("load", "bench", "eval", "gpu"),
        flag="--model",
        short="-m",
        optional=True,
        group_help={
            "bench": "text model GGUF (default: a generated test model, see --preset)",
            "eval": "text model GGUF (default: the demo model)",
            "gpu": "text GGUF, to plan how many layers fit (GPU layers 'auto')",
        },
    ),
    Setting(
        "mmproj",
        str,
        None,
        "vision projector GGUF (mmproj)",
        _groups("load", "bench", "eval", "gpu"),
        flag="--mmproj",
        optional=True,
        group_help={"eval": "vision projector GGUF (default: the demo model's)"},
    ),
    Setting(
        "n_gpu_layers",
        int,
        0,
        "layers to offload to the GPU: a number, -1 for all, or auto (fit in free VRAM)",
        _groups("load", "bench", "window"),
        flag="--n-gpu-layers",
        low=-1,
        window_high=1000,
        auto=True,
        label="GPU layers",
    ),
    Setting(
        "n_ctx",
        int,
        8192,
        "context size in tokens",
        _groups("load", "eval", "gpu", "window"),
        flag="--n-ctx",
        low=1,
        window_low=512,
        window_high=262144,
    ),
    Setting("n_batch", int, 1024, "prompt tokens decoded per batch", _groups("load"), low=1),
    Setting(
        "flash_attn",
        str,
        "auto",
        "flash attention: auto (llama.cpp's default: on where the backend has it), on, or off (CPU: "
        "batched and token-by-token decoding then agree to ~1e-5 instead of ~1e-2)",
        _groups("load", "bench"),
        flag="--flash-attn",
        choices=("auto", "on", "off"),
        label="flash attention",
    ),
    Setting(
        "n_threads",
        int,
        0,
        THREADS_HELP,
        _groups("load", "bench", "eval", "window"),
        flag="--threads",
        low=0,
        window_high=256,
    ),
    Setting(
        "max_beam",
        int,
        8,
        "the engine reserves sequences for this many candidates (the widest beam it can run)",
        _groups("load"),
        low=1,
    ),
    Setting(
        "image_max_side",
        int,
        768,
        "downscale images to this longest side",
        _groups("load", "window"),
        flag="--image-max-side",
        low=16,
        window_low=64,
        window_high=4096,
        aliases=("max_side",),
    ),
    # -- searching for an answer ----------------------------------------------------------
    Setting(
        "beam",
        int,
        2,
        "candidates per stage (1: plain generation)",
        _groups("search", "window"),
        flag="--beam",
        low=1,
        window_high=16,
    ),
    Setting(
        "scorer",
        str,
        "logprob",
        "how a stage's candidates are compared: mean log-probability, the model as judge, or a verifier model "
        "(--verifier)",
        _groups("search", "window", "bench"),
        flag="--scorer",
        choices=("logprob", "judge", "verifier"),
        choice_labels=(
            "Log-probability (fast)",
            "Judge (the model compares candidates)",
            "Verifier (a second model scores candidates)",
        ),
        code_choices=("python",),  # a Python function passed to Engine.answer (tests, research)
    ),
    Setting(
        "temperature",
        float,
        0.6,
        "sampling temperature of the candidates (0: greedy)",
        _groups("search", "window", "eval"),
        flag="--temperature",
        low=0.0,
        window_high=2.0,
        group_help={"eval": "sampling temperature of best-of-N and beams"},
    ),
    Setting(
        "top_p",
        float,
        0.9,
        "sample from the smallest set of tokens with this much probability",
        _groups("search", "eval"),
        flag="--top-p",
        low=0.0,
        low_exclusive=True,
        high=1.0,
    ),
    Setting(
        "top_k", int, 40, "sample from this many most likely tokens (0: all)", _groups("search"), flag="--top-k", low=0
    ),
    Setting(
        "seed",
        int,
        None,
        "random seed (default: a new one, in the trace)",
        _groups("search", "eval", "test-model"),
        flag="--seed",
        low=0,
        high=2**32 - 1,
        optional=True,
        group_defaults={"eval": 0, "test-model": 0},
        group_help={
            "eval": "sampling seed of every method",
            "test-model": "seed of the random weights",
        },
    ),
    Setting(
        "max_stage_tokens",
        int,
        160,
        "token budget of each stage",
        _groups("search", "window", "eval", "bench"),
        flag="--max-stage-tokens",
        low=1,
        window_low=8,
        window_high=4096,
        group_defaults={"bench": 48},
    ),
    Setting(
        "force_stages",
        bool,
        True,
        "let the model write the stage tags itself",
        _groups("search", "eval"),
        flag="--no-force-stages",
    ),
    Setting(
        "format_instruction",
        str,
        FORMAT_INSTRUCTION,
        "what models not trained on the four-stage format are told, in the system turn (default: StageLens's "
        "own text; an empty text tells them nothing); models trained on it (the demo model) are told nothing",
        _groups("search", "window"),
        flag="--format-instruction",
        label="format instruction",
    ),
    Setting(
        "mode",
        str,
        "batched",
        "batched: every candidate in one batch; reference: one by one (the bench's cost model)",
        _groups("search"),
        flag="--mode",
        choices=("batched", "reference"),
        hidden=True,
    ),
    Setting(
        "retrace",
        int,
        0,
        "retracing: when a stage's best candidate is poor (its mean log-probability, or a Python scorer's score, "
        "falls more than the retrace margin below the stage before's; with the judge, the judged winner's "
        "mean log-probability), sample the stage before again with new seeds; at most this many times per answer "
        "(0: never)",
        _groups("search", "window", "eval"),
        flag="--retrace",
        low=0,
        window_high=8,
        label="retraces",
    ),
    Setting(
        "retrace_margin",
        float,
        0.2,
        "how far a stage's best may fall below the stage before's (nats of mean log-probability per token) "
        "before it counts as poor and is retraced",
        _groups("search", "eval"),
        flag="--retrace-margin",
        low=0.0,
        label="retrace margin",
    ),
    Setting(
        "best_of",
        int,
        1,
        "best-of-N: N whole answers decoded together, each through every stage with no choice between stages, "
        "the scorer's best kept: mean log-probability, the judge comparing whole answers, or the verifier "
        "(1: stage-level search with --beam)",
        _groups("search", "window"),
        flag="--best-of",
        low=1,
        window_high=8,
        label="best-of",
    ),
    Setting(
        "stream_interval_ms",
        int,
        50,
        "streamed text reaches the caller about this often (0: every token)",
        _groups("engine"),
        low=0,
    ),
    *VERIFIER_ROWS,  # the verifier scorer (--scorer verifier): settings/verifier_rows.py
    # -- the window only --------------------------------------------------------------------
    Setting(
        "preset",
        str,
        "balanced",
        "how hard each answer is searched for (settings/presets.py); custom: the beam, scorer and temperature",
        _groups("window"),
        choices=("fast", "balanced", "thorough", "custom"),
        choice_labels=("Fast", "Balanced", "Thorough", "Custom"),
    ),
    Setting(
        "theme",
        str,
        "system",
        "light or dark: follow the system, or force one",
        _groups("window"),
        choices=("system", "light", "dark"),
        choice_labels=("Follow the system", "Light", "Dark"),
    ),
    Setting("model_text", str, "", "text model file (empty: the default model)", _groups("window")),
    Setting("model_mmproj", str, "", "vision projector file of model_text", _groups("window")),
    Setting("gpu_auto", bool, False, "let the model manager's planner pick the GPU layers", _groups("window")),
    Setting("reasoning_expanded", bool, False, "how a finished answer's Reasoning panel starts", _groups("window")),
    Setting("window_geometry", str, "", "hex of QWidget.saveGeometry()", _groups("window")),
    *COMMAND_ROWS,  # bench, eval and make-test-model: settings/command_rows.py
)

SETTINGS: dict[str, Setting] = {s.name: s for s in TABLE}
GROUPS = ("load", "search", "window", "engine", "bench", "eval", "gpu", "test-model", "verifier")


def setting(name: str) -> Setting:
    try:
        return SETTINGS[name]
    except KeyError:
        raise KeyError(f"no setting is called {name!r}") from None


def in_group(group: str) -> Iterator[Setting]:
    """The settings of a group, in table order."""
    if group not in GROUPS:
        raise KeyError(f"no settings group is called {group!r}")
    return (s for s in TABLE if group in s.groups)


def default(name: str, group: str | None = None) -> Value:
    s = setting(name)
    return s.default if group is None else s.default_for(group)


# Typed defaults, for dataclass fields and call sites that need the exact type.
def int_default(name: str, group: str | None = None) -> int:
    value = default(name, group)
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"the default of {name} is not a whole number")
    return value


def optional_int_default(name: str, group: str | None = None) -> int | None:
    value = default(name, group)
    return None if value is None else int_default(name, group)


def float_default(name: str, group: str | None = None) -> float:
    value = default(name, group)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"the default of {name} is not a number")
    return float(value)


def str_default(name: str, group: str | None = None) -> str:
    value = default(name, group)
    if not isinstance(value, str):
        raise TypeError(f"the default of {name} is not text")
    return value


def bool_default(name: str, group: str | None = None) -> bool:
    value = default(name, group)
    if not isinstance(value, bool):
        raise TypeError(f"the default of {name} is not true or false")
    return value
