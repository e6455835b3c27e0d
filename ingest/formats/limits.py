"""Caps that keep one hostile or broken file from eating the ingest worker.

The defaults live here, once; `oncall.core.settings.IngestSettings` exposes the same fields (a
unit test keeps both in step) and `PartitionLimits.from_settings` carries them over.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class _LimitSource(Protocol):
    max_zip_uncompressed_mb: float
    max_zip_ratio: float
    max_zip_members: int
    max_pdf_pages: int


@dataclass(frozen=True)
class PartitionLimits:
    """Bounds checked before a parser decompresses or walks anything.

    max_zip_uncompressed_mb: sum of the declared uncompressed sizes of a .docx/.pptx.
    max_zip_ratio: uncompressed / compressed size of any one member. Office XML compresses
        about 5-30x; a zip bomb's payload compresses 1000x.
    max_zip_members: entries in the archive's central directory.
    max_pdf_pages: pages a PDF may declare (a cheap proxy for its decompressed size).
    """

    max_zip_uncompressed_mb: float = 500.0
    max_zip_ratio: float = 200.0
    max_zip_members: int = 10_000
    max_pdf_pages: int = 2_000

    @classmethod
    def from_settings(cls, settings: _LimitSource) -> PartitionLimits:
        """The caps configured in `IngestSettings` (or anything with the same fields)."""
        return cls(
            max_zip_uncompressed_mb=settings.max_zip_uncompressed_mb,
            max_zip_ratio=settings.max_zip_ratio,
            max_zip_members=settings.max_zip_members,
            max_pdf_pages=settings.max_pdf_pages,
        )


DEFAULT_LIMITS = PartitionLimits()
