"""Two small charts of an eval report, drawn as SVG text (no plotting library): accuracy against the
tokens a method spends per question, with interval bars, and accuracy per question kind per method.
Every label is escaped, so dataset text (kinds, method names) cannot become markup."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

from stagelens.evaluation.report import EvalReport

# Okabe-Ito: told apart with every common colour-vision deficiency
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000")
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]: steps of 1, 2 or 5 times a power of ten."""
    if high <= low:
        high = low + 1
    raw = (high - low) / max(1, count)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(ticks[-1] + step, 10))
    return ticks


def _text(x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" {extra}>{escape(text)}</text>'


def _frame(width: int, height: int, title: str, body: list[str]) -> str:
    return "\n".join(
        [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" {FONT}>',
            f"<title>{escape(title)}</title>",
            f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
            *body,
            "</svg>",
        ]
    )


def _y_axis(ticks: Sequence[float], to_y, left: float, right: float, label: str, top: float) -> list[str]:
    out = []
    for t in ticks:
        y = to_y(t)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        out.append(_text(left - 6, y + 4, f"{t:g}", "end"))
    out.append(_text(14, top - 10, label, "start"))
    return out


DODGE_PX = 9.0  # methods that spend (nearly) the same tokens are drawn this far apart, so their bars show
LABEL_GAP_PX = 14.0


def dodge(xs: Sequence[float]) -> list[float]:
    """x positions, with points closer than DODGE_PX spread symmetrically around their cluster's middle."""
    order = sorted(range(len(xs)), key=lambda i: xs[i])
    out = list(xs)
    cluster: list[int] = []
    for i in [*order, None]:
        if i is not None and (not cluster or xs[i] - xs[cluster[-1]] < DODGE_PX):
            cluster.append(i)
            continue
        middle = sum(xs[j] for j in cluster) / len(cluster)
        for k, j in enumerate(cluster):
            out[j] = middle + (k - (len(cluster) - 1) / 2) * DODGE_PX
        cluster = [i] if i is not None else []
    return out


def spread(ys: Sequence[float], xs: Sequence[float], near_px: float = 120.0) -> list[float]:
    """Label baselines moved apart (downwards) so labels of nearby points do not overlap."""
    out = list(ys)
    placed: list[int] = []
    for i in sorted(range(len(ys)), key=lambda i: ys[i]):
        for j in placed:
            if abs(xs[i] - xs[j]) < near_px and abs(out[i] - out[j]) < LABEL_GAP_PX:
                out[i] = out[j] + LABEL_GAP_PX
        placed.append(i)
    return out


def accuracy_vs_tokens(report: EvalReport, width: int = 640, height: int = 400) -> str:
    """Each method at (mean tokens per question, accuracy), with its interval as a vertical bar."""
    left, right, top, bottom = 60.0, width - 20.0, 40.0, height - 50.0
    methods = report.methods
    xs = [m.mean_tokens for m in methods]
    lows = [100 * m.accuracy.low for m in methods]
    highs = [100 * m.accuracy.high for m in methods]
    x_ticks = nice_ticks(0, max(xs) * 1.1 or 1)
    y_ticks = nice_ticks(max(0.0, min(lows) - 5), min(100.0, max(highs) + 5))

    def to_x(v: float) -> float:
        return left + (v - x_ticks[0]) / (x_ticks[-1] - x_ticks[0]) * (right - left)

    def to_y(v: float) -> float:
        return bottom - (v - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]) * (bottom - top)

    body = _y_axis(y_ticks, to_y, left, right, f"accuracy (%), {round(100 * report.level)} % interval", top)
    for t in x_ticks:
        body.append(_text(to_x(t), bottom + 18, f"{t:g}"))
    body.append(_text((left + right) / 2, height - 12, "tokens generated per question (mean)"))
    body.append(f'<line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#888"/>')
    xs_px = dodge([to_x(m.mean_tokens) for m in methods])
    label_ys = spread([to_y(100 * m.accuracy.estimate) - 6 for m in methods], xs_px)
    for i, m in enumerate(methods):
        x, color = xs_px[i], _color(i)
        y, y_low, y_high = to_y(100 * m.accuracy.estimate), to_y(100 * m.accuracy.low), to_y(100 * m.accuracy.high)
        body.append(f'<g class="method"><title>{escape(_point_title(m))}</title>')
        body.append(
            f'<line x1="{x:.1f}" y1="{y_low:.1f}" x2="{x:.1f}" y2="{y_high:.1f}" stroke="{color}" stroke-width="2"/>'
        )
        for cap in (y_low, y_high):
            body.append(f'<line x1="{x - 5:.1f}" y1="{cap:.1f}" x2="{x + 5:.1f}" y2="{cap:.1f}" stroke="{color}"/>')
        body.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="5" fill="{color}"/>')
        anchor = "end" if x > (left + right) / 2 else "start"
        near = [p for p in xs_px if abs(p - x) <= DODGE_PX * len(methods)]  # its cluster: labels clear every bar
        label_x = min(near) - 9 if anchor == "end" else max(near) + 9
        body.append(_text(label_x, label_ys[i], m.method, anchor, f'fill="{color}"'))
        body.append("</g>")
    return _frame(width, height, "Accuracy against tokens per question", body)


def _point_title(m) -> str:
    a = m.accuracy
    return f"{m.method}: {100 * a.estimate:.1f} % [{100 * a.low:.1f}, {100 * a.high:.1f}], {m.mean_tokens:.1f} tokens"


def _legend_rows(names: Sequence[str], left: float, right: float) -> list[list[tuple[float, int]]]:
    """Where each legend entry goes: rows of (x, method index), wrapped at `right`."""
    rows: list[list[tuple[float, int]]] = [[]]
    x = left
    for i, name in enumerate(names):
        entry = 24 + 7 * len(name)
        if rows[-1] and x + entry > right:
            rows.append([])
            x = left
        rows[-1].append((x, i))
        x += entry
    return rows


def accuracy_by_kind(report: EvalReport, width: int = 720, height: int = 380) -> str:
    """Grouped bars: for each question kind, one bar per method."""
    kinds = list(report.methods[0].by_kind)
    legend = _legend_rows([m.method for m in report.methods], 50.0, width - 20.0)
    height += 18 * (len(legend) - 1)
    left, right, top, bottom = 50.0, width - 20.0, 40.0, height - 72.0 - 18 * len(legend)
    group = (right - left) / max(1, len(kinds))
    bar = group * 0.8 / max(1, len(report.methods))

    def to_y(v: float) -> float:
        return bottom - v / 100 * (bottom - top)

    body = _y_axis(nice_ticks(0, 100), to_y, left, right, "accuracy (%) by question kind", top)
    for k, kind in enumerate(kinds):
        x0 = left + k * group + group * 0.1
        for i, m in enumerate(report.methods):
            n, acc = m.by_kind[kind]
            y = to_y(100 * acc)
            body.append(
                f'<rect x="{x0 + i * bar:.1f}" y="{y:.1f}" width="{max(1.0, bar - 1):.1f}" height="{bottom - y:.1f}" '
                f'fill="{_color(i)}"><title>{escape(f"{m.method}, {kind}: {100 * acc:.1f} % of {n}")}</title></rect>'
            )
        cx = x0 + group * 0.4
        body.append(_text(cx, bottom + 14, kind, "end", f'transform="rotate(-35 {cx:.1f} {bottom + 14:.1f})"'))
    for row_number, row in enumerate(legend):
        legend_y = height - 12 - 18 * (len(legend) - 1 - row_number)
        for x, i in row:
            body.append(f'<rect x="{x:.1f}" y="{legend_y - 9}" width="10" height="10" fill="{_color(i)}"/>')
            body.append(_text(x + 14, legend_y, report.methods[i].method, "start"))
    return _frame(width, height, "Accuracy by question kind", body)
