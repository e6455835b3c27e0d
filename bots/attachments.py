"""Files people attach to a question (web upload, Slack file share) as agent attachments.

The agent hands attachments to the sandbox as files for a computation (agent/pasted.py,
agent/compute.py). Only text data is taken: CSV/TSV, JSON/JSONL, logs and plain text,
within a size limit; anything else is refused with a message saying what to attach. Names
come from whoever uploaded the file, so they are reduced to the plain names the sandbox
accepts (`data (1).csv` -> `data_1.csv`), kept distinct within one question.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import PurePosixPath

from agent.pasted import Attachment

TEXT_EXTENSIONS = (".csv", ".tsv", ".json", ".jsonl", ".ndjson", ".log", ".txt")
MAX_ATTACHMENTS = 3
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class AttachmentRefused(ValueError):
    """An attached file the agent cannot take; `code` is stable, the message says why
    and what to do instead."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def safe_name(name: str, taken: Iterable[str] = ()) -> str:
    """A plain file name for `name` (letters, digits, `._-`; no folders), not in `taken`."""
    base = PurePosixPath(name.replace("\\", "/")).name
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = _UNSAFE.sub("_", stem).strip("._-")[:60] or "attachment"
    ext = _UNSAFE.sub("", ext)[:10].lower()
    candidate = f"{stem}.{ext}" if ext else stem
    used = set(taken)
    n = 2
    while candidate in used:
        candidate = f"{stem}-{n}.{ext}" if ext else f"{stem}-{n}"
        n += 1
    return candidate


def require_text_name(name: str) -> None:
    """Refuse a file whose extension is not one of the text data types."""
    if not name.lower().endswith(TEXT_EXTENSIONS):
        raise AttachmentRefused(
            "unsupported_attachment",
            f"{name or 'the file'}: only text data can be attached "
            f"({', '.join(TEXT_EXTENSIONS)}); export it as CSV or JSON, or paste the relevant "
            "lines into the question",
        )


def text_attachment(name: str, data: bytes | str, taken: Iterable[str] = ()) -> Attachment:
    """`data` as an attachment named after `name`, if it is text data (by its extension and
    its bytes: UTF-8 without NUL). Raises `AttachmentRefused` otherwise."""
    shown = name or "the file"
    require_text_name(name)
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise AttachmentRefused(
            "unsupported_attachment",
            f"{shown} is not UTF-8 text (byte {exc.start}); save it as UTF-8 and attach it again",
        ) from exc
    if "\x00" in text:
        raise AttachmentRefused(
            "unsupported_attachment", f"{shown} holds binary data; attach a text export instead"
        )
    return Attachment(safe_name(name, taken), text.replace("\r\n", "\n"))


def check_total(sizes: Iterable[tuple[str, int]], limit_kb: int) -> None:
    """Refuse attachments whose bytes add up to more than `limit_kb`, naming the largest."""
    sizes = list(sizes)
    if len(sizes) > MAX_ATTACHMENTS:
        raise AttachmentRefused(
            "too_many_attachments",
            f"{len(sizes)} files attached; at most {MAX_ATTACHMENTS} per question",
        )
    total = sum(size for _, size in sizes)
    if total > limit_kb * 1024:
        name, size = max(sizes, key=lambda item: item[1])
        raise AttachmentRefused(
            "attachment_too_large",
            f"{name} is {_kib(size)} KiB; attachments may total {limit_kb} KiB per question. "
            "Attach the relevant part (e.g. the rows or the time window you ask about)",
        )


def _kib(size: int) -> str:
    return f"{size / 1024:.0f}" if size >= 10 * 1024 else f"{size / 1024:.1f}"
