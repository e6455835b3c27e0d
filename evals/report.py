"""`report.html`: one self-contained page per run (inline CSS and SVG, no scripts, no
external files), readable from a CI artefact or a mail attachment.

Sections: headline metrics, score distributions, latency per stage, per-category (and
per-language) breakdown, and the items that failed, so a regression can be read item by item.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import Any

from evals import svg

# Per-item scores worth a distribution plot (0-1 range), in display order.
DISTRIBUTIONS = (
    "mrr",
    "ndcg@10",
    "token_f1",
    "similarity",
    "citation_precision",
    "judge_correctness",
    "judge_faithfulness",
)
# The metric the per-category chart shows, by preference.
HEADLINE = ("answer_accuracy", "hit@5", "route_accuracy", "mrr")
MAX_FAILURES = 40

_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}td.num{text-align:right;font-variant-numeric:tabular-nums}
.charts{display:flex;flex-wrap:wrap;gap:16px}.muted{color:#777;font-size:12px}
"""


def render_report(summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    """The whole HTML page for one run."""
    m = summary["metrics"]
    title = f"eval · {summary['mode']} · {summary['dataset']}"
    sections = [
        f"<h1>{escape(title)}</h1>",
        f'<p class="muted">{escape(summary["created_at"])} · {int(m.get("items", 0))} items · '
        f"config <code>{escape(json.dumps(summary['config'], sort_keys=True))}</code></p>",
        "<h2>Metrics</h2>",
        _metrics_table(m),
        "<h2>Score distributions</h2>",
        _distributions(rows),
        "<h2>Latency</h2>",
        _latency(summary.get("latency_ms", {})),
        "<h2>By category</h2>",
        _breakdown(summary.get("by_category", {}), "category"),
    ]
    if "by_language" in summary:
        sections += ["<h2>By language</h2>", _breakdown(summary["by_language"], "language")]
    if "route_confusion" in summary:
        sections += ["<h2>Routes (expected->chosen)</h2>", _kv_table(summary["route_confusion"])]
    sections += ["<h2>Failed items</h2>", _failures(rows)]
    body = "\n".join(sections)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}'
        f"</title><style>{_CSS}</style></head><body>{body}</body></html>"
    )


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.1f}"


def _metrics_table(metrics: dict[str, float]) -> str:
    rows = "".join(
        f'<tr><td>{escape(k)}</td><td class="num">{_fmt(v)}</td></tr>' for k, v in metrics.items()
    )
    return f"<table><tr><th>metric</th><th>value</th></tr>{rows}</table>"


def _kv_table(data: dict[str, Any]) -> str:
    rows = "".join(
        f'<tr><td>{escape(str(k))}</td><td class="num">{escape(str(v))}</td></tr>'
        for k, v in data.items()
    )
    return f"<table>{rows}</table>"


def _distributions(rows: Sequence[dict[str, Any]]) -> str:
    charts = []
    for name in DISTRIBUTIONS:
        values = [r["scores"][name] for r in rows if name in r.get("scores", {})]
        if values:
            charts.append(svg.histogram(values, f"{name} (n={len(values)})"))
    p_deep = [r["p_deep"] for r in rows if isinstance(r.get("p_deep"), int | float)]
    if p_deep:
        charts.append(svg.histogram(p_deep, f"router p(deep) (n={len(p_deep)})"))
    if not charts:
        return '<p class="muted">No per-item scores to plot.</p>'
    return f'<div class="charts">{"".join(charts)}</div>'


def _latency(latency: dict[str, dict[str, float]]) -> str:
    if not latency:
        return '<p class="muted">No timings recorded.</p>'
    stages = list(latency)
    chart = svg.bars(
        stages,
        [[latency[s]["p50"] for s in stages], [latency[s]["p95"] for s in stages]],
        "milliseconds per stage",
        names=("p50", "p95"),
        unit=" ms",
    )
    return f'<div class="charts">{chart}</div>'


def _breakdown(groups: dict[str, dict[str, float]], what: str) -> str:
    if not groups:
        return '<p class="muted">No breakdown.</p>'
    names = sorted({k for g in groups.values() for k in g if k != "items"})
    headline = next((h for h in HEADLINE if h in names), None)
    chart = ""
    if headline:
        labels = list(groups)
        values = [groups[g].get(headline, 0.0) for g in labels]
        chart = svg.bars(labels, [values], f"{headline} by {what}", max_value=1.0)
    head = "".join(f"<th>{escape(n)}</th>" for n in ["items", *names])
    body = "".join(
        f"<tr><td>{escape(g)}</td>"
        + "".join(f'<td class="num">{_fmt(vals.get(n))}</td>' for n in ["items", *names])
        + "</tr>"
        for g, vals in groups.items()
    )
    table = f"<table><tr><th>{escape(what)}</th>{head}</tr>{body}</table>"
    return f'<div class="charts">{chart}</div>{table}'


def failed(row: dict[str, Any]) -> bool:
    """An item worth looking at: an error, a retrieval miss, a wrong route or a wrong answer."""
    s = row.get("scores", {})
    return bool(
        row.get("error")
        or s.get("hit@5") == 0.0
        or s.get("route_correct") == 0.0
        or s.get("correct") == 0.0
    )


def _failures(rows: Sequence[dict[str, Any]]) -> str:
    bad = [r for r in rows if failed(r)]
    if not bad:
        return '<p class="muted">None.</p>'
    out = []
    for r in bad[:MAX_FAILURES]:
        got = r.get("error") or _what_happened(r)
        out.append(
            f"<tr><td>{escape(str(r['id']))}</td><td>{escape(str(r.get('category')))}</td>"
            f"<td>{escape(r.get('question', ''))}</td><td>{escape(got)}</td></tr>"
        )
    more = len(bad) - MAX_FAILURES
    note = f'<p class="muted">and {more} more in results.jsonl</p>' if more > 0 else ""
    return (
        f"<p>{len(bad)} of {len(rows)} items.</p><table><tr><th>id</th><th>category</th>"
        f"<th>question</th><th>what happened</th></tr>{''.join(out)}</table>{note}"
    )


def _what_happened(r: dict[str, Any]) -> str:
    parts = []
    if r.get("expected_route"):
        parts.append(f"route {r.get('route')} (expected {r['expected_route']})")
    if r.get("gold_doc_ids"):
        top = [x["doc"] for x in r.get("retrieved", [])[:5]]
        parts.append(f"gold {', '.join(r['gold_doc_ids'])}; top-5 {', '.join(top)}")
    if r.get("answer"):
        parts.append(f"answer: {r['answer'][:200]}")
    return " · ".join(parts)
