"""Check each stage of the demo model's answers against the scene: the caption against the truth,
the reasoning and conclusion against the model's *own* caption.

    python -m stagelens_dev.training.stagecheck --dataset models/demo/heldout.jsonl --records traces.jsonl

``--records`` is what ``stagelens eval --out`` writes (one line per item and method). For every
method it reports, over the items:

- caption right: the kept caption is exactly the true caption;
- reasoning follows the caption: the caption parses (``scenes.parse_caption``) and the kept
  reasoning is exactly what ``questions.build_item`` derives from that parsed caption;
- conclusion follows the caption: the kept conclusion is the answer derived from the caption;
- for methods with several caption candidates: how often one of them was right (the oracle),
  and, on those items, how often the kept one was right (the scorer's pick).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stagelens_dev.training.questions import Underivable, build_item
from stagelens_dev.training.scenes import CaptionError, parse_caption


@dataclass
class StageCounts:
    items: int = 0
    caption_right: int = 0
    reasoning_follows: int = 0
    conclusion_follows: int = 0
    oracle_items: int = 0  # items where some caption candidate was right
    picked_right: int = 0  # of those, items where the kept caption was right
    by_kind: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))  # kind: [right, n]

    def rates(self) -> dict[str, Any]:
        n = max(1, self.items)
        out: dict[str, Any] = {
            "items": self.items,
            "caption_right": self.caption_right / n,
            "reasoning_follows_caption": self.reasoning_follows / n,
            "conclusion_follows_caption": self.conclusion_follows / n,
        }
        if self.oracle_items:
            out["caption_oracle"] = self.oracle_items / n
            out["picked_right_when_possible"] = self.picked_right / self.oracle_items
        out["caption_right_by_kind"] = {k: right / total for k, (right, total) in sorted(self.by_kind.items())}
        return out


def derived(caption: str, spec: dict[str, Any]) -> tuple[str, str] | None:
    """(reasoning, answer) that follow from a caption, or None when the caption does not parse or
    does not let the question be answered."""
    try:
        item = build_item(parse_caption(caption), spec)
    except (CaptionError, Underivable):
        return None
    return item.stages[2], item.answer


def _stage(trace: dict[str, Any], name: str) -> dict[str, Any]:
    return next((s for s in trace["stages"] if s["name"] == name), {"text": "", "candidates": []})


def check(dataset: list[dict[str, Any]], records: list[dict[str, Any]]) -> dict[str, StageCounts]:
    counts: dict[str, StageCounts] = defaultdict(StageCounts)
    for record in records:
        truth = dataset[record["index"]]
        trace = record["traces"][record["chosen"]]
        cap, reasoning, conclusion = (_stage(trace, n)["text"] for n in ("caption", "reasoning", "conclusion"))
        c = counts[record["method"]]
        c.items += 1
        right = cap == truth["stages"]["caption"]
        c.caption_right += right
        c.by_kind[truth["kind"]][0] += right
        c.by_kind[truth["kind"]][1] += 1
        follows = derived(cap, truth["spec"])
        if follows is not None:
            c.reasoning_follows += reasoning == follows[0]
            c.conclusion_follows += conclusion == follows[1]
        candidates = [cand["text"] for cand in _stage(trace, "caption")["candidates"]]
        if len(candidates) > 1 and truth["stages"]["caption"] in candidates:
            c.oracle_items += 1
            c.picked_right += right
    return dict(counts)


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    doc = (__doc__ or "").split("\n")[0]
    parser = argparse.ArgumentParser(prog="python -m stagelens_dev.training.stagecheck", description=doc)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--records", type=Path, required=True, help="the JSONL written by stagelens eval --out")
    args = parser.parse_args(argv)
    results = check(load_jsonl(args.dataset), load_jsonl(args.records))
    print(json.dumps({method: c.rates() for method, c in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
