"""Data pasted into a question (a CSV, JSON or log excerpt) taken out as files.

A model copying 40 rows of a pasted CSV into its program mistypes some of them; handed the
rows as a file, it reads them exactly. `split_pasted` finds the pasted blocks (fenced code
blocks, or runs of three or more lines that look like data) and returns the question with
each block replaced by a reference to its file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

MIN_DATA_LINES = 3
MAX_ATTACHMENT_CHARS = 1_000_000
_FENCE = re.compile(r"```[^\n`]*\n(.*?)```", re.DOTALL)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,80}$")
_LOGLIKE = re.compile(
    r"^\s*(\d{4}-\d{2}-\d{2}|\d{2}:\d{2}:\d{2}|\[\d|\d{1,3}(\.\d{1,3}){3}\s|[A-Z]+\s+/|"
    r"(level|ts|time|status|method)=)"
)


@dataclass(frozen=True)
class Attachment:
    """A file for the sandbox: a safe plain name and its text."""

    name: str
    content: str

    def __post_init__(self) -> None:
        if not _NAME.match(self.name) or self.name.startswith(".."):
            raise ValueError(
                f"attachment name {self.name!r}: use letters, digits, '.', '_' or '-' only"
            )
        if len(self.content) > MAX_ATTACHMENT_CHARS:
            raise ValueError(
                f"attachment {self.name} is {len(self.content)} characters; the limit is "
                f"{MAX_ATTACHMENT_CHARS}: attach the relevant part"
            )


def split_pasted(question: str) -> tuple[str, list[Attachment]]:
    """The question with pasted data blocks replaced by `[attached: NAME]`, and the blocks
    as attachments (data.csv, data.json, data.log, numbered when there are several)."""
    blocks: list[str] = []

    def take(match: re.Match[str]) -> str:
        body = match.group(1).strip("\n")
        if _kind(body) not in ("json", "jsonl") and not looks_like_data(body.splitlines()):
            return match.group(0)
        blocks.append(body)
        return f"\0{len(blocks) - 1}\0"

    text = _FENCE.sub(take, question)
    text = _take_data_runs(text, blocks)
    names = _names([_kind(b) for b in blocks])
    attachments = [Attachment(n, b + "\n") for n, b in zip(names, blocks, strict=True)]
    for i, name in enumerate(names):
        text = text.replace(f"\0{i}\0", f"[attached: {name}]")
    return text.strip(), attachments


def _take_data_runs(text: str, blocks: list[str]) -> str:
    """Runs of three or more consecutive lines with the same shape (same delimiter counts,
    or log lines) become blocks; the lines around them stay question text."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        key = _shape(lines[i])
        j = i + 1
        while key is not None and j < len(lines) and _shape(lines[j]) == key:
            j += 1
        run = lines[i:j]
        if key is not None and len(run) >= MIN_DATA_LINES and looks_like_data(run):
            blocks.append("\n".join(run))
            out.append(f"\0{len(blocks) - 1}\0")
        else:
            out.extend(run)
        i = j
    return "\n".join(out)


def _shape(line: str) -> tuple[int, ...] | None:
    """A data line's shape: its delimiter counts, or (-1,) for a log line; None for prose."""
    if not line.strip() or "\0" in line:
        return None
    if _LOGLIKE.match(line):
        return (-1,)
    counts = tuple(line.count(sep) for sep in (",", "\t", ";", "|"))
    return counts if any(counts) else None


def looks_like_data(lines: list[str]) -> bool:
    """CSV/TSV rows with a steady column count, JSON, or log lines."""
    lines = [line for line in lines if line.strip()]
    if len(lines) < 2:
        return False
    if _kind("\n".join(lines)) == "json":
        return True
    for sep in (",", "\t", ";", "|"):
        counts = {line.count(sep) for line in lines}
        if len(counts) == 1 and min(counts) >= 1 and len(lines) >= MIN_DATA_LINES:
            return True
    loglike = sum(bool(_LOGLIKE.match(line)) for line in lines)
    return loglike >= max(MIN_DATA_LINES, int(0.8 * len(lines)))


def _kind(block: str) -> str:
    stripped = block.strip()
    if stripped[:1] in "[{":
        try:
            json.loads(stripped)
            return "json"
        except ValueError:
            if all(_is_json(line) for line in stripped.splitlines() if line.strip()):
                return "jsonl"
    first = stripped.splitlines()[0] if stripped else ""
    if any(first.count(sep) >= 1 for sep in (",", "\t")) and not _LOGLIKE.match(first):
        return "csv"
    return "log"


def _is_json(line: str) -> bool:
    try:
        json.loads(line)
    except ValueError:
        return False
    return True


def _names(kinds: list[str]) -> list[str]:
    if len(kinds) == 1:
        return [f"data.{kinds[0]}"]
    return [f"data{i}.{k}" for i, k in enumerate(kinds, start=1)]
