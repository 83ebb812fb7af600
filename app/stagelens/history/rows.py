"""How the session's objects are written in the history's rows: a turn's images (JSON, the files
are images/<digest><suffix>) and an answer (its trace JSON, its error, or the partial state of an
answer still being written: its stage and every candidate's text so far)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from stagelens.engine import Trace
from stagelens.session.conversation import Answer

log = logging.getLogger(__name__)

STREAMING = "streaming"  # written ahead: the answer was being produced when this row was last written
DONE = "done"


@dataclass(frozen=True)
class StoredImage:
    """How a turn's image is written in its row (JSON); the file is images/<digest><suffix>."""

    digest: str  # the image's digest (older rows: sha256 of the file bytes)
    name: str
    suffix: str  # ".png", ".jpg", ...
    original_size: tuple[int, int] = (0, 0)
    sent_size: tuple[int, int] = (0, 0)

    @property
    def file_name(self) -> str:
        return f"{self.digest}{self.suffix}"

    def to_json(self) -> dict:
        return {
            "digest": self.digest,
            "name": self.name,
            "suffix": self.suffix,
            "original_size": list(self.original_size),
            "sent_size": list(self.sent_size),
        }

    @classmethod
    def from_json(cls, data: dict) -> StoredImage:
        return cls(
            str(data["digest"]),
            str(data.get("name", "")),
            str(data.get("suffix", "")),
            _size(data.get("original_size")),
            _size(data.get("sent_size")),
        )


def image_names(images_json: str) -> set[str]:
    """The file names a turn's images column refers to."""
    return {StoredImage.from_json(i).file_name for i in json.loads(images_json)}


def finished_row(answer: Answer) -> tuple[str | None, str | None]:
    """(trace JSON, error) of a finished answer."""
    if answer.live:
        raise ValueError("an answer still being written cannot be saved as finished")
    if answer.trace is not None:
        return answer.trace.dumps(indent=None), None
    if answer.interrupted:
        return None, None
    return None, answer.error or "unknown error"


def partial_json(answer: Answer) -> str:
    """What an answer being written holds so far: its stage, each candidate's text, the stages done."""
    return json.dumps(
        {
            "stage": answer.stage,
            "texts": [[stage, candidate, text] for (stage, candidate), text in answer.texts.items()],
            "finished": answer.finished,
        },
        ensure_ascii=False,
    )


def answer_from_row(
    trace_json: str | None, error: str | None, created: float, state: str, partial: str | None, row_id: int
) -> Answer:
    if state == STREAMING:
        return _unfinished(partial, created, row_id)
    if trace_json:
        try:
            return Answer(trace=Trace.loads(trace_json), created=created, id=row_id)
        except Exception as exc:
            log.warning("a saved answer could not be read: %s", exc)
            return Answer(error=f"this saved answer could not be read ({exc})", created=created, id=row_id)
    return Answer(error=error or "unknown error", created=created, id=row_id)


def _unfinished(partial: str | None, created: float, row_id: int) -> Answer:
    """An answer whose program stopped (a crash, a kill) before it was done: what it had written."""
    answer = Answer(interrupted=True, created=created, id=row_id)
    if not partial:
        return answer
    try:
        data = json.loads(partial)
        answer.stage = str(data.get("stage", answer.stage))
        for stage, candidate, text in data.get("texts", []):
            answer.texts[(str(stage), int(candidate))] = str(text)
        answer.finished = {str(k): str(v) for k, v in dict(data.get("finished", {})).items()}
    except (ValueError, TypeError) as exc:
        log.warning("the partial text of an unfinished answer could not be read: %s", exc)
    return answer


def _size(value: object) -> tuple[int, int]:
    if isinstance(value, list | tuple) and len(value) == 2 and all(isinstance(v, int) for v in value):
        return (int(value[0]), int(value[1]))
    return (0, 0)
