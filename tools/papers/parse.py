"""A PDF -> `Paper`: title, authors, abstract, sections with pages, tables, references.

The PDF is first checked the way ingest checks it (`ingest.formats.pdf.count_pages`: no
password we would have to guess, extraction allowed, page count under the cap), then laid
out line by line (`tools.papers.layout`). Headings are lines set larger than the body, or
bold / standing alone *and* numbered ("3.2 Ablations") or named like a paper section
("Abstract", "Related Work"...). When a PDF shows no such headings (one font, no numbers),
the section titles that unstructured's text partitioner finds through
`ingest.partition.partition_file` are used instead, so an odd paper still gets sections.
"""

from __future__ import annotations

import re
from pathlib import Path

from ingest.formats.base import PartitionError
from ingest.formats.pdf import count_pages
from tools.papers.layout import CAPTION, LaidOutTable, Line, body_font_size, find_tables, read_lines
from tools.papers.model import Paper, PaperError, Paragraph, Section, Table

PARSER_VERSION = "1"  # part of the parse cache key: bump when the output changes
NAMED = re.compile(
    r"^(abstract|introduction|background|related work|preliminaries|methods?|methodology|"
    r"approach|model|experiments?|experimental (?:setup|results)|evaluation|results|"
    r"discussion|analysis|conclusions?|limitations|future work|acknowledge?ments|"
    r"references|bibliography|appendix(?: [a-z])?|ethics statement)$",
    re.IGNORECASE,
)
NUMBERED = re.compile(r"^(\d{1,2}(?:\.\d{1,2}){0,3}|[A-H](?:\.\d{1,2}){0,2})\.?\s+([A-Z].{1,80})$")
INLINE_ABSTRACT = re.compile(r"^abstract\s*[.:—–-]\s*(.+)$", re.IGNORECASE)
_AFFILIATION = re.compile(
    r"universit|institut|laborator|\blab\b|college|school|department|\binc\b|corp|research|"
    r"@|\bcenter\b|\bcentre\b|google|microsoft|meta|openai|deepmind",
    re.IGNORECASE,
)
_REF_MARKER = re.compile(r"^(\[\d+\]|\d+\.\s)")


def parse_pdf(path: Path, content_hash: str, source: str, label: str, max_pages: int) -> Paper:
    """Parse one PDF; raises `PaperError` naming the file and what to do."""
    pages = check_pdf(path, label, max_pages)
    lines = read_lines(path)
    if not lines:
        raise PaperError(
            "paper_unreadable",
            f"{label}: no text could be extracted (scanned or image-only PDF?): "
            "find a text PDF, e.g. the arXiv version",
        )
    tables = find_tables(lines)
    body = body_font_size(lines)
    title_lines = _title_lines(lines, body)
    title = " ".join(line.text for line in title_lines) or label
    sections, authors, owners = _sections(lines, body, tables, {id(x) for x in title_lines})
    if not any(s.title.lower() not in {"front matter", "abstract"} for s in sections):
        sections = _unstructured_sections(path) or sections
    by_title = {s.title.lower(): s.text for s in reversed(sections)}
    abstract = by_title.get("abstract") or by_title.get("front matter", "")
    references = next(
        (
            _split_references(s)
            for s in sections
            if s.title.lower() in {"references", "bibliography"}
        ),
        [],
    )
    sections = [s for s in sections if s.title.lower() not in {"references", "bibliography"}]
    return Paper(
        content_hash=content_hash,
        source=source,
        label=label,
        title=title,
        authors=authors,
        abstract=abstract,
        sections=[s for s in sections if s.paragraphs or s.title.lower() != "front matter"],
        tables=[
            Table(caption=t.caption, page=t.page, section=owners.get(t.anchor, ""), text=t.text)
            for t in tables
        ],
        references=references,
        pages=pages,
    )


def check_pdf(path: Path, label: str, max_pages: int) -> int:
    """Page count, after refusing encrypted, restricted, corrupt or oversized PDFs."""
    try:
        pages = count_pages(path)
    except PartitionError as exc:
        reason = str(exc)
        code = "paper_encrypted" if "password" in reason or "encrypt" in reason else None
        raise PaperError(code or "paper_unreadable", f"{label}: {reason}") from exc
    if pages > max_pages:
        raise PaperError(
            "paper_too_large",
            f"{label} has {pages} pages, over the {max_pages} page cap (papers.max_pages): "
            "pass the part you need or raise the cap",
        )
    return pages


def is_heading(line: Line, body: float, alone: bool, front: bool) -> bool:
    """Bold or alone in its box and shaped like a section title, or (past the front
    matter, where authors and affiliations are often set larger) larger than the body."""
    text = line.text
    if len(text) > 90 or text.endswith((",", ";")) or CAPTION.match(text):
        return False
    shaped = bool(NAMED.match(text.rstrip(":.")) or NUMBERED.match(text))
    bigger = line.size >= body + 0.9 and len(text.split()) <= 14 and not text.endswith(".")
    return (bigger and not front) or ((line.bold or alone or bigger) and shaped)


def _title_lines(lines: list[Line], body: float) -> list[Line]:
    first = [line for line in lines if line.page == 1][:15]
    if not first:
        return []
    biggest = max(line.size for line in first)
    if biggest < body + 0.9:
        return first[:1]
    start = next(i for i, line in enumerate(first) if line.size == biggest)
    title = [first[start]]
    for line in first[start + 1 :]:
        if line.size != biggest:
            break
        title.append(line)
    return title


def _sections(
    lines: list[Line], body: float, tables: list[LaidOutTable], title_ids: set[int]
) -> tuple[list[Section], list[str], dict[tuple[int, int, float, float], str]]:
    """Walk the lines in reading order, opening a section at each heading. Also returns
    the authors (from the lines before the first heading) and each table's section."""
    in_table = {key for t in tables for key in t.lines}
    anchors = {t.anchor for t in tables}
    owners: dict[tuple[int, int, float, float], str] = {}
    box_sizes: dict[tuple[int, int], int] = {}
    for line in lines:
        box_sizes[(line.page, line.box)] = box_sizes.get((line.page, line.box), 0) + 1
    front = Section(title="Front matter", level=0)
    sections = [front]
    names: list[str] = []
    last: Line | None = None
    for line in lines:
        if line.key in anchors:
            owners[line.key] = sections[-1].label if len(sections) > 1 else ""
        if id(line) in title_ids or line.key in in_table:
            continue
        inline = INLINE_ABSTRACT.match(line.text)
        if inline and len(sections) == 1:
            sections.append(Section(title="Abstract", page=line.page))
            _append(sections[-1], line.page, inline.group(1), new_paragraph=True)
        elif is_heading(line, body, box_sizes[(line.page, line.box)] == 1, len(sections) == 1):
            sections.append(_heading(line))
        elif len(sections) == 1 and not names_or_affiliation(line.text, names):
            # Before any heading, long lines that are not names are the unlabelled abstract.
            new_paragraph = last is None or (last.page, last.box) != (line.page, line.box)
            _append(front, line.page, line.text, new_paragraph)
        elif len(sections) > 1:
            new_paragraph = last is None or (last.page, last.box) != (line.page, line.box)
            _append(sections[-1], line.page, line.text, new_paragraph)
        last = line
    return sections, names, owners


def _heading(line: Line) -> Section:
    numbered = NUMBERED.match(line.text)
    if numbered and not NAMED.match(line.text):
        number, title = numbered.group(1), numbered.group(2).strip()
        return Section(title=title, number=number, level=number.count(".") + 1, page=line.page)
    return Section(title=line.text.rstrip(":."), page=line.page)


def _append(section: Section, page: int, text: str, new_paragraph: bool) -> None:
    paragraphs = section.paragraphs
    if new_paragraph or not paragraphs:
        paragraphs.append(Paragraph(page=page, text=text))
        return
    previous = paragraphs[-1].text
    if previous.endswith("-") and text[:1].islower():  # hyphenated across lines
        paragraphs[-1].text = previous[:-1] + text
    else:
        paragraphs[-1].text = f"{previous} {text}"


def names_or_affiliation(text: str, names: list[str]) -> bool:
    """True for a front-matter line of author names (added to `names`) or affiliations."""
    if _AFFILIATION.search(text):
        return True
    found = []
    for part in re.split(r",|\band\b|&|;", text):
        name = re.sub(r"[\d*†‡§¶]+", "", part).strip()
        words = name.split()
        if 2 <= len(words) <= 4 and all(w[:1].isupper() for w in words):
            found.append(name)
    if found and len(text.split()) <= 4 * len(found) + 2:
        names.extend(found)
        return True
    return False


def _split_references(section: Section) -> list[str]:
    """One string per bibliography entry: split at `[n]` / `n.` markers, else paragraphs."""
    text = section.text
    pieces = re.split(r"\s(?=\[\d+\]\s)", text)
    if len(pieces) > 1 or _REF_MARKER.match(text):
        return [" ".join(p.split()) for p in pieces if p.strip()]
    return [p.text for p in section.paragraphs]


def _unstructured_sections(path: Path) -> list[Section]:
    """Sections from unstructured's Title elements (via ingest's PDF partitioner)."""
    from ingest.partition import partition_file

    try:
        blocks = partition_file(path)
    except PartitionError:
        return []
    sections: list[Section] = []
    for block in blocks:
        page = block.page or 1
        if block.kind == "title" and len(block.text) <= 90:
            sections.append(Section(title=block.text, page=page))
        elif sections:
            _append(sections[-1], page, block.text, new_paragraph=True)
    return [s for s in sections if s.paragraphs]
