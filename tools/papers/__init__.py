"""summarize_paper: reading notes and answers from research papers, with section/page cites.

Sources (tools.papers.fetch, .library): arXiv ids and URLs through the arXiv API, any PDF
URL, local PDFs, and papers ingested into the `papers` collection. Parsing (.layout,
.parse): title, authors, abstract, sections with pages, tables, references. Notes (.notes,
.qa): single pass when the paper fits the model's context, section-wise map-reduce when
not; every number is checked against the paper (.numbers). Parsed papers and notes are
cached by content hash (.cache). `build_paper_reader(settings, base_url)` is the entry.
"""

from __future__ import annotations

from oncall.core.settings import Settings
from tools.papers.model import PaperAnswer, PaperError, PaperNotes, PaperReport
from tools.papers.numbers import NumberCheck, check_numbers
from tools.papers.reader import PaperReader
from tools.papers.render import render_report, report_hits, unsupported_numbers

__all__ = [
    "NumberCheck",
    "PaperAnswer",
    "PaperError",
    "PaperNotes",
    "PaperReader",
    "PaperReport",
    "build_paper_reader",
    "check_numbers",
    "render_report",
    "report_hits",
    "unsupported_numbers",
]


def build_paper_reader(settings: Settings, base_url: str | None) -> PaperReader:
    """A reader whose context budget is, in order: `papers.context_tokens`, what the server
    at `base_url` reports (asked on first use), the embedded server's context size."""
    from oncall.llm.context_budget import server_context_tokens

    fallback = settings.llm.embedded.context_size

    def ask_server() -> int:
        if not base_url:
            return fallback
        key = settings.llm.api_key.get_secret_value()
        return server_context_tokens(base_url, settings.llm.model, key) or fallback

    return PaperReader(settings.papers, settings.data_dir, settings.store, ask_server)
