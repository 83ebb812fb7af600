"""Python face of the native core: load a model, answer a question in a conversation.

The native engine owns the conversation: it keeps every token id the model read and produced, as
keyed segments (see conversation.py). An answer hands over only the segments it does not hold yet,
so a follow-up reads only its own new turn.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

from stagelens.engine import damage, native
from stagelens.engine.compat import check_projector_fits
from stagelens.engine.conversation import ConversationBuilder, Units, model_file_key, utf8
from stagelens.engine.events import EventHandler, EventRelay, Scorer, native_scorer, reading_event
from stagelens.engine.format import TRAINED_FORMAT_KEY, FormatPrompt, format_prompt, trained_on_format
from stagelens.engine.prompt import ChatTemplate
from stagelens.engine.rendering import TurnRenderer
from stagelens.engine.settings import LoadSettings, SearchSettings
from stagelens.engine.specs import StageSpec, check_judge_usable, judge_spec, pick_judge_labels, stage_specs
from stagelens.engine.stage_text import stage_texts
from stagelens.engine.trace import ModelInfo, Trace
from stagelens.engine.trace_builder import build_trace
from stagelens.engine.turns import PastTurn, UserTurn
from stagelens.engine.verifier import Verifier, record_cost
from stagelens.images import PreparedImage, load_image
from stagelens.settings import flash_attn_type, int_default
from stagelens.settings.verifier import VerifierSettings


class Engine:
    """One loaded text model + projector, with one KV cache holding one conversation."""

    def __init__(self, settings: LoadSettings) -> None:
        self.settings = settings
        self.verifier: Verifier | None = None
        for label, path in (("model", settings.model), ("mmproj", settings.mmproj)):
            if path is not None and Path(path).is_dir():
                raise native.ModelLoadError(f"the {label} file {path} is a folder, not a GGUF file")
            if path is not None and not Path(path).is_file():
                raise native.ModelLoadError(f"the {label} file {path} does not exist")
        if settings.mmproj is None:
            raise native.NoVisionError(
                f"{Path(settings.model).name} was given without a vision projector (mmproj); "
                "StageLens needs one to see images"
            )
        check_projector_fits(settings.model, settings.mmproj)
        self._native = native.NativeEngine(
            str(settings.model),
            str(settings.mmproj),
            settings.n_gpu_layers,
            settings.n_ctx,
            settings.n_batch,
            settings.n_threads or default_threads(),
            2 + settings.max_beam + settings.max_beam // 2,  # trunk, candidates, judge root, judges
            flash_attn_type(settings.flash_attn),
        )
        try:
            damage.check_text_model(self._native, settings.model)
            self._setup()
            chosen = settings.extra.get("verifier")  # the window's choice (Settings: Verifier)
            if isinstance(chosen, VerifierSettings) and chosen.verifier:
                self.load_verifier(chosen)
        except BaseException:
            self._native.close()
            raise

    def _setup(self) -> None:
        self.model_key = model_file_key(self.settings.model)
        self.info: dict = self._native.info()
        bos = self._special_text(self.info["bos"])
        eos = self._special_text(self.info["eos"])
        self.template = ChatTemplate(self.info["chat_template"], bos_token=bos, eos_token=eos)
        self.marker: str = self.info["media_marker"]
        self.renderer = TurnRenderer(self.template, self.marker)
        pieces = self.template.turn_pieces()
        labels, choice_a, choice_b = pick_judge_labels(pieces, self._tokenize, self._detokenize)
        self.judge_choices: tuple[str, str] | None = (labels.choice_a, labels.choice_b) if labels else None
        self._stages, self._judge = stage_texts(pieces, labels) if labels else stage_texts(pieces)
        self.stage_specs: list[StageSpec] = stage_specs(self._stages, self._tokenize)
        self.judge_spec = judge_spec(self._judge, self._tokenize, choice_a, choice_b)
        self._native.configure(self.stage_specs, self.judge_spec)
        self.trained_on_format = trained_on_format(
            {key: self._native.meta(key) for key in (TRAINED_FORMAT_KEY, "general.name")}
        )
        self._conversation = ConversationBuilder(self._native, self.renderer, self.model_key, self.info["n_vocab"])

    # ------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self.verifier is not None:
            self.verifier.close()
        self._native.close()

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def backend(self) -> str:
        if self.settings.n_gpu_layers == 0:
            return "CPU"
        gpus = [d for d in native.devices() if d["type"] in ("gpu", "igpu")]
        return str(gpus[0]["backend"]) if gpus else "CPU"

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            path=str(self.settings.model),
            mmproj=str(self.settings.mmproj) if self.settings.mmproj else None,
            n_params=int(self.info["n_params"]),
            backend=self.backend,
            template="fallback" if self.template.is_fallback else "gguf",
            key=self.model_key,
        )

    # --------------------------------------------------------------- tokens
    def _special_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._native.detokenize([token], True).decode("utf-8", "replace")

    def _tokenize(self, text: str, parse_special: bool) -> list[int]:
        return self._native.tokenize(utf8(text), False, parse_special)

    def _detokenize(self, tokens: list[int]) -> bytes:
        return self._native.detokenize(tokens, False)

    def tokenize(self, text: str) -> list[int]:
        """Token ids of text as the prompt reads it (special tokens parsed, no BOS added)."""
        return self._tokenize(text, True)

    # ---------------------------------------------------------------- answer
    def prepare_images(self, images: Sequence[PreparedImage | str | os.PathLike[str]]) -> list[PreparedImage]:
        return [
            img if isinstance(img, PreparedImage) else load_image(img, max_side=self.settings.image_max_side)
            for img in images
        ]

    def answer(
        self,
        turn: UserTurn,
        history: Sequence[PastTurn] = (),
        settings: SearchSettings | None = None,
        on_event: EventHandler | None = None,
        cancel: native.CancelFlag | None = None,
        scorer: Scorer | None = None,
        stream_interval_ms: int = int_default("stream_interval_ms"),
    ) -> Trace:
        """Answer `turn`, asked after `history`. What the native side already holds of the
        conversation is kept; only the rest is read. Text events are coalesced to at most one per
        candidate every `stream_interval_ms` (0: every token)."""
        started = time.perf_counter()
        settings = (settings or SearchSettings()).with_seed()
        if settings.width > self.settings.max_beam:
            what = f"best-of {settings.best_of}" if settings.best_of > 1 else f"beam {settings.beam}"
            raise ValueError(f"{what} is more than this engine was loaded for ({self.settings.max_beam})")
        if not turn.question.strip():
            raise ValueError("the question is empty")
        if settings.scorer == "judge" and settings.width > 1:
            check_judge_usable(self.judge_spec)
        if settings.scorer == "python" and scorer is None:
            raise ValueError("scorer 'python' needs a scorer callable")
        verifier = self.verifier if settings.scorer == "verifier" else None
        if settings.scorer == "verifier":
            if verifier is None:
                raise ValueError("the verifier scorer needs a verifier model (--verifier MODEL.gguf)")
            verifier_cost = verifier.cost.copy()
            scorer = verifier.stage_scorer(turn, cancel)
        assert settings.seed is not None  # with_seed() gives one
        params = native.SearchParams(
            settings.beam,
            settings.max_stage_tokens,
            settings.temperature,
            settings.top_p,
            settings.top_k,
            settings.seed,
            native.SCORERS[settings.scorer],
            native.MODES[settings.mode],
            settings.force_stages,
            max(0, stream_interval_ms),
            settings.retrace,
            settings.retrace_margin,
            settings.best_of,
        )
        names = [s.name for s in self.stage_specs]
        relay = EventRelay(names, on_event) if on_event else None
        py_scorer = native_scorer(scorer, names) if scorer else None

        told = self.format_prompt(settings)
        new_units = self._conversation.sync(self._conversation.segments(turn, history, told.instruction))
        if on_event is not None:  # the window says what is being read before the first word
            on_event(reading_event(new_units))
        try:
            result = self._native.search(params, relay, py_scorer, cancel)
        except native.InvalidNumbersError as exc:
            raise damage.explain(self._native, self.settings.model, self.settings.mmproj) from exc
        prompt = {**told.to_json(), "judge_choices": list(self.judge_choices) if self.judge_choices else None}
        trace = build_trace(turn, settings, result, self.model_info, started, self.stage_specs, prompt)
        if verifier is not None:
            record_cost(trace.stats, verifier.cost.since(verifier_cost))
            trace.prompt["verifier"] = {"model": verifier.name, "format": verifier.format, "mode": verifier.mode}
        return trace

    def load_verifier(self, settings: VerifierSettings) -> Verifier:
        """Load a verifier model beside this one (same context size, threads and GPU layers) for the scorer
        "verifier"; VerifierError says why it cannot be used."""
        verifier = Verifier(settings, self.settings, self.settings.n_threads or default_threads())
        self.attach_verifier(verifier)
        return verifier

    def attach_verifier(self, verifier: Verifier | None) -> None:
        """The verifier the scorer "verifier" uses; the engine closes it when it closes."""
        if self.verifier is not None and self.verifier is not verifier:
            self.verifier.close()
        self.verifier = verifier

    def format_prompt(self, settings: SearchSettings | None = None) -> FormatPrompt:
        """What this model is told about the four-stage format with these settings, and where."""
        setting = (settings or SearchSettings()).format_instruction
        return format_prompt(setting, self.trained_on_format, self.template.system_role)

    # --------------------------------------------------------- diagnostics
    def probe(self) -> None:
        """Check the weights for damage: one probe decode and one probe image through the projector
        (DamagedModelError names the file). Forgets the conversation held."""
        damage.check_text_model(self._native, self.settings.model)
        if self.settings.mmproj is not None:
            damage.check_projector(self._native, self.settings.mmproj)

    def reset_cache(self) -> None:
        """Forget the conversation the native side holds (the next answer reads everything)."""
        self._native.reset()

    def decode_ceiling(self, prefix: int, steps: int, widths: Sequence[int]) -> tuple[float, list[list[float]]]:
        """Raw llama_decode on this engine's own context: the wall time of reading `prefix` tokens, then
        for each width the time of each of `steps` steps decoding one token in each of that many
        sequences (every row with logits, as a candidate step). Forgets the conversation held."""
        return self._native.decode_ceiling(prefix, steps, list(widths))

    def fork_logits(self, units: Units, branches: list[list[int]]) -> list[bytes]:
        """For parity tests: `units` becomes the conversation (unkeyed: the next answer reads it
        again), then each branch is decoded after it in its own sequence; each branch's final
        float32 logits."""
        return self._native.fork_logits(units, branches)

    def prompt_units(
        self, question: str, images: Sequence[PreparedImage], settings: SearchSettings | None = None
    ) -> Units:
        """Units of a fresh single-turn prompt, as `answer` with `settings` reads it (for tests and tools)."""
        turn = UserTurn(question, tuple(images))
        return self._conversation.user_segment(
            turn, first=True, instruction=self.format_prompt(settings).instruction
        ).build()

    def follow_up_units(self, turn: UserTurn) -> Units:
        """Units of `turn`'s own segment when it follows an answer: all a follow-up has to read (for tools)."""
        return self._conversation.user_segment(turn, first=False).build()


def default_threads() -> int:
    """One thread per core on small machines: llama.cpp's own default is 4, which
    oversubscribes a 2-core laptop."""
    cores = os.cpu_count() or 1
    return cores if cores <= 4 else max(4, cores // 2)
