"""`--report out.html | out.md`: the tables and charts render, and dataset text is escaped everywhere."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from stagelens.evaluation.report import summarize
from stagelens.evaluation.report_files import ReportError, md_escape, write_report
from stagelens.evaluation.results import Outcome
from stagelens.evaluation.svg import accuracy_by_kind, accuracy_vs_tokens, dodge, nice_ticks

EVIL_KIND = '<script>alert("kind")</script>'
EVIL_QUESTION = "Which | one? <img src=x onerror=alert(1)> [link](javascript:alert(2)) **bold**"


def _outcomes() -> list[Outcome]:
    rows = []
    for i in range(8):
        kind = EVIL_KIND if i % 2 else "count"
        rows.append(Outcome("greedy", i, kind, i % 3 == 0, True, 80 + i, 0.2, {"caption": i < 2}, EVIL_QUESTION, "B"))
        rows.append(
            Outcome(
                "beam:4:logprob",
                i,
                kind,
                i % 2 == 0,
                True,
                320 + i,
                0.8,
                {"caption": True},
                EVIL_QUESTION,
                "B",
                prediction="</td><script>x()</script>",
            )
        )
    return rows


def _report():
    return summarize(_outcomes(), ["greedy", "beam:4:logprob"], resamples=200)


FACTS = {"dataset": "evil<b>.jsonl", "model": "m.gguf"}


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append(tag)


def test_html_report_is_self_contained_and_escapes_dataset_text(tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    assert write_report(path, _report(), _outcomes(), FACTS) == [path]
    html = path.read_text(encoding="utf-8")
    parser = _Tags()
    parser.feed(html)
    assert "script" not in parser.tags and "img" not in parser.tags and "b" not in parser.tags
    assert parser.tags.count("svg") == 2 and "link" not in parser.tags  # both charts inline, nothing fetched
    assert "&lt;script&gt;alert(&quot;kind&quot;)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;/td&gt;&lt;script&gt;x()" in html
    assert "Content-Security-Policy" in html and "default-src &#x27;none&#x27;" not in html  # the policy is live
    assert "default-src 'none'" in html
    # the numbers are the summary's
    assert ">50.0<" in html and ">37.5<" in html and "vs greedy" in html


def test_markdown_report_writes_its_charts_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "my report.md"
    written = write_report(path, _report(), _outcomes(), FACTS)
    assert written == [path, tmp_path / "my report-tokens.svg", tmp_path / "my report-kinds.svg"]
    text = path.read_text(encoding="utf-8")
    assert "![accuracy against tokens per question](my%20report-tokens.svg)" in text
    table_rows = [line for line in text.splitlines() if line.startswith("| ") and "Which" in line]
    assert table_rows and all(line.count(" | ") == 4 for line in table_rows)  # the "|" in the question is escaped
    assert "<script>" not in text and "<img" not in text and "&lt;script&gt;" in text
    assert r"\[link\]" in text and r"\*\*bold\*\*" in text
    for svg in written[1:]:
        root = ET.fromstring(svg.read_text(encoding="utf-8"))  # well-formed XML
        assert root.tag.endswith("svg")
    kinds_svg = written[2].read_text(encoding="utf-8")
    assert EVIL_KIND not in kinds_svg and "&lt;script&gt;" in kinds_svg


def test_charts_place_each_method(tmp_path: Path) -> None:
    report = _report()
    tokens = ET.fromstring(accuracy_vs_tokens(report))
    ns = "{http://www.w3.org/2000/svg}"
    circles = tokens.findall(f".//{ns}circle")
    assert len(circles) == 2
    xs = [float(c.get("cx", 0)) for c in circles]
    ys = [float(c.get("cy", 0)) for c in circles]
    assert xs[0] < xs[1]  # greedy spends fewer tokens
    assert ys[0] > ys[1]  # and is less accurate here (37.5 % vs 50 %): lower on the page
    bars = ET.fromstring(accuracy_by_kind(report)).findall(f".//{ns}rect[@fill]")
    assert len([b for b in bars if b.find(f"{ns}title") is not None]) == 4  # 2 kinds x 2 methods
    assert dodge([100.0, 100.0, 300.0]) == [95.5, 104.5, 300.0]  # the same budget: both bars still show
    assert nice_ticks(0, 342) == [0, 100, 200, 300, 400] and nice_ticks(35, 62) == [30, 40, 50, 60, 70]


def test_report_suffix_and_markdown_escape(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"must end in \.md \(Markdown\) or \.html"):
        write_report(tmp_path / "r.pdf", _report(), _outcomes(), FACTS)
    assert md_escape("a|b\n<c> _d_") == r"a\|b &lt;c&gt; \_d\_"
