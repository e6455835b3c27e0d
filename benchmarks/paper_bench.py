"""Paper reading speed and number faithfulness with the real model.

For each page count a paper PDF is generated (oncall/testing/paper_pdfs.py: sections, a table,
numbers in every sentence), then timed cold, with empty caches:

- parse: PDF checks + pdfminer layout + structure (no LLM);
- notes: single pass or map-reduce against the configured LLM (the embedded llama.cpp
  server unless ONCALL_LLM__BASE_URL is set; a server from `oncall llm serve` is reused),
  with generated tokens capped so a run stays bounded on a small CPU box;
- faithfulness: every number in the notes (model-written points and quoted ones) checked
  against the PDF text with `tools.papers.check_numbers`.

    .venv/bin/python benchmarks/paper_bench.py [--pages 10 40] [--map-max-tokens 96]
        [--notes-max-tokens 320] [--out benchmarks/results/papers.json]

The machine's load average is recorded before and after: timings on a shared box are only
comparable between runs at similar load.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent

from oncall.cli.compose import llm_endpoint  # noqa: E402
from oncall.core.settings import Settings  # noqa: E402
from oncall.llm.client import build_chat_model  # noqa: E402
from oncall.testing.paper_pdfs import write_paper  # noqa: E402
from tools.papers import PaperReader, build_paper_reader, check_numbers  # noqa: E402
from tools.papers.cache import content_hash  # noqa: E402
from tools.papers.parse import parse_pdf  # noqa: E402


def bench_one(pages: int, reader: PaperReader, model: Any, workdir: Path) -> dict[str, Any]:
    pdf = write_paper(workdir / f"paper-{pages}p.pdf", pages=pages)
    data = pdf.read_bytes()
    started = time.perf_counter()
    paper = parse_pdf(pdf, content_hash(data), str(pdf), pdf.name, max_pages=1000)
    parse_s = time.perf_counter() - started
    started = time.perf_counter()
    notes = reader.notes(paper, model)
    notes_s = time.perf_counter() - started
    written = [p for p in notes.points() if not p.extracted]
    text = "\n".join(p.text for p in notes.points())
    check = check_numbers(text, paper.full_text())
    model_check = check_numbers("\n".join(p.text for p in written), paper.full_text())
    return {
        "pages": paper.pages,
        "pdf_kb": round(len(data) / 1024),
        "text_chars": len(paper.full_text()),
        "sections": len(paper.sections),
        "tables": len(paper.tables),
        "parse_s": round(parse_s, 2),
        "notes_s": round(notes_s, 1),
        "mode": notes.mode,
        "llm_calls": notes.llm_calls,
        "truncated": notes.truncated,
        "points": len(notes.points()),
        "points_by_model": len(written),
        "numbers_checked": len(check.checked),
        "numbers_unsupported": check.unsupported,
        "model_numbers_checked": len(model_check.checked),
        "model_numbers_unsupported": model_check.unsupported,
        "cited_points": sum(1 for p in notes.points() if p.cites),
        "notes": notes.model_dump(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[10, 40])
    parser.add_argument("--map-max-tokens", type=int, default=96)
    parser.add_argument("--notes-max-tokens", type=int, default=320)
    parser.add_argument(
        "--max-map-calls", type=int, default=None, help="Cap map calls (longer papers shortened)."
    )
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/papers.json"))
    args = parser.parse_args()
    settings = Settings()
    papers = settings.papers.model_copy(
        update={
            "map_max_tokens": args.map_max_tokens,
            "notes_max_tokens": args.notes_max_tokens,
            "max_map_calls": args.max_map_calls or settings.papers.max_map_calls,
        }
    )
    console = Console()
    load_before = os.getloadavg()
    results: list[dict[str, Any]] = []
    with llm_endpoint(settings) as url, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        papers = papers.model_copy(update={"cache_dir": workdir / "cache"})  # always cold
        reader = build_paper_reader(settings.model_copy(update={"papers": papers}), url)
        model = build_chat_model(settings.llm, url, thinking=False)
        for pages in args.pages:
            console.print(f"[bold]{pages} pages[/] (budget {reader.budget})")
            results.append(bench_one(pages, reader, model, workdir))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps({"partial": True, "runs": results}, indent=2))
        reader.close()
    report = {
        "model": settings.llm.embedded.model if not settings.llm.base_url else settings.llm.model,
        "context_tokens": reader.budget.n_ctx,
        "map_max_tokens": args.map_max_tokens,
        "notes_max_tokens": args.notes_max_tokens,
        "max_map_calls": papers.max_map_calls,
        "load_avg_before": [round(x, 2) for x in load_before],
        "load_avg_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "runs": results,
    }
    args.out.write_text(json.dumps(report, indent=2))
    table = Table("pages", "chars", "parse s", "notes s", "mode", "calls", "numbers", "unsupported")
    table.caption = "numbers: quoted in the notes; unsupported: not found in the PDF text"
    for r in results:
        table.add_row(
            str(r["pages"]),
            str(r["text_chars"]),
            str(r["parse_s"]),
            str(r["notes_s"]),
            r["mode"],
            str(r["llm_calls"]),
            str(r["numbers_checked"]),
            ", ".join(r["numbers_unsupported"]) or "none",
        )
    console.print(table)
    console.print(f"load average before {load_before}, after {os.getloadavg()}; {args.out}")


if __name__ == "__main__":
    main()
