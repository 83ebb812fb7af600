"""`stagelens eval --report out.html | out.md`: the summary as a file a person reads, with its charts.

HTML is one self-contained file (inline CSS and SVG, no scripts; a Content-Security-Policy that
forbids loading anything). Markdown links its SVG charts, written beside it as ``<stem>-tokens.svg``
and ``<stem>-kinds.svg``. Everything that comes from the dataset or the results (kinds, questions,
answers, predictions, file names) is escaped for the format it lands in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from pathlib import Path
from urllib.parse import quote

from stagelens.evaluation.report import EvalReport, MethodReport, by_method
from stagelens.evaluation.results import Outcome
from stagelens.evaluation.svg import accuracy_by_kind, accuracy_vs_tokens
from stagelens.fileio import write_atomic

REPORT_SUFFIXES = (".md", ".html")
MAX_EXAMPLES = 8  # items where the methods disagree, shown with each method's answer
_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}"
    "table{border-collapse:collapse;margin:1rem 0}td,th{border:1px solid #ccc;padding:.25rem .5rem}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}figure{margin:1rem 0}"
)


class ReportError(ValueError):
    """The report cannot be written where asked."""


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def method_rows(report: EvalReport) -> tuple[list[str], list[list[str]]]:
    """The methods table: header and rows of plain text."""
    header = ["method", "items", "accuracy %", "interval", f"vs {report.baseline}", "interval", "+/-", "McNemar p"]
    header += ["format %", "tokens / q", "s / q"]
    verified = any(m.mean_verifier_tokens for m in report.methods)
    if verified:
        header.append("verifier tokens / q")
    rows = []
    for m in report.methods:
        a, v = m.accuracy, m.versus_baseline
        row = [m.method, str(m.n_items), _pct(a.estimate), f"[{_pct(a.low)}, {_pct(a.high)}]"]
        if v is None:
            row += ["(baseline)", "", "", ""]
        else:
            d = v.difference
            row += [f"{100 * d.estimate:+.1f}", f"[{100 * d.low:+.1f}, {100 * d.high:+.1f}]"]
            row += [f"{v.method_only}/{v.baseline_only}", f"{v.mcnemar_p:.3g}"]
        row += [_pct(m.format_rate), f"{m.mean_tokens:.1f}", f"{m.mean_seconds:.3f}"]
        if verified:
            row.append(f"{m.mean_verifier_tokens:.1f}")
        rows.append(row)
    return header, rows


def _table_rows(methods: Sequence[MethodReport], columns: Sequence[str], cell) -> list[list[str]]:
    return [[m.method, *(cell(m, c) for c in columns)] for m in methods]


def disagreements(outcomes: Iterable[Outcome], names: Sequence[str], limit: int = MAX_EXAMPLES) -> list[list[str]]:
    """Items some methods get right and others wrong: question, answer, then each method's prediction."""
    grouped, _ = by_method(outcomes, names)
    rows = []
    for per_item in zip(*(grouped[n] for n in names), strict=True):
        if len({o.correct for o in per_item}) > 1:
            first = per_item[0]
            marks = [f"{'right' if o.correct else 'wrong'}: {o.prediction}" for o in per_item]
            rows.append([str(first.index), first.question, first.answer, *marks])
            if len(rows) >= limit:
                break
    return rows


def _sections(report: EvalReport, outcomes: Sequence[Outcome]) -> list[tuple[str, list[str], list[list[str]]]]:
    names = [m.method for m in report.methods]
    sections = [("Methods", *method_rows(report))]
    kinds = list(report.methods[0].by_kind)
    if kinds:
        header = ["method", *(f"{k} ({report.methods[0].by_kind[k][0]})" for k in kinds)]
        sections.append(("Accuracy % by question kind", header, _table_rows(report.methods, kinds, _kind_cell)))
    stages = list(report.methods[0].by_stage)
    if stages:
        rows = _table_rows(report.methods, stages, lambda m, s: _pct(m.by_stage[s][1]))
        sections.append(("Kept stage equal to the reference, %", ["method", *stages], rows))
    examples = disagreements(outcomes, names)
    if examples:
        sections.append(("Items where the methods disagree", ["item", "question", "answer", *names], examples))
    return sections


def _kind_cell(m: MethodReport, kind: str) -> str:
    return _pct(m.by_kind[kind][1])


# ------------------------------------------------------------------------------------ Markdown

# what can start markup inside a line (emphasis, code, links, tables, strike-through); "<" and "&" are HTML-escaped
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")


def md_escape(text: str) -> str:
    """Text for a Markdown table cell: one line, Markdown punctuation escaped, no raw HTML."""
    one_line = " ".join(str(text).split())
    return _MD_SPECIAL.sub(r"\\\1", escape(one_line, quote=False))


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    numeric = [bool(rows) and all(_is_number(r[i]) for r in rows) for i in range(len(header))]
    lines = ["| " + " | ".join(md_escape(h) for h in header) + " |"]
    lines.append("|" + "|".join("--:" if n else "---" for n in numeric) + "|")
    lines += ["| " + " | ".join(md_escape(c) for c in row) + " |" for row in rows]
    return lines


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"[+-]?\d+(\.\d+)?(e[+-]?\d+)?", text))


def render_markdown(
    report: EvalReport, outcomes: Sequence[Outcome], facts: Mapping[str, str], charts: Sequence[tuple[str, str]]
) -> str:
    lines = ["# StageLens eval report", ""]
    lines += [f"- {md_escape(k)}: {md_escape(v)}" for k, v in facts.items()]
    lines += [f"- note: {md_escape(n)}" for n in report.notes]
    for title, header, rows in _sections(report, outcomes):
        lines += ["", f"## {md_escape(title)}", "", *_md_table(header, rows)]
        if title == "Methods":
            lines += ["", f"Intervals: {round(100 * report.level)} % percentile bootstrap over items; +/-: items right"]
            lines[-1] += f" only with the method / only with {md_escape(report.baseline)}."
            lines += ["", *(f"![{md_escape(alt)}]({name})" for alt, name in charts)]
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------------------- HTML


def _html_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td{' class=n' if _is_number(c) else ''}>{escape(c)}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(report: EvalReport, outcomes: Sequence[Outcome], facts: Mapping[str, str], svgs: Sequence[str]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
        f"<title>StageLens eval report</title><style>{_CSS}</style></head><body>",
        "<h1>StageLens eval report</h1><ul>",
        *(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in facts.items()),
        *(f"<li>note: {escape(n)}</li>" for n in report.notes),
        "</ul>",
    ]
    for title, header, rows in _sections(report, outcomes):
        parts += [f"<h2>{escape(title)}</h2>", _html_table(header, rows)]
        if title == "Methods":
            parts.append(
                f"<p>Intervals: {round(100 * report.level)} % percentile bootstrap over items; +/-: items right only "
                f"with the method / only with {escape(report.baseline)}.</p>"
            )
            parts += [f"<figure>{svg}</figure>" for svg in svgs]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _charts(report: EvalReport) -> list[tuple[str, str, str]]:
    """(title, file suffix, SVG) of each chart this report has."""
    charts = [("accuracy against tokens per question", "tokens", accuracy_vs_tokens(report))]
    if report.methods[0].by_kind:
        charts.append(("accuracy by question kind", "kinds", accuracy_by_kind(report)))
    return charts


def _write(path: Path, text: str) -> None:
    write_atomic(path, text.encode("utf-8"))


def write_report(path: Path, report: EvalReport, outcomes: Sequence[Outcome], facts: Mapping[str, str]) -> list[Path]:
    """Write the report (and, for Markdown, its charts beside it); the files written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in REPORT_SUFFIXES:
        raise ReportError(f"--report {path}: the file must end in .md (Markdown) or .html")
    charts = _charts(report)
    try:
        if suffix == ".html":
            _write(path, render_html(report, outcomes, facts, [svg for _, _, svg in charts]))
            return [path]
        written = []
        for _, name, svg in charts:
            chart = path.with_name(f"{path.stem}-{name}.svg")
            _write(chart, svg + "\n")
            written.append(chart)
        links = [(title, quote(f"{path.stem}-{name}.svg")) for title, name, _ in charts]
        _write(path, render_markdown(report, outcomes, facts, links))
        return [path, *written]
    except OSError as exc:
        raise ReportError(f"cannot write the report {path}: {exc}") from exc
