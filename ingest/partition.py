"""Files -> a flat list of `Block`s (title / text / table) with page numbers.

Which reader runs is decided by the suffix (`SUPPORTED_SUFFIXES`); the readers live in
`ingest.formats`. Every text-like file (md, rst, txt, html, code, JSON exports) is decoded by
one policy (`formats.guards.decode_text`: BOMs, strict UTF-8, a Windows-1252 fallback that is
logged, binary junk refused) and handed to its parser as a string, so no parser guesses an
encoding on its own. .docx/.pptx zip containers are inspected for zip bombs before any
parser opens them, PDFs for encryption and page count. Whatever cannot be read raises
`PartitionError` with a reason for the ingest report; the pipeline skips that file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ingest.formats.base import Block, BlockKind, NotADocument, PartitionError
from ingest.formats.code import CODE_LANGUAGES, partition_code
from ingest.formats.elements import html_table_to_text, to_blocks
from ingest.formats.exports import partition_json
from ingest.formats.guards import inspect_zip, read_text, require_members
from ingest.formats.limits import DEFAULT_LIMITS, PartitionLimits
from ingest.formats.pdf import partition_pdf
from ingest.formats.slides import partition_pptx
from ingest.offline import prepare_unstructured

__all__ = [
    "SUPPORTED_SUFFIXES",
    "Block",
    "BlockKind",
    "NotADocument",
    "PartitionError",
    "PartitionLimits",
    "html_table_to_text",
    "partition_file",
]

DOC_SUFFIXES = {".md", ".markdown", ".txt", ".text", ".rst", ".html", ".htm"}
TEXT_SUFFIXES = DOC_SUFFIXES | {".json"} | set(CODE_LANGUAGES)
SUPPORTED_SUFFIXES = TEXT_SUFFIXES | {".pdf", ".docx", ".pptx"}
_OOXML_MAIN_PART = {".docx": "word/document.xml", ".pptx": "ppt/presentation.xml"}


def partition_file(path: Path, limits: PartitionLimits | None = None) -> list[Block]:
    """Partition one file. Raises `PartitionError` with a reason a person can act on."""
    limits = limits or DEFAULT_LIMITS
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise PartitionError(f"unsupported file type {suffix or '(none)'}")
    if suffix in TEXT_SUFFIXES:
        blocks = _partition_text_file(path, suffix)
    elif suffix == ".pdf":
        prepare_unstructured()
        blocks = partition_pdf(path, limits)
    else:
        members = inspect_zip(path.read_bytes(), limits)
        require_members(members, _OOXML_MAIN_PART[suffix], f"{suffix} document")
        blocks = partition_pptx(path) if suffix == ".pptx" else _partition_docx(path)
    if not any(b.text.strip() for b in blocks):
        raise PartitionError("no text could be extracted (empty, scanned or image-only?)")
    return blocks


def _partition_text_file(path: Path, suffix: str) -> list[Block]:
    text = read_text(path).text
    if suffix in CODE_LANGUAGES:
        return partition_code(path.name, text, CODE_LANGUAGES[suffix])
    if not text.strip():
        raise PartitionError("no text (only whitespace)")
    prepare_unstructured()
    if suffix == ".json":
        return partition_json(path, text, _html_to_blocks)
    if suffix in {".html", ".htm"}:
        return _html_to_blocks(text)
    if suffix == ".rst":
        return _html_to_blocks(rst_to_html(text))
    if suffix in {".md", ".markdown"}:
        from unstructured.partition.md import partition_md

        return to_blocks(partition_md(text=text, languages=["eng"]))
    from unstructured.partition.text import partition_text

    return to_blocks(partition_text(text=text, languages=["eng"]))


def _html_to_blocks(html: str) -> list[Block]:
    from unstructured.partition.html import partition_html

    return to_blocks(partition_html(text=html, languages=["eng"]))


def rst_to_html(text: str) -> str:
    """reStructuredText via docutils (unstructured's .rst path needs a pandoc binary).

    `include`, `raw` and file-reading directives are disabled: a document must not pull
    other files from the ingest host into the index. Markup errors are ignored, not fatal.
    """
    from docutils.core import publish_parts

    overrides: dict[str, Any] = {
        "report_level": 5,
        "halt_level": 5,
        "file_insertion_enabled": False,
        "raw_enabled": False,
        "_disable_config": True,
    }
    try:
        parts = publish_parts(source=text, writer="html5", settings_overrides=overrides)
    except Exception as exc:  # docutils raises many types on pathological input
        raise PartitionError(f"unreadable reStructuredText ({type(exc).__name__}: {exc})") from exc
    return f"<html><body>{parts['html_body']}</body></html>"


def _partition_docx(path: Path) -> list[Block]:
    prepare_unstructured()
    from unstructured.partition.docx import partition_docx

    try:
        elements = partition_docx(filename=str(path), languages=["eng"])
    except Exception as exc:  # python-docx raises KeyError, ValueError, lxml errors...
        raise PartitionError(f"corrupt .docx ({type(exc).__name__}: {exc})") from exc
    return to_blocks(elements)
