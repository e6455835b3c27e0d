"""PDF pages -> text lines with font size, weight and position, and tables rebuilt from them.

Ingest reads PDFs as page text (`ingest.formats.pdf`), which is right for chunks but loses
what a paper's structure is made of: headings are set larger or bold, and a table is a grid
of short cells that pdfminer emits column by column. This module keeps those facts, using
the same library (pdfminer.six) in its layout mode; `tools.papers.parse` turns the lines
into title, authors, sections and references.

A table is recognised only next to a "Table N" caption: rows are groups of short lines
sharing a baseline, and author blocks or two-column body text also line up that way.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ingest.formats.elements import rows_to_pipe_table

CELL_MAX_CHARS = 40
CAPTION = re.compile(r"^Table\s+(\d+|[IVX]+)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Line:
    page: int
    box: int  # text box on the page, in pdfminer's reading order
    text: str
    x0: float
    x1: float
    top: float  # distance from the top of the page
    size: float  # font size (median over the line's characters)
    bold: bool

    @property
    def key(self) -> tuple[int, int, float, float]:
        return (self.page, self.box, self.top, self.x0)


@dataclass(frozen=True)
class LaidOutTable:
    page: int
    caption: str
    rows: list[list[str]]
    lines: frozenset[tuple[int, int, float, float]]  # keys of the lines it consumed
    anchor: tuple[int, int, float, float]  # first line in reading order: where it sits

    @property
    def text(self) -> str:
        return rows_to_pipe_table(self.rows)


def read_lines(path: Path) -> list[Line]:
    """Every text line of the PDF in reading order (pdfminer's box flow, which follows
    columns), whitespace collapsed; empty lines dropped."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTChar, LTTextContainer, LTTextLine

    lines: list[Line] = []
    for page_no, page in enumerate(extract_pages(str(path)), start=1):
        boxes = [el for el in page if isinstance(el, LTTextContainer)]
        for box_no, box in enumerate(boxes):
            for line in box:
                if not isinstance(line, LTTextLine):
                    continue
                text = " ".join(line.get_text().split())
                chars = [c for c in line if isinstance(c, LTChar)]
                if not text or not chars:
                    continue
                sizes = sorted(c.size for c in chars)
                bold = sum("bold" in c.fontname.lower() for c in chars) > len(chars) / 2
                top = page.height - line.y1
                lines.append(
                    Line(page_no, box_no, text, line.x0, line.x1, top, sizes[len(sizes) // 2], bold)
                )
    return lines


def body_font_size(lines: list[Line]) -> float:
    """The size most characters are set in: everything bigger is a heading or title."""
    weights: Counter[float] = Counter()
    for line in lines:
        weights[round(line.size, 1)] += len(line.text)
    return weights.most_common(1)[0][0] if weights else 10.0


def find_tables(lines: list[Line]) -> list[LaidOutTable]:
    """Tables on every page: a captioned run of at least two rows of two or more cells."""
    tables: list[LaidOutTable] = []
    order = {line.key: i for i, line in enumerate(lines)}
    for page in sorted({line.page for line in lines}):
        on_page = [line for line in lines if line.page == page]
        captions = [line for line in on_page if CAPTION.match(line.text)]
        for run in _row_runs(on_page):
            caption = _nearest_caption(captions, run)
            if caption is None:
                continue
            keys = frozenset(cell.key for row in run for cell in row)
            anchor = min(keys, key=order.__getitem__)
            rows = [[cell.text for cell in row] for row in run]
            tables.append(LaidOutTable(page, caption.text, rows, keys, anchor))
    return tables


def _row_runs(lines: list[Line]) -> Iterator[list[list[Line]]]:
    """Runs of vertically adjacent rows, each row = short lines sharing a baseline."""
    cells = [line for line in lines if len(line.text) <= CELL_MAX_CHARS]
    rows: list[list[Line]] = []
    for cell in sorted(cells, key=lambda c: (c.top, c.x0)):
        if rows and abs(rows[-1][0].top - cell.top) <= max(2.0, cell.size * 0.3):
            rows[-1].append(cell)
        else:
            rows.append([cell])
    run: list[list[Line]] = []
    for row in rows:
        row.sort(key=lambda c: c.x0)
        if len(row) < 2 or not _separate_columns(row):
            if len(run) >= 2:
                yield run
            run = []
            continue
        if run and row[0].top - run[-1][0].top > 3.0 * row[0].size:
            if len(run) >= 2:
                yield run
            run = []
        run.append(row)
    if len(run) >= 2:
        yield run


def _separate_columns(row: list[Line]) -> bool:
    return all(b.x0 >= a.x1 - 1.0 for a, b in itertools.pairwise(row))


def _nearest_caption(captions: list[Line], run: list[list[Line]]) -> Line | None:
    """A caption just above the run (tables) or just below it (some styles)."""
    top, bottom = run[0][0].top, run[-1][0].top
    height = run[0][0].size
    for caption in captions:
        above = 0 <= top - caption.top <= 6 * height
        below = 0 <= caption.top - bottom <= 4 * height
        if above or below:
            return caption
    return None
