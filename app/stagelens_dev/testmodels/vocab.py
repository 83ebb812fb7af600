"""The test models' tokenizer: a byte-level BPE learned from a small English corpus.

Merges are weighted so the LLaVA-CoT stage tags merge into 1-3 tokens each (they stay plain
text), then the CONTROL tokens ``<|endoftext|>``, ``<|im_start|>``, ``<|im_end|>``. EOS = EOT =
``<|im_end|>``, BOS = PAD = ``<|endoftext|>`` with ``add_bos_token`` false, and a ChatML template.
"""

from __future__ import annotations

from dataclasses import replace

from stagelens_dev.tokenizer import BpeRecipe, TokenizerMetadata, Vocab, learn_vocab

__all__ = ["CHAT_TEMPLATE", "RECIPE", "SPECIAL_TOKENS", "STAGE_TAGS", "TOKENIZER_METADATA", "vocabulary"]

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

STAGE_TAGS = (
    "<SUMMARY>",
    "</SUMMARY>",
    "<CAPTION>",
    "</CAPTION>",
    "<REASONING>",
    "</REASONING>",
    "<CONCLUSION>",
    "</CONCLUSION>",
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

CORPUS = """\
How many red circles are in the image? Look at the image and count the shapes.
What color is the large square? Which shape is on the left of the triangle?
The image shows three red circles, two blue squares and one green triangle on a white
background. A small yellow star is in the top right corner of the picture.
Is there a circle inside the square? How many shapes are there in total?
Answer the question with a single word or a number. Describe the image in detail.

<SUMMARY> I will describe the image, count the red circles, and then answer the question.
</SUMMARY>

<CAPTION> The image shows several colored shapes: red circles, blue squares, and a green
triangle. The shapes are drawn on a plain white background. </CAPTION>

<REASONING> To answer the question, I count each red circle in the image. There is one red
circle at the top, one in the middle, and one near the bottom. That makes three red circles.
</REASONING>

<CONCLUSION> 3 </CONCLUSION>

<SUMMARY> I will look at the colors of the shapes and find the large square. </SUMMARY>

<CAPTION> A large blue square is in the center of the image. A red circle and a green
triangle are next to it. </CAPTION>

<REASONING> The question asks for the color of the large square. The square in the center
is the largest shape, and its color is blue. </REASONING>

<CONCLUSION> Blue </CONCLUSION>

<SUMMARY> I will find the triangle and check which shape is on its left side. </SUMMARY>

<CAPTION> The picture has a green triangle on the right, a red circle in the middle and a
blue square on the left. </CAPTION>

<REASONING> The shape directly to the left of the triangle is the red circle, because the
circle is between the square and the triangle. </REASONING>

<CONCLUSION> The red circle. </CONCLUSION>

Which answer is better? Compare the two responses and choose the one that is more accurate.
Response 1 is better than response 2. The first one counts the circles correctly.
The image is a chart with numbers, text, lines and a title. The total is 12, and 7 + 5 = 12.
There are 4 apples, 10 cats, 2 dogs and a person standing near the table.
"""

# Tags in the contexts LLaVA-CoT writes them; weighted so their merges are learned first.
TAG_CONTEXTS = tuple(
    f"{open_tag} text {close_tag}\n\n{open_tag}\n{close_tag} {open_tag}\n"
    for open_tag, close_tag in zip(STAGE_TAGS[::2], STAGE_TAGS[1::2], strict=True)
)
TAG_WEIGHT = 50
MAX_MERGES = 400

RECIPE = BpeRecipe(
    corpus=(CORPUS,),
    weighted=tuple((context, TAG_WEIGHT) for context in TAG_CONTEXTS),
    n_merges=MAX_MERGES,
    special_tokens=SPECIAL_TOKENS,
)
TOKENIZER_METADATA = TokenizerMetadata(
    bos="<|endoftext|>",
    eos="<|im_end|>",
    eot="<|im_end|>",
    pad="<|endoftext|>",
    add_bos=False,
    add_eos=False,
    chat_template=CHAT_TEMPLATE,
)


def vocabulary(pad_to: int | None = None, extra_special_tokens: tuple[str, ...] = ()) -> Vocab:
    """The test models' vocabulary, padded with UNUSED tokens to ``pad_to``, with more CONTROL tokens if asked."""
    return learn_vocab(replace(RECIPE, special_tokens=SPECIAL_TOKENS + extra_special_tokens, pad_to=pad_to))
