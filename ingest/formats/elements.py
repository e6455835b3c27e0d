"""unstructured elements -> `Block`s, HTML tables -> pipe tables, and pipe tables read back."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from ingest.formats.base import Block

_SKIPPED = {"PageBreak", "Header", "Footer", "PageNumber"}


def to_blocks(elements: list[Any], page: int | None = None) -> list[Block]:
    """Titles keep their depth, tables become pipe tables, page furniture is dropped."""
    blocks = []
    for el in elements:
        category = getattr(el, "category", "")
        text = (el.text or "").strip()
        if not text or category in _SKIPPED:
            continue
        el_page = page if page is not None else getattr(el.metadata, "page_number", None)
        if category == "Title":
            depth = el.metadata.category_depth or 0
            blocks.append(Block("title", text, depth=depth, page=el_page))
        elif category == "Table":
            html = getattr(el.metadata, "text_as_html", None)
            table = html_table_to_text(html) if html else text
            blocks.append(Block("table", table or text, page=el_page))
        else:
            blocks.append(Block("text", text, page=el_page))
    return blocks


_BREAKING_TAGS = {"br", "p", "div", "li", "ul", "ol"}


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in {"td", "th"}:
            self._cell = []
        elif self._cell is not None and tag in _BREAKING_TAGS:
            self._cell.append(" ")  # <br>, <p>... inside a cell separate words

    def handle_endtag(self, tag: str) -> None:
        if tag in {"td", "th"} and self._cell is not None:
            if not self.rows:
                self.rows.append([])
            cell = " ".join("".join(self._cell).split())
            self.rows[-1].append(cell.replace("|", "\\|"))  # a bare | would split the column
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_table_to_text(html: str) -> str:
    """Render an HTML table as a pipe table so rows and columns survive into the chunk."""
    parser = _TableParser()
    parser.feed(html)
    return rows_to_pipe_table([r for r in parser.rows if any(cell for cell in r)])


def rows_to_pipe_table(rows: list[list[str]]) -> str:
    """Rows of cell strings (first row = header) as a Markdown pipe table."""
    if not rows:
        return ""
    width = max(len(r) for r in rows)
    rows = [r + [""] * (width - len(r)) for r in rows]
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * width]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)


_RULE = re.compile(r"^\|?\s*:?-{3,}")


def pipe_table_rows(table: str) -> list[list[str]]:
    """The inverse of `rows_to_pipe_table`: header then data rows as cell strings (an
    escaped pipe, `a \\| b`, stays inside its cell); [] without a header rule."""
    lines = [ln.strip() for ln in table.splitlines() if ln.strip().startswith("|")]
    if len(lines) < 2 or not _RULE.match(lines[1]):
        return []
    return [_cells(line) for line in [lines[0], *lines[2:]]]


def _cells(line: str) -> list[str]:
    inner = line.removeprefix("|")
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", inner)]
