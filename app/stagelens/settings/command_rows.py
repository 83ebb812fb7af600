"""The rows of the settings table (``table.TABLE`` takes them in place) that only commands have:
`stagelens bench`, `stagelens eval` and `stagelens make-test-model`."""

from __future__ import annotations

from stagelens.settings.definition import Setting


def _groups(*names: str) -> frozenset[str]:
    return frozenset(names)


COMMAND_ROWS: tuple[Setting, ...] = (
    Setting(
        "test_model_preset",
        str,
        None,
        "use a generated test model (default: bench, unless --model is given)",
        _groups("bench", "test-model"),
        flag="--preset",
        choices=("tiny", "bench"),  # what stagelens_dev.testmodels can write (its PRESETS)
        optional=True,
        group_defaults={"test-model": "tiny"},
        group_help={"test-model": "which test model to write"},
    ),
    Setting("beams", str, "1,2,4,8", "comma-separated beam widths", _groups("bench"), flag="--beams"),
    Setting("no_reference", bool, False, "skip the reference rows", _groups("bench"), flag="--no-reference"),
    Setting(
        "scorers",
        str,
        None,
        "comma-separated scorers run side by side at each beam width (default: --scorer)",
        _groups("bench"),
        flag="--scorers",
        optional=True,
    ),
    Setting(
        "image_sizes",
        str,
        None,
        "comma-separated longest sides in px to send the image at (scaled up or down), one set of rows each "
        "(default: the image as loaded, at most 224)",
        _groups("bench"),
        flag="--image-sizes",
        optional=True,
    ),
    Setting(
        "turns",
        int,
        1,
        "also answer a conversation of N turns at the widest beam (each follow-up after the ones before it)",
        _groups("bench"),
        flag="--turns",
        low=1,
        high=20,
    ),
    Setting(
        "repeat",
        int,
        1,
        "run each row N times and keep the median wall time",
        _groups("bench"),
        flag="--repeat",
        low=1,
    ),
    Setting(
        "methods",
        str,
        "greedy,bestofn:4,beam:4:logprob,beam:4:judge",
        "comma-separated: greedy, bestofn:N, beam:N[:logprob|judge] (stagelens/evaluation/methods.py)",
        _groups("eval"),
        flag="--methods",
    ),
    Setting("limit", int, None, "use only the first N items", _groups("eval"), flag="--limit", low=1, optional=True),
    Setting(
        "dataset_format",
        str,
        None,
        "the dataset's format: jsonl (StageLens's), tsv (VLMEvalKit), hf (a Hugging Face datasets export, "
        "JSONL or parquet) (default: from the file's suffix)",
        _groups("eval"),
        flag="--format",
        choices=("jsonl", "tsv", "hf"),
        optional=True,
    ),
    Setting(
        "baseline",
        str,
        None,
        "the method others are compared with, item by item (default: greedy when it is run, else the first)",
        _groups("eval"),
        flag="--baseline",
        optional=True,
    ),
    Setting(
        "shard",
        str,
        None,
        "run only shard I of N (items I-1, I-1+N, ...; I from 1 to N); combine with `stagelens eval merge`",
        _groups("eval"),
        flag="--shard",
        optional=True,
    ),
)
