"""Attached files (web upload, Slack file share) as agent attachments: plain names, text
data only, within the size limit (bots/attachments.py)."""

from __future__ import annotations

import pytest

from bots.attachments import AttachmentRefused, check_total, safe_name, text_attachment


@pytest.mark.parametrize(
    ("name", "taken", "expected"),
    [
        ("latency.csv", [], "latency.csv"),
        ("my data (1).CSV", [], "my_data_1.csv"),
        ("../../etc/passwd.log", [], "passwd.log"),
        ("C:\\Users\\me\\x.json", [], "x.json"),
        (".hidden.txt", [], "hidden.txt"),
        ("---.csv", [], "attachment.csv"),
        ("data.csv", ["data.csv", "data-2.csv"], "data-3.csv"),
        ("журнал.log", [], "attachment.log"),
    ],
)
def test_names_become_plain_file_names(name: str, taken: list[str], expected: str) -> None:
    assert safe_name(name, taken) == expected


def test_text_data_is_taken_with_windows_line_ends_made_plain() -> None:
    got = text_attachment("a b.csv", b"x,y\r\n1,2\r\n", ["other.csv"])
    assert (got.name, got.content) == ("a_b.csv", "x,y\n1,2\n")


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("sheet.xlsx", b"PK", "sheet.xlsx: only text data can be attached"),
        ("noext", b"a", "noext: only text data"),
        ("latin1.csv", "é,1\n".encode("latin-1"), "latin1.csv is not UTF-8 text (byte 0)"),
        ("dump.log", b"ok\x00\x01", "dump.log holds binary data"),
    ],
)
def test_anything_but_text_data_is_refused_saying_what_to_do(
    name: str, data: bytes, says: str
) -> None:
    with pytest.raises(AttachmentRefused) as refused:
        text_attachment(name, data)
    assert refused.value.code == "unsupported_attachment" and says in str(refused.value)


def test_size_and_count_limits_name_the_largest_file() -> None:
    check_total([("a.csv", 1024), ("b.csv", 1024)], 2)
    with pytest.raises(AttachmentRefused) as big:
        check_total([("a.csv", 1024), ("b.csv", 30_000)], 2)
    assert big.value.code == "attachment_too_large"
    assert str(big.value).startswith("b.csv is 29 KiB; attachments may total 2 KiB per question")
    with pytest.raises(AttachmentRefused) as many:
        check_total([(f"{i}.csv", 1) for i in range(4)], 100)
    assert many.value.code == "too_many_attachments"
