"""The text the engine puts around the model's output, in the pieces it tokenizes separately.

Everything here is derived from the product's own prompt code (``stagelens.engine.prompt``) and
the demo model's chat template, so training sees exactly the token ids the engine feeds the
model: the chat prompt around the image, each stage's forced opening tag on its own, and the
judge prompt (head, candidate A, middle, candidate B, tail, then the choice token).
"""

from __future__ import annotations

from functools import cache

from stagelens.engine.prompt import ChatTemplate
from stagelens.engine.stage_text import JudgeText, StageText, stage_texts
from stagelens_dev.training.questions import STAGES, Item

SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
BOS, EOS = "<|endoftext|>", "<|im_end|>"
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
USER_PREFIX = "<|im_start|>user\n"  # the chat template's text before the image marker


@cache
def engine_texts() -> tuple[tuple[StageText, ...], JudgeText]:
    stages, judge = stage_texts(ChatTemplate(CHAT_TEMPLATE, bos_token=BOS, eos_token=EOS).turn_pieces())
    return tuple(stages), judge


def prompt_suffix(question: str) -> str:
    """The chat template's text between the image and the assistant's reply."""
    return f"\n{question}<|im_end|>\n<|im_start|>assistant\n"


def stage_pieces(stage: int, text: str) -> list[str]:
    """One stage as the engine writes it: the opening tag (forced, so tokenized alone), then the content
    and closing tag as the model writes them."""
    tag = STAGES[stage]
    return [engine_texts()[0][stage].forced_open, f"{text}</{tag}>"]


def target_pieces(item: Item) -> list[str]:
    """The whole assistant turn in the pieces the engine tokenizes separately."""
    pieces = [p for index, text in enumerate(item.stages) for p in stage_pieces(index, text)]
    return [*pieces, EOS]


def judge_pieces(stage: int, first: str, second: str) -> list[str]:
    """The judge prompt after the stages before ``stage``: each piece is tokenized on its own."""
    stages, judge = engine_texts()
    return [stages[stage].judge_head, first, judge.mid, second, judge.tail]


def judge_choices() -> tuple[str, str]:
    _, judge = engine_texts()
    return judge.choice_a, judge.choice_b


def engine_corpus() -> list[str]:
    """The fixed text the engine writes itself, for the tokenizer to learn compactly."""
    stages, judge = engine_texts()
    texts = [USER_PREFIX, prompt_suffix(""), EOS]
    for index, stage in enumerate(stages):
        texts += [stage.forced_open, stage.close_text, stage.judge_head, stage_pieces(index, "")[1]]
    texts += [judge.mid, judge.tail, judge.choice_a, judge.choice_b, judge.tail + judge.choice_a + judge.choice_b]
    return texts
