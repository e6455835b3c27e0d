"""PowerPoint decks read with python-pptx: one section per slide, page = slide number.

unstructured's pptx partitioner guesses titles from text shape heuristics and drops speaker
notes by default; reading the deck directly keeps what an incident review deck is made of:
the slide title as the section, bullets with their levels, tables as pipe tables, and the
speaker notes (often the only full sentences in the deck).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ingest.formats.base import Block, PartitionError
from ingest.formats.elements import rows_to_pipe_table


def partition_pptx(path: Path) -> list[Block]:
    """The deck title (document property, else the first slide's title) at depth 0, then
    each slide's title at depth 1 with its text, tables and notes."""
    from pptx import Presentation

    try:
        deck = Presentation(str(path))
    except Exception as exc:  # python-pptx raises KeyError, ValueError, lxml errors...
        raise PartitionError(f"corrupt .pptx ({type(exc).__name__}: {exc})") from exc
    slides = list(deck.slides)
    titles = [_slide_title(s) for s in slides]
    deck_title = (deck.core_properties.title or "").strip() or next(
        (t for t in titles if t), path.stem
    )
    blocks = [Block("title", deck_title, depth=0, page=1)]
    for number, (slide, title) in enumerate(zip(slides, titles, strict=True), start=1):
        if title != deck_title or number > 1:
            blocks.append(Block("title", title or f"Slide {number}", depth=1, page=number))
        blocks.extend(_slide_blocks(slide, number))
    return blocks


def _slide_title(slide: Any) -> str:
    shape = slide.shapes.title
    return " ".join(shape.text_frame.text.split()) if shape is not None else ""


def _slide_blocks(slide: Any, number: int) -> list[Block]:
    title_shape = slide.shapes.title
    blocks = []
    for shape in _reading_order(slide.shapes):
        if title_shape is not None and shape.shape_id == title_shape.shape_id:
            continue
        if getattr(shape, "has_table", False) and shape.has_table:
            rows = [[_cell_text(c) for c in row.cells] for row in shape.table.rows]
            table = rows_to_pipe_table([r for r in rows if any(r)])
            if table:
                blocks.append(Block("table", table, page=number))
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            text = _frame_text(shape.text_frame)
            if text:
                blocks.append(Block("text", text, page=number))
    if slide.has_notes_slide:
        notes = slide.notes_slide.notes_text_frame
        text = _frame_text(notes) if notes is not None else ""
        if text:
            blocks.append(Block("text", f"Speaker notes: {text}", page=number))
    return blocks


def _reading_order(shapes: Any) -> Iterator[Any]:
    """Top-to-bottom, left-to-right; group shapes are opened."""
    from pptx.enum.shapes import MSO_SHAPE_TYPE

    def position(shape: Any) -> tuple[int, int]:
        return (shape.top or 0, shape.left or 0)

    for shape in sorted(shapes, key=position):
        if shape.shape_type == MSO_SHAPE_TYPE.GROUP:
            yield from _reading_order(shape.shapes)
        else:
            yield shape


def _frame_text(frame: Any) -> str:
    """Paragraphs as lines; indented paragraphs (bullet levels) keep their indent."""
    lines = []
    for paragraph in frame.paragraphs:
        text = " ".join(paragraph.text.split())
        if text:
            lines.append("  " * paragraph.level + text)
    return "\n".join(lines)


def _cell_text(cell: Any) -> str:
    return " ".join(cell.text.split()).replace("|", "\\|")
