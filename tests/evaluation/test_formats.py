"""The community's dataset formats: VLMEvalKit TSV (base64 images, options A-D) and Hugging Face
exports (JSONL; parquet when pyarrow is installed), read into items whose images decode through
stagelens.images."""

from __future__ import annotations

import argparse
import base64
import builtins
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from stagelens.evaluation import cli as eval_cli
from stagelens.evaluation.dataset import DatasetError, EmbeddedImage, dataset_format, load_dataset
from stagelens.images import load_image

HEADER = ["index", "image", "question", "hint", "A", "B", "C", "D", "answer", "category"]


def _png(color: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def _tsv(tmp_path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    path = tmp_path / "bench.tsv"
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


def test_vlmevalkit_tsv_items_with_base64_images(tmp_path: Path) -> None:
    red, blue = _png((200, 20, 20)), _png((20, 20, 200), (64, 48))
    rows = [
        ["0", base64.b64encode(red).decode(), "What colour is it?", "nan", "red", "blue", "green", "", "A", "colour"],
        [
            "1",
            base64.b64encode(blue).decode(),
            "Which shape?",
            "Look closely",
            "circle",
            "square",
            "",
            "",
            "B",
            "shape",
        ],
        ["2", "1", "Same picture: what colour?", "", "red", "blue", "", "", "B", "colour"],  # reuses row 1's image
    ]
    items = load_dataset(_tsv(tmp_path, rows))
    first, second, third = items
    assert first.choices == ("red", "blue", "green") and first.answer == "A" and first.lettered
    assert first.kind == "colour" and first.line == 2
    assert first.question == (
        "Question: What colour is it?\nOptions:\nA. red\nB. blue\nC. green\n"
        "Please select the correct answer from the options above."
    )
    assert second.question.startswith("Hint: Look closely\nQuestion: Which shape?\n")
    assert isinstance(third.image, EmbeddedImage) and third.image.data == blue
    # the one decode path: the same pixels and digest as the file itself through stagelens.images
    (tmp_path / "blue.png").write_bytes(blue)
    prepared = second.prepared_image(336)
    assert prepared.sent_size == (64, 48) and prepared.digest == load_image(tmp_path / "blue.png").digest
    assert first.prepared_image(336).digest != prepared.digest
    assert second.is_correct("(B)") and second.is_correct("square") and not second.is_correct("Answer: A")


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (
            ["0", "!!not base64!!" * 10, "q?", "", "a", "b", "", "", "A", ""],
            r"bench\.tsv:2: the image is not valid base64",
        ),
        (["0", "7", "q?", "", "a", "b", "", "", "A", ""], r"bench\.tsv:2: no image"),
        (["0", "IMG", "q?", "", "a", "", "c", "", "A", ""], r"bench\.tsv:2: options must be A, B, C"),
        (["0", "IMG", "q?", "", "a", "b", "", "", "D", ""], r"bench\.tsv:2: answer D is not one of the options A-B"),
        (["0", "IMG", "", "", "a", "b", "", "", "A", ""], r"bench\.tsv:2: 'question' is missing"),
    ],
)
def test_bad_tsv_rows_are_named(tmp_path: Path, row: list[str], message: str) -> None:
    row = [base64.b64encode(_png((1, 2, 3))).decode() if cell == "IMG" else cell for cell in row]
    with pytest.raises(DatasetError, match=message):
        load_dataset(_tsv(tmp_path, [row]))


def test_eval_runs_a_tsv_end_to_end(tiny_model, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parser = argparse.ArgumentParser()
    eval_cli.register(parser.add_subparsers())
    image = base64.b64encode(_png((200, 20, 20))).decode()
    path = _tsv(tmp_path, [[str(i), image, "What colour?", "", "red", "blue", "", "", "A", "colour"] for i in range(2)])
    argv = ["eval", "--dataset", str(path), "--methods", "greedy", "--model", str(tiny_model.text)]
    argv += ["--mmproj", str(tiny_model.mmproj), "--max-stage-tokens", "4", "--threads", "1", "--quiet", "--json"]
    argv += ["--out", str(tmp_path / "r.jsonl")]
    assert eval_cli.run(parser.parse_args(argv)) == 0
    (row,) = json.loads(capsys.readouterr().out)["results"]
    assert row["items"] == 2 and row["by_kind"]["colour"]["items"] == 2
    records = [json.loads(line) for line in (tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()]
    assert records[0]["image"] == "bench.tsv index 0"
    assert records[0]["traces"][0]["images"][0]["sent_size"] == [40, 30]


def test_tsv_without_options_is_free_form_and_may_name_image_files(tmp_path: Path) -> None:
    image = base64.b64encode(_png((9, 9, 9))).decode()
    (tmp_path / "grey.png").write_bytes(_png((9, 9, 9)))
    header = ["index", "image", "image_path", "question", "answer"]
    path = _tsv(tmp_path, [["5", image, "", "How many?", "3"], ["6", "", "grey.png", "And now?", "2"]], header=header)
    first, second = load_dataset(path)
    assert first.question == "How many?" and first.choices == () and not first.lettered
    assert first.is_correct("three") and not first.is_correct("C")
    assert second.image == (tmp_path / "grey.png").resolve()
    assert second.prepared_image(336).digest == first.prepared_image(336).digest


def _hf_lines(tmp_path: Path, records: list[dict]) -> Path:
    path = tmp_path / "export.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def test_hugging_face_jsonl_export(tmp_path: Path) -> None:
    png = _png((10, 200, 10))
    (tmp_path / "pics").mkdir()
    (tmp_path / "pics" / "g.png").write_bytes(png)
    records = [
        {
            "question": "Colour?",
            "image": {"bytes": base64.b64encode(png).decode(), "path": None},
            "options": ["red", "green"],
            "answer": 1,
            "category": "colour",
        },
        {
            "question": "Colour?",
            "image": {"bytes": None, "path": "pics/g.png"},
            "choices": "['red', 'green']",
            "answer": "green",
        },
        {
            "question": "Colour?",
            "images": [{"bytes": list(png)}],
            "A": "red",
            "B": "green",
            "answer": "B",
            "hint": "a hint",
        },
        {"question": "Colour?", "image": "pics/g.png", "answer": "green"},
    ]
    path = _hf_lines(tmp_path, records)
    with pytest.raises(DatasetError, match=r"export\.jsonl:1: not StageLens's JSONL .*--format hf"):
        load_dataset(path)  # .jsonl means our format unless told
    items = load_dataset(path, format="hf")
    assert [i.answer for i in items] == ["B", "green", "B", "green"]
    assert [i.choices for i in items[:3]] == [("red", "green")] * 3 and items[3].choices == ()
    assert items[0].kind == "colour" and items[2].question.startswith("Hint: a hint\n")
    assert items[1].image == (tmp_path / "pics" / "g.png").resolve()
    digests = {item.prepared_image(336).digest for item in items}
    assert len(digests) == 1  # bytes as base64, as a path, as a list of byte values: one image
    assert all(item.is_correct("Answer: B") for item in items[:3]) and items[3].is_correct("Green.")
    assert load_dataset(path, limit=2, format="hf")[1].line == 2


def test_bad_hugging_face_records_are_named(tmp_path: Path) -> None:
    path = _hf_lines(tmp_path, [{"question": "q", "image": {"path": "nowhere.png"}, "answer": "a"}])
    with pytest.raises(DatasetError, match=r"export\.jsonl:1: image nowhere\.png not found"):
        load_dataset(path, format="hf")
    path = _hf_lines(tmp_path, [{"question": "q", "image": "#" * 100, "options": ["a"], "answer": "A"}])
    with pytest.raises(DatasetError, match="not valid base64"):
        load_dataset(path, format="hf")
    path = _hf_lines(tmp_path, [{"question": "q", "image": {"bytes": [1, 2]}, "options": ["a"], "answer": 3}])
    with pytest.raises(DatasetError, match="answer index 3 is not one of the 1 options"):
        load_dataset(path, format="hf")


def test_the_format_comes_from_the_suffix_or_is_given(tmp_path: Path) -> None:
    assert dataset_format(Path("a.tsv")) == "tsv" and dataset_format(Path("a.parquet")) == "hf"
    assert dataset_format(Path("a.jsonl")) == "jsonl" and dataset_format(Path("a.txt"), "tsv") == "tsv"
    with pytest.raises(DatasetError, match="pass --format jsonl|tsv|hf"):
        dataset_format(Path("a.csv"))


def test_parquet_export(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    png = _png((200, 200, 0))
    table = pa.table(
        {
            "question": ["Colour?"],
            "image": [{"bytes": png, "path": "ignored.png"}],
            "options": [["yellow", "blue"]],
            "answer": ["A"],
        }
    )
    pq.write_table(table, tmp_path / "export.parquet")
    (item,) = load_dataset(tmp_path / "export.parquet")
    assert item.choices == ("yellow", "blue") and isinstance(item.image, EmbeddedImage) and item.image.data == png
    assert item.prepared_image(336).sent_size == (40, 30)


def test_parquet_without_pyarrow_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_pyarrow(name, *args, **kwargs):
        if name.split(".")[0] == "pyarrow":
            raise ImportError("No module named 'pyarrow'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pyarrow)
    (tmp_path / "export.parquet").write_bytes(b"PAR1")
    with pytest.raises(DatasetError) as caught:
        load_dataset(tmp_path / "export.parquet")
    message = str(caught.value)
    assert "pip install 'stagelens[research]'" in message and "\n" not in message
