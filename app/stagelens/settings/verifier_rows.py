"""The verifier scorer's rows of the settings table (``table.TABLE`` takes them in place): the model
`ask` and `eval` load beside the answering model (``--verifier``), and the window's choice of it."""

from __future__ import annotations

from stagelens.settings.definition import Setting

VERIFIER_ROWS: tuple[Setting, ...] = (
    Setting(
        "verifier",
        str,
        None,
        "verifier model GGUF for --scorer verifier: a process/outcome reward model, or any model as a judge",
        frozenset({"verifier"}),
        flag="--verifier",
        optional=True,
    ),
    Setting(
        "verifier_mmproj",
        str,
        None,
        "the verifier's vision projector GGUF (without one the verifier reads the text only)",
        frozenset({"verifier"}),
        flag="--verifier-mmproj",
        optional=True,
    ),
    Setting(
        "verifier_mode",
        str,
        "process",
        "process: each stage's candidates are scored as the next step of the answer; outcome: each is scored "
        "as the answer so far, read as one piece",
        frozenset({"verifier", "window"}),
        flag="--verifier-mode",
        choices=("process", "outcome"),
        choice_labels=("Process (step by step)", "Outcome (the answer as a whole)"),
        label="verifier mode",
    ),
    Setting(
        "verifier_format",
        str,
        "auto",
        "the verifier's prompt: prm (VisualPRM / VL-PRM: steps as turns, scored by p(+) vs p(-)), judge (any "
        "model asked whether the last step is correct, p(Yes) vs p(No)); auto: prm when the model's name says "
        "PRM, else judge",
        frozenset({"verifier", "window"}),
        flag="--verifier-format",
        choices=("auto", "prm", "judge"),
        choice_labels=("From the model's name", "Reward model (+/-)", "Judge (Yes/No)"),
        label="verifier format",
    ),
    Setting("verifier_text", str, "", "the verifier model file (empty: none chosen)", frozenset({"window"})),
    Setting(
        "verifier_projector", str, "", "the verifier's vision projector file (empty: text only)", frozenset({"window"})
    ),
)
