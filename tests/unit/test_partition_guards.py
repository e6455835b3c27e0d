"""Raw-byte guards: the text decoding policy, zip-bomb inspection and the caps' defaults."""

from __future__ import annotations

import codecs
import io
import struct
import zipfile

import pytest

from ingest.formats.base import PartitionError
from ingest.formats.guards import decode_text, inspect_zip, require_members
from ingest.formats.limits import DEFAULT_LIMITS, PartitionLimits
from oncall.core.settings import IngestSettings

TEXT = "Runbook: Kafka consumer lag\n\nSkip exactly one message, then watch the lag.\n"


# ---------------------------------------------------------------- decoding


def test_plain_utf8() -> None:
    decoded = decode_text("Übergabe um 09:00 – café ✓\n".encode())
    assert (decoded.encoding, decoded.note) == ("utf-8", None)
    assert decoded.text.startswith("Übergabe")


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (codecs.BOM_UTF8 + TEXT.encode(), "utf-8-sig"),
        (codecs.BOM_UTF16_LE + TEXT.encode("utf-16-le"), "utf-16"),
        (codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), "utf-16"),
        (codecs.BOM_UTF32_LE + TEXT.encode("utf-32-le"), "utf-32"),
    ],
)
def test_byte_order_marks_decide_and_are_stripped(data: bytes, encoding: str) -> None:
    decoded = decode_text(data)
    assert decoded.encoding == encoding
    assert decoded.text == TEXT  # no BOM character left at the start


def test_windows_1252_fallback_is_accepted_with_a_note(caplog: pytest.LogCaptureFixture) -> None:
    data = "Café “on-call” hand‑over: 5 € per night\n".replace("‑", "-").encode("cp1252")
    decoded = decode_text(data, "notes.txt")
    assert decoded.encoding == "cp1252"
    assert decoded.text.startswith("Café “on-call”")
    assert decoded.note and "notes.txt" in decoded.note and "Windows-1252" in decoded.note
    assert "not UTF-8" in caplog.text


def test_legacy_cjk_encoding_is_rejected_not_guessed() -> None:
    data = ("值班手册：如何处理消费者延迟。" * 20).encode("gbk")
    with pytest.raises(PartitionError, match=r"re-save it as UTF-8"):
        decode_text(data)


def test_nul_bytes_are_binary() -> None:
    with pytest.raises(PartitionError, match=r"binary content"):
        decode_text(b"# title\n\x00\x01\x02 payload")


def test_utf16_without_bom_is_rejected_with_a_hint() -> None:
    with pytest.raises(PartitionError, match=r"UTF-16 without a byte-order mark"):
        decode_text(TEXT.encode("utf-16-le"))


def test_control_character_soup_is_binary() -> None:
    junk = bytes(range(1, 32)) * 50 + b"some words"
    with pytest.raises(PartitionError, match=r"control characters"):
        decode_text(junk)


def test_a_few_control_characters_are_tolerated() -> None:
    text = "x" * 2000 + "\x1b[0m" + "y" * 2000  # one ANSI escape in a log export
    assert decode_text(text.encode()).text == text


def test_bom_with_broken_body_is_rejected() -> None:
    with pytest.raises(PartitionError, match=r"byte-order mark"):
        decode_text(codecs.BOM_UTF16_LE + b"\x00\xd8")  # lone surrogate


# ---------------------------------------------------------------- zip inspection


def make_zip(members: dict[str, bytes], level: int = 6) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


DOCX_MEMBERS = {"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>" * 50}


def test_ordinary_container_passes_and_lists_members() -> None:
    members = inspect_zip(make_zip(DOCX_MEMBERS), DEFAULT_LIMITS)
    assert [m.filename for m in members] == list(DOCX_MEMBERS)
    require_members(members, "word/document.xml", ".docx document")


def test_missing_main_part_means_wrong_extension() -> None:
    members = inspect_zip(make_zip({"xl/workbook.xml": b"<x/>"}), DEFAULT_LIMITS)
    with pytest.raises(PartitionError, match=r"no word/document.xml.*renamed"):
        require_members(members, "word/document.xml", ".docx document")


def test_total_uncompressed_size_cap() -> None:
    limits = PartitionLimits(max_zip_uncompressed_mb=0.01)
    data = make_zip({"a.xml": b"<a>" + b"x" * 20_000 + b"</a>"})
    with pytest.raises(PartitionError, match=r"max_zip_uncompressed_mb"):
        inspect_zip(data, limits)


def test_compression_ratio_cap() -> None:
    data = make_zip({"word/document.xml": bytes(4 * 1024 * 1024)}, level=9)  # ~1000:1
    with pytest.raises(PartitionError, match=r"compressed [\d,]+:1.*max_zip_ratio"):
        inspect_zip(data, DEFAULT_LIMITS)


def test_member_count_cap() -> None:
    data = make_zip({f"m{i}.xml": b"<m/>" for i in range(30)})
    with pytest.raises(PartitionError, match=r"30 entries.*max_zip_members"):
        inspect_zip(data, PartitionLimits(max_zip_members=20))


def test_overlapping_members_are_a_crafted_archive() -> None:
    data = bytearray(make_zip({"a.xml": b"<a/>" * 100, "b.xml": b"<b/>" * 100}))
    second = data.find(b"PK\x01\x02", data.find(b"PK\x01\x02") + 4)
    data[second + 42 : second + 46] = struct.pack("<I", 0)  # b.xml's data -> a.xml's offset
    with pytest.raises(PartitionError, match=r"overlap"):
        inspect_zip(bytes(data), DEFAULT_LIMITS)


def test_one_level_of_nesting_is_allowed_two_are_not() -> None:
    inner = make_zip({"sheet.xml": b"<s/>"})
    ok = make_zip({**DOCX_MEMBERS, "word/embeddings/table.xlsx": inner})
    assert inspect_zip(ok, DEFAULT_LIMITS)
    deep = make_zip({"word/embeddings/a.zip": make_zip({"b.zip": inner})})
    with pytest.raises(PartitionError, match=r"nested more than one level"):
        inspect_zip(deep, DEFAULT_LIMITS)


def test_nested_archive_is_held_to_the_same_caps() -> None:
    bomb = make_zip({"zeros.bin": bytes(4 * 1024 * 1024)}, level=9)
    with pytest.raises(PartitionError, match=r"max_zip_ratio"):
        inspect_zip(make_zip({"embedded.zip": bomb}, level=0), DEFAULT_LIMITS)


@pytest.mark.parametrize(
    "data", [b"PK\x03\x04 not a zip at all", make_zip(DOCX_MEMBERS)[:-30], b"plain text"]
)
def test_corrupt_or_truncated_zip(data: bytes) -> None:
    with pytest.raises(PartitionError, match=r"corrupt or truncated zip"):
        inspect_zip(data, DEFAULT_LIMITS)


# ---------------------------------------------------------------- caps in one place


def test_partition_limits_defaults_match_ingest_settings() -> None:
    assert PartitionLimits.from_settings(IngestSettings()) == PartitionLimits()


def test_partition_limits_follow_settings_overrides() -> None:
    settings = IngestSettings(max_pdf_pages=7, max_zip_members=9)
    limits = PartitionLimits.from_settings(settings)
    assert (limits.max_pdf_pages, limits.max_zip_members) == (7, 9)
