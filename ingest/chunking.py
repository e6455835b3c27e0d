"""Blocks -> chunks, split at section titles, each carrying its section path and page.

A chunk never spans two sections, so a citation can name the section it came from. Within a
section, text accumulates until `soft_chars`; a single block longer than `max_chars` is cut
at sentence or word boundaries (source code: between lines). A table starts a new chunk and
is not cut below `max_chars`, so its rows keep their header; a small table may share its
chunk with the short text around it in the same section.

Each data row of a table is also a chunk of its own, written as "section: column: value;
column: value" (`table_rows`): a question such as "how fast must SEV2 pages be
acknowledged?" then meets one short passage holding its terms ("SEV2", "Acknowledge page")
instead of a whole table whose other rows dilute it, and the row's answer can be quoted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ingest.formats.elements import pipe_table_rows
from ingest.partition import Block


@dataclass(frozen=True)
class ChunkingConfig:
    max_chars: int = 1500
    soft_chars: int = 1000
    combine_under_chars: int = 200


@dataclass
class Chunk:
    text: str
    section: list[str] = field(default_factory=list)
    page: int | None = None
    language: str | None = None  # set for source code, from its blocks
    row: bool = False  # one table row (`table_rows`), listed after the document's chunks

    @property
    def section_path(self) -> str:
        return " > ".join(self.section)


def indexed_text(title: str, section: str, text: str) -> str:
    """What is embedded and BM25-indexed for a chunk: its document title and section path
    go in too, so a chunk under "Rollback" matches "how do I roll back" even if its body
    never says so."""
    return f"{title}\n{section}\n\n{text}"


def chunk_blocks(blocks: list[Block], config: ChunkingConfig | None = None) -> list[Chunk]:
    """Group blocks into chunks; see the module docstring for the rules."""
    cfg = config or ChunkingConfig()
    chunks: list[Chunk] = []
    titles: list[tuple[int, str]] = []  # (depth, text) stack
    current: Chunk | None = None
    rows: list[Chunk] = []

    def flush() -> None:
        nonlocal current
        if current is not None and current.text.strip():
            chunks.append(current)
        current = None

    for block in blocks:
        if block.kind == "title":
            flush()
            titles = [(d, t) for d, t in titles if d < block.depth]
            titles.append((block.depth, block.text))
            continue
        section = [t for _, t in titles]
        split = _split_lines if block.language else _split_long
        for piece in split(block.text, cfg.max_chars):
            fits = current is not None and len(current.text) + len(piece) + 2 <= cfg.soft_chars
            if block.kind == "table" or not fits:
                flush()
            if current is None:
                current = Chunk(piece, section, block.page, block.language)
            else:
                current.text += "\n\n" + piece
            if block.kind == "table":
                flush()
        if block.kind == "table":
            context = " > ".join(section)
            rows += [
                Chunk(r, section, block.page, row=True) for r in table_rows(block.text, context)
            ]
    flush()
    # Rows go after the document's own chunks: small text after a table still joins it.
    return _merge_small(chunks, cfg) + rows


def table_rows(table: str, context: str = "", max_rows: int = 200) -> list[str]:
    """The data rows of a pipe table, each as "context: header: cell; header: cell".
    Tables without a header rule, or of one column, give nothing (no headers to pair)."""
    rows = pipe_table_rows(table)
    if len(rows) < 2 or len(rows[0]) < 2:
        return []
    header, out = rows[0], []
    for cells in rows[1 : 1 + max_rows]:
        pairs = [f"{h}: {c}" for h, c in zip(header, cells, strict=False) if c]
        if len(pairs) >= 2:
            out.append((f"{context}: " if context else "") + "; ".join(pairs))
    return out


def _merge_small(chunks: list[Chunk], cfg: ChunkingConfig) -> list[Chunk]:
    """Fold tiny chunks into the previous chunk of the same section."""
    merged: list[Chunk] = []
    for chunk in chunks:
        prev = merged[-1] if merged else None
        if (
            prev is not None
            and len(chunk.text) < cfg.combine_under_chars
            and prev.section == chunk.section
            and len(prev.text) + len(chunk.text) + 2 <= cfg.max_chars
        ):
            prev.text += "\n\n" + chunk.text
        else:
            merged.append(chunk)
    return merged


_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+")


def _split_long(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    buf = ""
    for sentence in _SENTENCE_END.split(text):
        if len(sentence) > max_chars and buf:  # keep order: what came first goes out first
            pieces.append(buf)
            buf = ""
        while len(sentence) > max_chars:  # no sentence boundary: cut at a space
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if buf and len(buf) + len(sentence) + 1 > max_chars:
            pieces.append(buf)
            buf = sentence
        else:
            buf = f"{buf} {sentence}".strip()
    if buf:
        pieces.append(buf)
    return pieces


def _split_lines(text: str, max_chars: int) -> list[str]:
    """Cut code between lines, never inside one unless a single line is over `max_chars`."""
    pieces: list[str] = []
    buf: list[str] = []
    size = 0
    for line in text.splitlines():
        while len(line) > max_chars:  # minified code: no line boundary to cut at
            pieces.extend(["\n".join(buf)] if buf else [])
            buf, size = [], 0
            pieces.append(line[:max_chars])
            line = line[max_chars:]
        if buf and size + len(line) + 1 > max_chars:
            pieces.append("\n".join(buf))
            buf, size = [], 0
        buf.append(line)
        size += len(line) + 1
    if any(line.strip() for line in buf):
        pieces.append("\n".join(buf))
    return [p for p in pieces if p.strip()]
