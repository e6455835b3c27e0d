"""Files -> a flat list of `Block`s (title / text / table) with page numbers.

`unstructured` does the partitioning. PDFs go through pdfminer.six page text into
`partition_text`: unstructured's own PDF path needs its `[pdf]` extra, which pulls a CUDA
torchvision that breaks sentence-transformers, and its `fast` strategy silently returns
nothing offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any, Literal

from ingest.offline import prepare_unstructured

BlockKind = Literal["title", "text", "table"]

TEXT_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".rst", ".html", ".htm"}
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | {".pdf", ".docx", ".pptx"}


class PartitionError(Exception):
    """The file cannot be turned into text; the message says why, for the ingest report."""


@dataclass(frozen=True)
class Block:
    kind: BlockKind
    text: str
    depth: int = 0  # heading level for titles (0 = top)
    page: int | None = None


def partition_file(path: Path) -> list[Block]:
    """Partition one file. Raises `PartitionError` with a reason a person can act on."""
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise PartitionError(f"unsupported file type {suffix or '(none)'}")
    if suffix in TEXT_SUFFIXES:
        _check_text_file(path)
    prepare_unstructured()
    if suffix == ".pdf":
        blocks = _partition_pdf(path)
    else:
        blocks = _to_blocks(_partition_with_unstructured(path, suffix))
    if not any(b.text.strip() for b in blocks):
        raise PartitionError("no text could be extracted (empty, scanned or image-only?)")
    return blocks


def _check_text_file(path: Path) -> None:
    head = path.read_bytes()[:8192]
    if b"\x00" in head:
        raise PartitionError("binary content in a file with a text extension")


def _partition_with_unstructured(path: Path, suffix: str) -> list[Any]:
    common: dict[str, Any] = {"filename": str(path), "languages": ["eng"]}
    if suffix in {".md", ".markdown"}:
        from unstructured.partition.md import partition_md

        return partition_md(**common)
    if suffix in {".html", ".htm"}:
        from unstructured.partition.html import partition_html

        return partition_html(**common)
    if suffix == ".docx":
        from unstructured.partition.docx import partition_docx

        return partition_docx(**common)
    if suffix == ".pptx":
        from unstructured.partition.pptx import partition_pptx

        return partition_pptx(**common)
    if suffix == ".rst":
        from unstructured.partition.rst import partition_rst

        return partition_rst(**common)
    from unstructured.partition.text import partition_text

    return partition_text(**common)


def _partition_pdf(path: Path) -> list[Block]:
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.pdfparser import PDFSyntaxError
    from unstructured.partition.text import partition_text

    blocks: list[Block] = []
    try:
        for page_no, layout in enumerate(extract_pages(str(path)), start=1):
            text = "\n\n".join(
                el.get_text().strip() for el in layout if isinstance(el, LTTextContainer)
            )
            if text.strip():
                elements = partition_text(text=text, languages=["eng"])
                blocks.extend(_to_blocks(elements, page=page_no))
    except (PDFPasswordIncorrect, PDFEncryptionError) as exc:
        raise PartitionError("PDF is encrypted or password-protected") from exc
    except PDFSyntaxError as exc:
        raise PartitionError(f"corrupt PDF ({exc})") from exc
    return blocks


def _to_blocks(elements: list[Any], page: int | None = None) -> list[Block]:
    blocks = []
    for el in elements:
        category = getattr(el, "category", "")
        text = (el.text or "").strip()
        if not text:
            continue
        el_page = page if page is not None else getattr(el.metadata, "page_number", None)
        if category == "Title":
            depth = el.metadata.category_depth or 0
            blocks.append(Block("title", text, depth=depth, page=el_page))
        elif category == "Table":
            html = getattr(el.metadata, "text_as_html", None)
            table = html_table_to_text(html) if html else text
            blocks.append(Block("table", table or text, page=el_page))
        elif category in {"PageBreak", "Header", "Footer", "PageNumber"}:
            continue
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
    rows = [r for r in parser.rows if any(cell for cell in r)]
    if not rows:
        return ""
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(r) + " |" for r in rows[1:]]
    return "\n".join(lines)
