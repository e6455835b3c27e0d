"""Generate the PDF and DOCX documents of the sample handbook.

The text of these documents lives in ``examples/handbook_src/<path>.md``, written in a
small Markdown subset: ``#`` title, ``##``/``###`` headings, paragraphs, ``- `` bullets,
``1. `` numbered items, pipe tables and ``> `` speaker notes (slides only). Each source is
rendered to ``examples/handbook/<path>.pdf`` (fpdf2, core Helvetica font, latin-1 text only),
``examples/handbook/<path>.docx`` (python-docx, real Heading 1/2/3 styles) or
``examples/handbook/<path>.pptx`` (python-pptx: ``#`` = title slide, each ``##`` = one slide
with its bullets, tables and notes), as listed in ``TARGETS``.

Output is byte-stable: the PDF creation date, the DOCX/PPTX core properties and their zip
entry timestamps are all fixed, so re-running produces identical files.

Run from the repository root:

    .venv/bin/python examples/build_handbook.py
"""

from __future__ import annotations

import io
import re
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import docx
from docx.shared import Pt
from fpdf import FPDF
from pptx import Presentation
from pptx.util import Inches
from pptx.util import Pt as PptPt

HERE = Path(__file__).resolve().parent
SRC_DIR = HERE / "handbook_src"
OUT_DIR = HERE / "handbook"
FIXED_DATE = datetime(2026, 9, 15, 9, 0, 0, tzinfo=UTC)
ZIP_DATE = (2026, 9, 15, 9, 0, 0)

# source path (relative, no extension) -> (output format, start each "##" section on a new page)
TARGETS: dict[str, tuple[str, bool]] = {
    "architecture/data-stores": ("pdf", True),
    "security/secrets-rotation": ("pdf", False),
    "security/security-incident-reporting": ("pdf", False),
    "oncall/new-oncall-onboarding": ("docx", False),
    "oncall/paging-rules": ("docx", False),
    "postmortems/2026-03-11-route-optimizer-late-plans": ("docx", False),
    "postmortems/2026-08-02-notification-lag-review": ("pptx", False),
}


@dataclass
class Block:
    kind: str  # title | h2 | h3 | para | bullets | numbers | table | notes
    text: str = ""
    items: list = field(default_factory=list)  # list items, or table rows (lists of cells)


def clean(text: str) -> str:
    """Drop inline Markdown markers (bold, code) that neither renderer needs."""
    return text.replace("**", "").replace("`", "").strip()


def parse(source: str) -> list[Block]:
    blocks: list[Block] = []
    para: list[str] = []

    def flush_para() -> None:
        if para:
            blocks.append(Block("para", clean(" ".join(para))))
            para.clear()

    for raw in source.splitlines():
        line = raw.rstrip()
        bullet = re.match(r"^- (.*)", line)
        number = re.match(r"^\d+\. (.*)", line)
        if not line.strip():
            flush_para()
        elif line.startswith("> "):
            flush_para()
            blocks.append(Block("notes", clean(line[2:])))
        elif line.startswith("#"):
            flush_para()
            level, text = line.split(" ", 1)
            blocks.append(Block({"#": "title", "##": "h2", "###": "h3"}[level], clean(text)))
        elif line.startswith("|"):
            flush_para()
            cells = [clean(c) for c in line.strip("|").split("|")]
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                continue  # header separator row
            if not blocks or blocks[-1].kind != "table":
                blocks.append(Block("table"))
            blocks[-1].items.append(cells)
        elif bullet or number:
            flush_para()
            kind = "bullets" if bullet else "numbers"
            if not blocks or blocks[-1].kind != kind:
                blocks.append(Block(kind))
            blocks[-1].items.append(clean((bullet or number).group(1)))
        else:
            para.append(line.strip())
    flush_para()
    return blocks


# ---------------------------------------------------------------- PDF


class HandbookPDF(FPDF):
    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(110)
        self.cell(0, 5, f"Lumen Freight internal - page {self.page_no()}/{{nb}}", align="C")
        self.set_text_color(0)


def latin1(text: str) -> str:
    text.encode("latin-1")  # raises UnicodeEncodeError: core fonts only cover latin-1
    return text


def write_pdf(blocks: list[Block], out: Path, section_page_breaks: bool) -> None:
    pdf = HandbookPDF(format="A4")
    pdf.set_creation_date(FIXED_DATE)
    pdf.set_title(latin1(blocks[0].text))
    pdf.set_author("Lumen Freight")
    pdf.set_creator("examples/build_handbook.py")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    seen_h2 = False
    for block in blocks:
        text = latin1(block.text)
        if block.kind == "title":
            pdf.set_font("Helvetica", "B", 18)
            pdf.multi_cell(0, 9, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif block.kind in ("h2", "h3"):
            if block.kind == "h2" and section_page_breaks and seen_h2:
                pdf.add_page()
            seen_h2 = seen_h2 or block.kind == "h2"
            pdf.ln(3)
            pdf.set_font("Helvetica", "B", 14 if block.kind == "h2" else 12)
            pdf.multi_cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(1)
        elif block.kind == "para":
            pdf.set_font("Helvetica", size=10.5)
            pdf.multi_cell(0, 5.5, text, new_x="LMARGIN", new_y="NEXT")
            pdf.ln(2)
        elif block.kind in ("bullets", "numbers"):
            pdf.set_font("Helvetica", size=10.5)
            for i, item in enumerate(block.items, start=1):
                marker = "-" if block.kind == "bullets" else f"{i}."
                pdf.set_x(pdf.l_margin + 3)
                pdf.cell(6, 5.5, marker)
                pdf.multi_cell(0, 5.5, latin1(item), new_x="LMARGIN", new_y="NEXT")
                pdf.ln(0.8)
            pdf.ln(1.5)
        elif block.kind == "table":
            pdf.set_font("Helvetica", size=9)
            # column width ~ longest cell, capped, so long commands are not split mid-word
            widths = tuple(
                min(max(len(row[c]) for row in block.items), 45) + 8
                for c in range(len(block.items[0]))
            )
            with pdf.table(
                col_widths=widths, text_align="LEFT", line_height=5, padding=1.5
            ) as table:
                for row in block.items:
                    cells = table.row()
                    for cell in row:
                        cells.cell(latin1(cell))
            pdf.ln(3)
    pdf.output(str(out))


# ---------------------------------------------------------------- DOCX


def write_docx(blocks: list[Block], out: Path) -> None:
    document = docx.Document()
    document.styles["Normal"].font.name = "Calibri"
    document.styles["Normal"].font.size = Pt(11)
    heading_level = {"title": 1, "h2": 2, "h3": 3}
    for block in blocks:
        if block.kind in heading_level:
            document.add_heading(block.text, level=heading_level[block.kind])
        elif block.kind == "para":
            document.add_paragraph(block.text)
        elif block.kind in ("bullets", "numbers"):
            style = "List Bullet" if block.kind == "bullets" else "List Number"
            for item in block.items:
                document.add_paragraph(item, style=style)
        elif block.kind == "table":
            rows = block.items
            table = document.add_table(rows=len(rows), cols=len(rows[0]), style="Table Grid")
            for r, row in enumerate(rows):
                for c, value in enumerate(row):
                    cell = table.cell(r, c)
                    cell.text = value
                    if r == 0:
                        for run in cell.paragraphs[0].runs:
                            run.bold = True
            document.add_paragraph()
    props = document.core_properties
    props.title = blocks[0].text
    props.author = props.last_modified_by = "Lumen Freight"
    props.created = props.modified = props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1

    buffer = io.BytesIO()
    document.save(buffer)
    out.write_bytes(restamp_zip(buffer.getvalue()))


def restamp_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry timestamps so the DOCX bytes do not depend on 'now'."""
    result = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(result, "w") as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, src.read(info.filename))
    return result.getvalue()


# ---------------------------------------------------------------- PPTX


def write_pptx(blocks: list[Block], out: Path) -> None:
    deck = Presentation()
    deck.slide_width, deck.slide_height = Inches(13.333), Inches(7.5)
    slide, top = None, 0.0
    for block in blocks:
        if block.kind == "title":
            slide = deck.slides.add_slide(deck.slide_layouts[0])
            slide.shapes.title.text = block.text
        elif block.kind == "h2":
            slide = deck.slides.add_slide(deck.slide_layouts[5])  # title only
            slide.shapes.title.text = block.text
            top = 1.5
        elif slide is None:
            raise SystemExit("a slide deck source must start with a '# ' title line")
        elif block.kind == "notes":
            slide.notes_slide.notes_text_frame.text = block.text
        elif block.kind == "para" and top == 0.0:  # subtitle of the title slide
            slide.placeholders[1].text = block.text
        elif block.kind in ("para", "bullets", "numbers"):
            items = block.items or [block.text]
            box = slide.shapes.add_textbox(Inches(0.6), Inches(top), Inches(12), Inches(0.4))
            box.text_frame.word_wrap = True
            for i, item in enumerate(items):
                para = box.text_frame.paragraphs[0] if i == 0 else box.text_frame.add_paragraph()
                para.text = ("- " if block.kind == "bullets" else "") + item
                para.font.size = PptPt(18)
            top += 0.55 * len(items) + 0.2
        elif block.kind == "table":
            rows, cols = len(block.items), len(block.items[0])
            shape = slide.shapes.add_table(
                rows, cols, Inches(0.6), Inches(top), Inches(12), Inches(0.35 * rows)
            )
            for r, row in enumerate(block.items):
                for c, value in enumerate(row):
                    cell = shape.table.cell(r, c)
                    cell.text = value
                    cell.text_frame.paragraphs[0].font.size = PptPt(12)
            top += 0.4 * rows + 0.2
    props = deck.core_properties
    props.title = blocks[0].text
    props.author = props.last_modified_by = "Lumen Freight"
    props.created = props.modified = props.last_printed = FIXED_DATE.replace(tzinfo=None)
    props.revision = 1
    buffer = io.BytesIO()
    deck.save(buffer)
    out.write_bytes(restamp_zip(buffer.getvalue()))


# ---------------------------------------------------------------- main


def main() -> int:
    for rel, (fmt, page_breaks) in TARGETS.items():
        blocks = parse((SRC_DIR / f"{rel}.md").read_text(encoding="utf-8"))
        if not blocks or blocks[0].kind != "title":
            raise SystemExit(f"{rel}.md must start with a '# ' title line")
        out = OUT_DIR / f"{rel}.{fmt}"
        out.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "pdf":
            write_pdf(blocks, out, page_breaks)
        elif fmt == "pptx":
            write_pptx(blocks, out)
        else:
            write_docx(blocks, out)
        print(f"wrote {out.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
