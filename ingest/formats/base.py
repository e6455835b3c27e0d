"""The types every format reader produces: `Block` and `PartitionError`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BlockKind = Literal["title", "text", "table"]


class PartitionError(Exception):
    """The file cannot be turned into text; the message says why, for the ingest report."""


class NotADocument(PartitionError):
    """A readable file of a supported type that holds no document (e.g. a config JSON in a
    git checkout): counted as ignored in the report, not as a failure."""


@dataclass(frozen=True)
class Block:
    """One title, paragraph or table of a document, in reading order.

    `depth` is the heading level of a title (0 = top); `page` is the PDF page or slide number;
    `language` is set on source-code text so the chunker cuts it at line boundaries.
    """

    kind: BlockKind
    text: str
    depth: int = 0
    page: int | None = None
    language: str | None = None
