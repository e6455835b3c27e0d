"""Every format and every kind of bad input, through the real `partition_file`.

Bad files are generated in tmp_path: each must raise `PartitionError` with a reason a person
can act on. Good files must come back as non-empty blocks with the right sections and pages.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import docx
import pytest
from fpdf import FPDF
from fpdf.enums import EncryptionMethod
from pptx import Presentation
from pptx.util import Inches

from ingest.chunking import chunk_blocks
from ingest.partition import PartitionError, PartitionLimits, partition_file
from tests.conftest import HANDBOOK


def write_pdf(path: Path, pages: int, user_password: str | None = None) -> Path:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for n in range(1, pages + 1):
        pdf.add_page()
        pdf.multi_cell(0, 8, f"Page {n}. Rotate the kestrel-mtls-client certificate yearly.")
    if user_password is not None:
        pdf.set_encryption(
            owner_password="owner-secret",
            user_password=user_password,
            encryption_method=EncryptionMethod.RC4,
        )
    pdf.output(str(path))
    return path


def write_docx(path: Path) -> Path:
    document = docx.Document()
    document.add_heading("Paging rules", level=1)
    document.add_paragraph("Page a rotation, never an individual. " * 5)
    document.save(str(path))
    return path


def sections(path: Path, limits: PartitionLimits | None = None) -> list[tuple[str, int | None]]:
    """Section and page of each chunk in document order (table-row chunks, listed after the
    document's own chunks, are left out)."""
    chunks = chunk_blocks(partition_file(path, limits))
    return [(c.section_path, c.page) for c in chunks if not c.row]


# ---------------------------------------------------------------- PDF


def test_pdf_pages_are_numbered(tmp_path: Path) -> None:
    blocks = partition_file(write_pdf(tmp_path / "ok.pdf", 3))
    assert [(b.page, b.text[:7]) for b in blocks] == [
        (1, "Page 1."),
        (2, "Page 2."),
        (3, "Page 3."),
    ]


def test_password_protected_pdf_is_refused(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "locked.pdf", 1, user_password="hunter2")
    with pytest.raises(PartitionError, match=r"password-protected.*unencrypted copy"):
        partition_file(path)


def test_permissions_only_encryption_is_read(tmp_path: Path) -> None:
    # Empty user password: every viewer opens it without asking, so we do too.
    path = write_pdf(tmp_path / "owner-only.pdf", 1, user_password="")
    blocks = partition_file(path)
    assert "kestrel-mtls-client" in " ".join(b.text for b in blocks)


@pytest.mark.parametrize(
    "content",
    [b"%PDF-1.7\nthis is not really a pdf\n", "truncate", b"%PDF-1.4\n" + bytes(range(256)) * 40],
)
def test_corrupt_pdf_is_refused(tmp_path: Path, content: bytes | str) -> None:
    path = tmp_path / "broken.pdf"
    if content == "truncate":
        whole = write_pdf(tmp_path / "whole.pdf", 2).read_bytes()
        content = whole[: len(whole) // 2]
    path.write_bytes(content if isinstance(content, bytes) else b"")
    with pytest.raises(PartitionError, match=r"corrupt PDF|no text could be extracted"):
        partition_file(path)


def test_pdf_page_cap(tmp_path: Path) -> None:
    path = write_pdf(tmp_path / "long.pdf", 3)
    with pytest.raises(PartitionError, match=r"3 pages, over the 2 page cap.*max_pdf_pages"):
        partition_file(path, PartitionLimits(max_pdf_pages=2))


# ---------------------------------------------------------------- text junk and encodings


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("junk.md", b"\x00\x01\x02binary\x00" * 100),
        ("image.txt", b"\x89PNG\r\n\x1a\n" + bytes(range(1, 32)) * 100),
        ("script.py", b"\x7fELF\x02\x01\x01" + b"\x00" * 64),
    ],
)
def test_binary_junk_with_a_text_extension(tmp_path: Path, name: str, data: bytes) -> None:
    (tmp_path / name).write_bytes(data)
    with pytest.raises(PartitionError, match=r"binary content"):
        partition_file(tmp_path / name)


def test_windows_1252_text_is_read(tmp_path: Path) -> None:
    path = tmp_path / "legacy.txt"
    path.write_bytes("Übergabe: the café rota pays 5 € per night.\n".encode("cp1252"))
    assert "café rota pays 5 €" in partition_file(path)[0].text


def test_legacy_cjk_encoding_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "zh.md"
    path.write_bytes(("# 值班手册\n\n如何处理消费者延迟。\n" * 30).encode("gbk"))
    with pytest.raises(PartitionError, match=r"re-save it as UTF-8"):
        partition_file(path)


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    path = tmp_path / "faq.html"
    html = "<html><body><h1>VPN FAQ</h1><p>Use the WireGuard profile.</p></body></html>"
    path.write_bytes(html.encode("utf-16"))  # Python writes a BOM
    blocks = partition_file(path)
    assert blocks[0].kind == "title" and blocks[0].text == "VPN FAQ"


def test_rst_is_partitioned_without_pandoc(tmp_path: Path) -> None:
    path = tmp_path / "guide.rst"
    path.write_text(
        "Deploy guide\n============\n\nIntro text.\n\nRollback\n--------\n\n"
        "Rollbacks skip canary.\n\n.. include:: /etc/passwd\n"
    )
    got = chunk_blocks(partition_file(path))
    assert ("Deploy guide > Rollback", "Rollbacks skip canary.") in [
        (c.section_path, c.text) for c in got
    ]
    assert "root:" not in " ".join(c.text for c in got), "include directives are disabled"


# ---------------------------------------------------------------- zip containers


@pytest.fixture(scope="module")
def one_gb_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A .docx whose document.xml unpacks to 1 GiB of zeros (about 4.5 MB on disk)."""
    path = tmp_path_factory.mktemp("bomb") / "bomb.docx"
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            for _ in range(1024):
                member.write(chunk)
    return path


def test_zip_bomb_docx_is_refused_before_parsing(one_gb_bomb: Path) -> None:
    with pytest.raises(PartitionError, match=r"unpacks to 1,074 MB.*possible zip bomb"):
        partition_file(one_gb_bomb)


def test_high_ratio_member_in_pptx(tmp_path: Path) -> None:
    path = tmp_path / "deck.pptx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("ppt/presentation.xml", bytes(8 * 1024 * 1024))
    with pytest.raises(PartitionError, match=r"max_zip_ratio"):
        partition_file(path)


def test_corrupt_and_renamed_containers(tmp_path: Path) -> None:
    whole = write_docx(tmp_path / "whole.docx").read_bytes()
    (tmp_path / "truncated.docx").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(PartitionError, match=r"corrupt or truncated zip"):
        partition_file(tmp_path / "truncated.docx")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    (tmp_path / "sheet.pptx").write_bytes(buffer.getvalue())
    with pytest.raises(PartitionError, match=r"no ppt/presentation.xml.*wrong extension"):
        partition_file(tmp_path / "sheet.pptx")


def test_broken_xml_inside_a_valid_zip(tmp_path: Path) -> None:
    whole = zipfile.ZipFile(write_docx(tmp_path / "ok.docx"))
    with zipfile.ZipFile(tmp_path / "bad.docx", "w") as archive:
        for info in whole.infolist():
            data = whole.read(info)
            archive.writestr(
                info, b"<w:document><unclosed" if info.filename == "word/document.xml" else data
            )
    with pytest.raises(PartitionError, match=r"corrupt .docx"):
        partition_file(tmp_path / "bad.docx")


# ---------------------------------------------------------------- slides


def test_pptx_slides_are_sections_with_notes_tables_and_pages(tmp_path: Path) -> None:
    deck = Presentation()
    title = deck.slides.add_slide(deck.slide_layouts[0])
    title.shapes.title.text = "INC-2417 review"
    title.placeholders[1].text = "Tracking team"
    bullets = deck.slides.add_slide(deck.slide_layouts[1])
    bullets.shapes.title.text = "Root cause"
    body = bullets.placeholders[1].text_frame
    body.text = "Handler buffer is 512 KB"
    sub = body.add_paragraph()
    sub.text, sub.level = "events over it panicked", 1
    bullets.notes_slide.notes_text_frame.text = "Detection took 22 minutes."
    actions = deck.slides.add_slide(deck.slide_layouts[5])
    actions.shapes.title.text = "Action items"
    table = actions.shapes.add_table(2, 2, Inches(1), Inches(2), Inches(6), Inches(1)).table
    for (r, c), text in {
        (0, 0): "ID",
        (0, 1): "Action",
        (1, 0): "NTF-418",
        (1, 1): "a | b",
    }.items():
        table.cell(r, c).text = text
    group = actions.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(4), Inches(3), Inches(1)).text_frame.text = "grouped"
    deck.save(str(tmp_path / "review.pptx"))

    chunks = chunk_blocks(partition_file(tmp_path / "review.pptx"))
    got = {(c.section_path, c.page): c.text for c in chunks if not c.row}
    assert got[("INC-2417 review", 1)] == "Tracking team"
    assert got[("INC-2417 review > Root cause", 2)] == (
        "Handler buffer is 512 KB\n  events over it panicked\n\n"
        "Speaker notes: Detection took 22 minutes."
    )
    actions_text = got[("INC-2417 review > Action items", 3)]
    assert "| ID | Action |\n|---|---|\n| NTF-418 | a \\| b |" in actions_text
    assert "grouped" in actions_text
    rows = [c.text for c in chunks if c.row]
    assert rows == ["INC-2417 review > Action items: ID: NTF-418; Action: a | b"]


def test_handbook_deck_pages_and_sections() -> None:
    path = HANDBOOK / "postmortems" / "2026-08-02-notification-lag-review.pptx"
    got = sections(path)
    assert [page for _, page in got] == sorted(page for _, page in got)
    assert (
        "Incident review: INC-2417 customer notifications delayed (2026-08-02) > Action items",
        6,
    ) in got


# ---------------------------------------------------------------- code and exports


def test_code_files_by_function(tmp_path: Path) -> None:
    (tmp_path / "deploy.go").write_text(
        "package deploy\n\nfunc Rollback(sha string) error {\n\treturn nil\n}\n"
    )
    assert ("deploy.go > func Rollback(sha string) error", None) in sections(tmp_path / "deploy.go")
    got = sections(HANDBOOK / "code" / "lfctl_kafka.py")
    assert (
        "lfctl_kafka.py > class OffsetSkipper"
        " > def skip(self, group, topic, partition, offset, incident)",
        None,
    ) in got


def test_slack_export_folder(tmp_path: Path) -> None:
    root = tmp_path / "slack-export"
    (root / "oncall-tracking").mkdir(parents=True)
    (root / "users.json").write_text(
        json.dumps([{"id": "U1", "name": "trk", "real_name": "Tracking primary"}])
    )
    day = [
        {"type": "message", "user": "U1", "text": "partition 17 stuck", "ts": "1785652860.000100"}
    ]
    (root / "oncall-tracking" / "2026-08-02.json").write_text(json.dumps(day))
    chunks = chunk_blocks(partition_file(root / "oncall-tracking" / "2026-08-02.json"))
    assert chunks[0].section_path == (
        "Slack #oncall-tracking, 2026-08-02 > Thread 06:41 UTC: partition 17 stuck"
    )
    assert chunks[0].text == "[06:41] Tracking primary: partition 17 stuck"
    with pytest.raises(PartitionError, match=r"users.json"):
        partition_file(root / "users.json")


def test_handbook_slack_and_confluence_exports() -> None:
    slack = chunk_blocks(partition_file(HANDBOOK / "slack" / "oncall-payments" / "2026-09-03.json"))
    assert slack[0].section_path.startswith("Slack #oncall-payments, 2026-09-03 > Thread 09:14 UTC")
    assert "first response within 15 minutes" in " ".join(c.text for c in slack)
    page = chunk_blocks(
        partition_file(HANDBOOK / "confluence" / "TRK-carrier-integration-checklist.json")
    )
    paths = [c.section_path for c in page]
    assert "Carrier integration checklist > 3. Testing" in paths
    table = next(
        c.text for c in page if c.section_path.endswith("2. Status mapping") and "|---|" in c.text
    )
    assert "| out for delivery | OUT_FOR_DELIVERY | triggers SMS |" in table


def test_unknown_json_is_refused(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "web", "dependencies": {}}')
    with pytest.raises(PartitionError, match=r"neither a Slack export"):
        partition_file(tmp_path / "package.json")
