"""One evaluation item, whatever file it came from, and the error a bad file or line raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stagelens.evaluation.matching import is_correct
from stagelens.images import PreparedImage, load_image, prepare_bytes


class DatasetError(ValueError):
    """A dataset file or line is unusable; the message names the file and line."""


@dataclass(frozen=True)
class EmbeddedImage:
    """An image file's bytes carried inside the dataset (base64 in a TSV, bytes in a parquet file)."""

    name: str  # how messages name it: "data.tsv row 3"
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class EvalItem:
    image: Path | EmbeddedImage
    question: str
    answer: str
    choices: tuple[str, ...] = ()
    line: int = 0
    kind: str | None = None
    stages: dict[str, str] = field(default_factory=dict)  # reference stage texts, by stage name
    lettered: bool = False  # the choices are options A, B, C, ... (the answer: a letter or an option's text)

    @property
    def image_name(self) -> str:
        return str(self.image) if isinstance(self.image, Path) else self.image.name

    def prepared_image(self, max_side: int) -> PreparedImage:
        """The image decoded for the model (stagelens.images: the one decode path)."""
        if isinstance(self.image, Path):
            return load_image(self.image, max_side=max_side)
        return prepare_bytes(self.image.data, self.image.name, max_side=max_side)

    def is_correct(self, prediction: str) -> bool:
        return is_correct(prediction, self.answer, list(self.choices) or None, lettered=self.lettered)
