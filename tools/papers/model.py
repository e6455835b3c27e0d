"""The shapes of a parsed paper and of the notes and answers made from it.

Everything here is a pydantic model so a parsed paper or a set of notes round-trips through
the JSON cache unchanged (`tools.papers.cache`). A `Cite` names a section and a page range
of one paper; it is what makes a note checkable by a reader with the PDF open.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, Field

from oncall.core.errors import OncallError


class PaperError(OncallError):
    """A paper that cannot be fetched or read. `code` is one of: paper_not_found,
    paper_not_pdf, paper_encrypted, paper_unreadable, paper_timeout, paper_too_large,
    paper_fetch_failed, paper_refused. The detail names the input and what to do."""


class Paragraph(BaseModel):
    page: int
    text: str


class Section(BaseModel):
    """One heading of the paper and the text under it, paragraph by paragraph."""

    title: str
    number: str = ""  # "3.2" for numbered headings
    level: int = 1
    paragraphs: list[Paragraph] = Field(default_factory=list)
    page: int = 1  # where the heading is

    @property
    def label(self) -> str:
        """How citations name it: `§3.2 Ablations`, `§Abstract`."""
        return f"§{self.number} {self.title}" if self.number else f"§{self.title}"

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.paragraphs)

    @property
    def page_end(self) -> int:
        return max([self.page, *(p.page for p in self.paragraphs)])


class Table(BaseModel):
    caption: str
    page: int
    section: str  # label of the section it appears in
    text: str  # Markdown pipe table, header first


class Paper(BaseModel):
    """A parsed paper. `content_hash` (sha256 of the PDF bytes) keys every cache entry."""

    content_hash: str
    source: str  # what was asked for: arXiv id, URL, path or indexed source
    label: str  # short name in citations and headings: `arXiv:2401.01234`, `paper.pdf`
    title: str
    authors: list[str] = Field(default_factory=list)
    abstract: str = ""
    sections: list[Section] = Field(default_factory=list)
    tables: list[Table] = Field(default_factory=list)
    references: list[str] = Field(default_factory=list)
    pages: int = 0
    url: str = ""  # where a person can open it (abs page, PDF URL or file path)
    published: str = ""

    def full_text(self) -> str:
        """Every word the paper holds, for checking that notes quote it faithfully."""
        parts = [self.title, ", ".join(self.authors), self.abstract]
        parts += [f"{s.title}\n{s.text}" for s in self.sections]
        parts += [f"{t.caption}\n{t.text}" for t in self.tables]
        parts += self.references
        return "\n\n".join(p for p in parts if p)


class Cite(BaseModel):
    """Where a point comes from: a section of a paper and its page (range)."""

    paper: str = ""  # paper label; empty when only one paper is in play
    section: str
    page: int | None = None
    page_end: int | None = None

    def render(self, with_paper: bool = False) -> str:
        where = f"{self.paper} {self.section}" if with_paper and self.paper else self.section
        if self.page and self.page_end and self.page_end != self.page:
            return f"[{where}, pp. {self.page}-{self.page_end}]"
        return f"[{where}, p. {self.page}]" if self.page else f"[{where}]"


class Point(BaseModel):
    """One note. `extracted`: quoted from the paper because the model gave nothing for this
    part; `unsupported`: numbers in the text that the paper does not contain."""

    text: str
    cites: list[Cite] = Field(default_factory=list)
    extracted: bool = False
    unsupported: list[str] = Field(default_factory=list)

    def render(self, with_paper: bool = False) -> str:
        body = _CITE_IN_TEXT.sub("", self.text).strip()
        cites = " ".join(dict.fromkeys(c.render(with_paper) for c in self.cites))
        line = f"{body} {cites}".strip()
        if self.extracted:
            line += " (quoted from the paper)"
        if self.unsupported:
            line += f" [check: {', '.join(self.unsupported)} not found in the paper]"
        return line


_CITE_IN_TEXT = re.compile(r"\s*\[[^\[\]]*§[^\[\]]*\]")

NoteField = Literal["problem", "method", "results", "limitations"]
NOTE_HEADINGS: dict[NoteField, str] = {
    "problem": "Problem",
    "method": "Method",
    "results": "Key results",
    "limitations": "Limitations",
}


class PaperNotes(BaseModel):
    """Reading notes on one paper, as a senior engineer would write them."""

    paper: str  # label
    title: str
    authors: list[str] = Field(default_factory=list)
    url: str = ""
    pages: int = 0
    problem: list[Point] = Field(default_factory=list)
    method: list[Point] = Field(default_factory=list)
    results: list[Point] = Field(default_factory=list)
    limitations: list[Point] = Field(default_factory=list)
    mode: Literal["single-pass", "map-reduce"] = "single-pass"
    llm_calls: int = 0
    truncated: bool = False  # the paper was too long for `papers.max_map_calls`: trimmed
    cached: bool = False

    def points(self) -> list[Point]:
        return [*self.problem, *self.method, *self.results, *self.limitations]


class PaperAnswer(BaseModel):
    """An answer to the asker's question from one or several papers, with citations."""

    question: str
    papers: list[str]
    points: list[Point] = Field(default_factory=list)
    llm_calls: int = 0
    cached: bool = False


class PaperReport(BaseModel):
    """What `summarize_paper` and `oncall paper` return: notes per paper, and the answer to
    the question when one was asked."""

    notes: list[PaperNotes]
    answer: PaperAnswer | None = None
    timings_ms: dict[str, float] = Field(default_factory=dict)
