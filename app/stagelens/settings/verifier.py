"""What the verifier scorer loads and how it scores. Defaults and allowed values are the table's; the
check runs on construction (the files themselves are checked when the verifier loads)."""

from __future__ import annotations

from dataclasses import dataclass

from stagelens.settings.checked import check_fields
from stagelens.settings.table import str_default


@dataclass(frozen=True)
class VerifierSettings:
    verifier: str | None = None  # the verifier's GGUF; None: no verifier (the scorer "verifier" cannot run)
    verifier_mmproj: str | None = None  # its projector; None: it reads the question and the steps only
    verifier_mode: str = str_default("verifier_mode")  # process | outcome
    verifier_format: str = str_default("verifier_format")  # auto | prm | judge

    def __post_init__(self) -> None:
        check_fields(self)
