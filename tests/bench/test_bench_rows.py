"""Which rows the bench runs and how each repeat's ratios pair them (no timings)."""

from __future__ import annotations

from PIL import Image

from stagelens.bench.runner import BenchRow, add_ratios, row_specs, sized_image


def test_rows_for_each_image_size_scorer_and_beam():
    specs = row_specs([1, 4], ["logprob", "judge"], reference=True, image_sides=[224, 448])
    assert [(s.mode, s.beam, s.scorer, s.image_side) for s in specs] == [
        (mode, beam, scorer, side)
        for side in (224, 448)
        for mode, beam, scorer in [
            ("greedy", 1, "logprob"),
            ("beam", 4, "logprob"),
            ("reference", 4, "logprob"),
            ("beam", 4, "judge"),
            ("reference", 4, "judge"),
        ]
    ]
    assert all(s.temperature == 0.0 for s in specs if s.mode == "greedy")


def test_images_are_sent_at_the_asked_size(scene_path):
    up = sized_image(str(scene_path), 448, 224)
    assert max(up.sent_size) == 448, "scaled up, not only down"
    down = sized_image(str(scene_path), 32, 224)
    assert max(down.sent_size) == 32 and up.digest != down.digest
    with Image.open(scene_path) as img:
        assert sized_image(str(scene_path), None, 224).sent_size == img.size  # the small scene as it is


def test_ratios_pair_rows_of_the_same_image_size():
    def row(mode: str, side: int, wall: float) -> BenchRow:
        return BenchRow(mode, 1 if mode == "greedy" else 4, "logprob", wall, 1, 0, 0, 0, 0.0, 0.0, image_side=side)

    rows = [row("greedy", 224, 2.0), row("beam", 224, 4.0), row("greedy", 1024, 4.0), row("beam", 1024, 6.0)]
    rows.append(row("reference", 1024, 24.0))
    add_ratios(rows)
    assert [r.vs_greedy for r in rows] == [1.0, 2.0, 1.0, 1.5, 6.0]
    assert rows[1].batched_speedup is None and rows[3].batched_speedup == 4.0
