"""Checks that run on raw bytes before any parser does: text decoding, zip inspection.

Encoding policy (text formats: md, rst, txt, html, code, JSON exports):
1. A byte-order mark decides: UTF-8 (BOM stripped), UTF-16 LE/BE, UTF-32 LE/BE.
2. No BOM: NUL bytes or more than 1% control characters mean binary junk: rejected.
3. Strict UTF-8.
4. Not UTF-8: Windows-1252 (a superset of Latin-1's printable range), the usual encoding of
   old Western documents, accepted with a logged warning when the result still reads like
   text: no undefined bytes, under 30% non-ASCII. Otherwise rejected, asking for UTF-8; we
   do not guess among CJK legacy encodings (GBK, Shift-JIS), a wrong guess indexes garbage.

Zip policy (.docx, .pptx): the central directory is read, nothing is decompressed. Python's
`zipfile` (used by python-docx and python-pptx) never inflates past a member's declared size,
so checking declared sizes bounds the work: total size, per-member ratio, member count,
overlapping members (the non-recursive zip bomb) and archives nested more than one level.
"""

from __future__ import annotations

import codecs
import io
import itertools
import logging
import unicodedata
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ingest.formats.base import PartitionError
from ingest.formats.limits import PartitionLimits

log = logging.getLogger(__name__)

_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32"),  # before UTF-16 LE: its BOM starts with FF FE
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ALLOWED_CONTROLS = set("\t\n\r\f\v")
MAX_CONTROL_RATIO = 0.01
MAX_FALLBACK_NON_ASCII = 0.30
_NESTED_ARCHIVE_SUFFIXES = (".zip", ".docx", ".pptx", ".xlsx", ".jar", ".gz", ".7z")


@dataclass(frozen=True)
class DecodedText:
    text: str
    encoding: str
    note: str | None = None  # set when a fallback was used, for the log


def decode_text(data: bytes, name: str = "file") -> DecodedText:
    """Decode a text file's bytes by the policy in the module docstring."""
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return DecodedText(_check_not_binary(data.decode(encoding)), encoding)
            except UnicodeDecodeError as exc:
                raise PartitionError(
                    f"starts with a {encoding} byte-order mark but is not valid {encoding} "
                    f"({exc.reason} at byte {exc.start}): re-save it as UTF-8"
                ) from exc
    if b"\x00" in data:
        raise PartitionError(
            "binary content (NUL bytes) in a file with a text extension; if it is UTF-16 "
            "without a byte-order mark, re-save it as UTF-8"
        )
    try:
        return DecodedText(_check_not_binary(data.decode("utf-8")), "utf-8")
    except UnicodeDecodeError as exc:
        utf8_error = f"{exc.reason} at byte {exc.start}"
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise PartitionError(
            f"not UTF-8 ({utf8_error}) and not Windows-1252 text either: re-save it as UTF-8"
        ) from exc
    text = _check_not_binary(text)
    non_ascii = sum(1 for ch in text if ord(ch) > 127) / max(len(text), 1)
    if non_ascii > MAX_FALLBACK_NON_ASCII:
        raise PartitionError(
            f"not UTF-8 ({utf8_error}) and {non_ascii:.0%} non-ASCII as Windows-1252, so "
            "probably another legacy encoding (GBK, Shift-JIS...): re-save it as UTF-8"
        )
    note = f"{name}: not UTF-8 ({utf8_error}); read as Windows-1252"
    log.warning(note)
    return DecodedText(text, "cp1252", note)


def _check_not_binary(text: str) -> str:
    sample = text[:65_536]
    controls = sum(
        1 for ch in sample if ch not in _ALLOWED_CONTROLS and unicodedata.category(ch) == "Cc"
    )
    if "\x00" in sample or controls > MAX_CONTROL_RATIO * max(len(sample), 1):
        raise PartitionError(
            f"binary content ({controls} control characters in the first {len(sample)}) "
            "in a file with a text extension"
        )
    return text


def read_text(path: Path) -> DecodedText:
    """`decode_text` on a file's bytes."""
    return decode_text(path.read_bytes(), path.name)


def inspect_zip(data: bytes, limits: PartitionLimits, _depth: int = 0) -> list[zipfile.ZipInfo]:
    """Validate a zip container's central directory against `limits`; returns its members.

    Raises `PartitionError` for a corrupt archive or one that breaks a cap.
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            _check_members(members, limits)
            for info in members:
                if info.filename.lower().endswith(_NESTED_ARCHIVE_SUFFIXES):
                    if _depth >= 1:
                        raise PartitionError(
                            f"archive nested more than one level deep ({info.filename}): "
                            "possible zip bomb"
                        )
                    inner = archive.read(info)  # bounded: sizes were checked above
                    if inner.startswith(b"PK"):
                        inspect_zip(inner, limits, _depth + 1)
    except zipfile.BadZipFile as exc:
        raise PartitionError(f"corrupt or truncated zip container ({exc}): re-export it") from exc
    except (zipfile.LargeZipFile, NotImplementedError, RuntimeError) as exc:
        raise PartitionError(f"unreadable zip container ({exc})") from exc
    return members


def _check_members(members: list[zipfile.ZipInfo], limits: PartitionLimits) -> None:
    if len(members) > limits.max_zip_members:
        raise PartitionError(
            f"{len(members)} entries in the zip container, over the cap of "
            f"{limits.max_zip_members} (ingest.max_zip_members): possible zip bomb"
        )
    total = sum(info.file_size for info in members)
    cap = limits.max_zip_uncompressed_mb * 1024 * 1024
    if total > cap:
        raise PartitionError(
            f"unpacks to {total / 1e6:,.0f} MB, over the {limits.max_zip_uncompressed_mb:g} MB "
            "cap (ingest.max_zip_uncompressed_mb): possible zip bomb"
        )
    for info in members:
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1024 * 1024 and ratio > limits.max_zip_ratio:
            raise PartitionError(
                f"member {info.filename} is compressed {ratio:,.0f}:1, over the "
                f"{limits.max_zip_ratio:g}:1 cap (ingest.max_zip_ratio): possible zip bomb"
            )
    spans = sorted((info.header_offset, info.compress_size, info.filename) for info in members)
    for (start, length, name), (next_start, _, next_name) in itertools.pairwise(spans):
        if start + 30 + length > next_start:  # 30: the fixed part of a local header
            raise PartitionError(
                f"zip members {name} and {next_name} overlap: a crafted archive "
                "(non-recursive zip bomb)"
            )


def require_members(members: list[zipfile.ZipInfo], required: str, kind: str) -> None:
    """An OOXML file must hold its main part; a renamed .zip or .xlsx does not."""
    if not any(info.filename == required for info in members):
        raise PartitionError(
            f"a zip file but not a {kind} (no {required}): renamed file or wrong extension?"
        )
