"""PDF: pdfminer.six page text, then unstructured's text partitioner per page.

unstructured's own PDF path needs its `[pdf]` extra, which pulls a CUDA torchvision that
breaks sentence-transformers, and its `fast` strategy silently returns nothing offline.

Before any page is laid out, the document is opened once to refuse what we cannot or should
not read: a password we do not have (we never try passwords), an encryption scheme pdfminer
does not support, a broken cross-reference table, or more pages than `max_pdf_pages` (the
cheap proxy for "decompresses to something huge"). A PDF encrypted with an *empty* user
password (permissions only: any viewer opens it without asking) is read normally.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ingest.formats.base import Block, PartitionError
from ingest.formats.elements import to_blocks
from ingest.formats.limits import PartitionLimits


def partition_pdf(path: Path, limits: PartitionLimits) -> list[Block]:
    """One file's blocks with 1-based page numbers; see the module docstring."""
    from pdfminer.high_level import extract_pages
    from pdfminer.layout import LTTextContainer
    from unstructured.partition.text import partition_text

    pages = count_pages(path)
    if pages > limits.max_pdf_pages:
        raise PartitionError(
            f"{pages} pages, over the {limits.max_pdf_pages} page cap (ingest.max_pdf_pages): "
            "split the document or raise the cap"
        )
    blocks: list[Block] = []
    with _pdf_errors():
        for page_no, layout in enumerate(extract_pages(str(path)), start=1):
            text = "\n\n".join(
                el.get_text().strip() for el in layout if isinstance(el, LTTextContainer)
            )
            if text.strip():
                elements = partition_text(text=text, languages=["eng"])
                blocks.extend(to_blocks(elements, page=page_no))
    return blocks


def count_pages(path: Path) -> int:
    """Pages the PDF declares, reading only its trailer, catalog and page tree."""
    from pdfminer.pdfdocument import PDFDocument
    from pdfminer.pdfpage import PDFPage
    from pdfminer.pdfparser import PDFParser
    from pdfminer.pdftypes import resolve1

    with path.open("rb") as fh, _pdf_errors():
        document = PDFDocument(PDFParser(fh))  # raises for encryption we cannot open
        if not document.is_extractable:
            raise PartitionError(
                "PDF forbids text extraction (encryption permissions): ask the owner for an "
                "unrestricted copy"
            )
        pages = resolve1(document.catalog.get("Pages"))
        count = resolve1(pages.get("Count")) if isinstance(pages, dict) else None
        if isinstance(count, int) and count >= 0:
            return count
        return sum(1 for _ in PDFPage.create_pages(document))


@contextmanager
def _pdf_errors() -> Iterator[None]:
    """Map pdfminer's exceptions to reasons a person can act on."""
    from pdfminer.pdfdocument import PDFEncryptionError, PDFPasswordIncorrect
    from pdfminer.psexceptions import PSException

    try:
        yield
    except PartitionError:
        raise
    except PDFPasswordIncorrect as exc:
        raise PartitionError(
            "PDF is password-protected: ask the owner for an unencrypted copy"
        ) from exc
    except PDFEncryptionError as exc:
        raise PartitionError(f"PDF uses an encryption we cannot read ({exc})") from exc
    except (PSException, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PartitionError(
            f"corrupt PDF ({type(exc).__name__}: {exc or 'unreadable structure'}): "
            "re-export or repair it"
        ) from exc
