"""Small inline-SVG charts for the HTML report (no plotting library, no external files).

Each function returns one `<svg>` element as a string; every label is escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 440
BAR_COLOURS = ("#4c78a8", "#f58518", "#54a24b", "#e45756")
_FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def histogram(
    values: Sequence[float], title: str, bins: int = 10, lo: float = 0.0, hi: float = 1.0
) -> str:
    """Counts of `values` in `bins` equal-width bins over [lo, hi] (values outside are
    clamped into the end bins)."""
    counts = [0] * bins
    span = (hi - lo) or 1.0
    for v in values:
        i = int((v - lo) / span * bins)
        counts[min(max(i, 0), bins - 1)] += 1
    height, top, bottom, left = 170, 24, 24, 34
    plot_w, plot_h = WIDTH - left - 10, height - top - bottom
    peak = max(counts) or 1
    bar_w = plot_w / bins
    parts = [_title(title), _axis(left, top, plot_h, plot_w, peak)]
    for i, c in enumerate(counts):
        h = plot_h * c / peak
        x, y = left + i * bar_w, top + plot_h - h
        label = f"{lo + i * span / bins:.2f}-{lo + (i + 1) * span / bins:.2f}: {c}"
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
            f'fill="{BAR_COLOURS[0]}"><title>{escape(label)}</title></rect>'
        )
    for frac in (0.0, 0.5, 1.0):
        x = left + plot_w * frac
        parts.append(
            f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle" {_FONT}>'
            f"{lo + span * frac:g}</text>"
        )
    return _svg(height, parts)


def bars(
    labels: Sequence[str],
    series: Sequence[Sequence[float]],
    title: str,
    names: Sequence[str] = (),
    unit: str = "",
    max_value: float | None = None,
) -> str:
    """Horizontal bars, one row per label and one bar per series (e.g. p50 and p95)."""
    row_h = 8 + 12 * len(series)
    left, top = 150, 24 + (14 if names else 0)
    height = top + row_h * len(labels) + 10
    plot_w = WIDTH - left - 60
    peak = max_value or max((v for s in series for v in s), default=1.0) or 1.0
    parts = [_title(title)]
    for j, name in enumerate(names):
        parts.append(
            f'<rect x="{left + j * 90}" y="22" width="10" height="10" '
            f'fill="{BAR_COLOURS[j % 4]}"/><text x="{left + j * 90 + 14}" y="31" {_FONT}>'
            f"{escape(name)}</text>"
        )
    for i, label in enumerate(labels):
        y0 = top + i * row_h
        parts.append(
            f'<text x="{left - 6}" y="{y0 + row_h / 2 + 4:.1f}" text-anchor="end" {_FONT}>'
            f"{escape(_clip(label, 24))}</text>"
        )
        for j, s in enumerate(series):
            v = s[i]
            w = plot_w * min(v / peak, 1.0)
            y = y0 + 4 + j * 12
            parts.append(
                f'<rect x="{left}" y="{y}" width="{w:.1f}" height="10" '
                f'fill="{BAR_COLOURS[j % 4]}"><title>{escape(label)}: {v:.3g}{unit}</title></rect>'
                f'<text x="{left + w + 4:.1f}" y="{y + 9}" {_FONT}>{v:.3g}{escape(unit)}</text>'
            )
    return _svg(height, parts)


def _svg(height: float, parts: list[str]) -> str:
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0f}" '
        f'viewBox="0 0 {WIDTH} {height:.0f}" role="img">{body}</svg>'
    )


def _title(text: str) -> str:
    return f'<text x="4" y="14" font-weight="bold" {_FONT}>{escape(text)}</text>'


def _axis(left: float, top: float, plot_h: float, plot_w: float, peak: int) -> str:
    return (
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
        f'stroke="#888"/><line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" '
        f'stroke="#888"/><text x="{left - 4}" y="{top + 8}" text-anchor="end" {_FONT}>{peak}</text>'
        f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" {_FONT}>0</text>'
    )


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
