"""Ingest and sync: source files -> partition -> chunk -> embed -> index, incrementally.

Unchanged files (same content, ACL and pipeline settings as the live version) are skipped;
changed files are replaced atomically (see `ingest.store`); files that disappeared from a
synced source (or, with `prune`, from an ingested folder) are removed. A file that cannot be
read is reported with its reason, keeps its previous version if it had one, and the batch
goes on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ingest.chunking import ChunkingConfig, chunk_blocks, indexed_text
from ingest.discover import Found, SourceFile, discover_paths, discover_source
from ingest.embed import Embedder
from ingest.partition import NotADocument, PartitionError, PartitionLimits, partition_file
from ingest.sources import SourceSpec
from ingest.sparse import encode_document
from ingest.store import ChunkRecord, DocStore, FileRecord
from oncall.core.errors import OncallError
from oncall.core.identity import PUBLIC_GROUP
from oncall.core.settings import IngestSettings

# Bump when partitioning or chunking changes what a file turns into: every file is then
# re-indexed on the next sync, as if its content had changed.
PIPELINE_VERSION = "4"

ProgressFn = Callable[[str, int], None]  # (file shown, chunks written) after each file

__all__ = ["IngestReport", "SourceFile", "ingest_paths", "sync_source"]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path or URL -> reason
    ignored: int = 0  # files of unsupported types inside walked folders
    chunks_written: int = 0
    vacuumed: int = 0  # stale chunk versions cleaned up (left by an interrupted run)

    @property
    def ok(self) -> bool:
        return not self.failed

    def merge(self, other: IngestReport) -> None:
        for name in ("added", "updated", "unchanged", "deleted"):
            getattr(self, name).extend(getattr(other, name))
        self.failed.update(other.failed)
        self.ignored += other.ignored
        self.chunks_written += other.chunks_written
        self.vacuumed += other.vacuumed


@dataclass
class _Batch:
    """What one run indexes: found files, their ACL, and which index files it may prune."""

    found: Found
    acl: tuple[str, ...]
    source_name: str
    prune_scope: Callable[[FileRecord], bool] | None


def ingest_paths(
    paths: Iterable[Path],
    store: DocStore,
    embedder: Embedder,
    settings: IngestSettings,
    prune: bool = False,
    acl: Iterable[str] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_file: ProgressFn | None = None,
) -> IngestReport:
    """Bring the index in line with the files under ad-hoc `paths` (readable by `acl`)."""
    found, roots = discover_paths(paths)

    def in_roots(rec: FileRecord) -> bool:
        return not rec.source_name and any(Path(rec.source).is_relative_to(r) for r in roots)

    groups = tuple(sorted(set(acl or ()) or {PUBLIC_GROUP}))
    batch = _Batch(found, groups, "", in_roots if prune else None)
    return _run(batch, store, embedder, settings, on_start, on_file)


def sync_source(
    spec: SourceSpec,
    store: DocStore,
    embedder: Embedder,
    settings: IngestSettings,
    cache_dir: Path,
    on_start: Callable[[int], None] | None = None,
    on_file: ProgressFn | None = None,
) -> IngestReport:
    """Sync one registry source: add, update and delete so the index mirrors it."""
    found = discover_source(spec, cache_dir)
    batch = _Batch(found, tuple(spec.acl), spec.name, lambda rec: rec.source_name == spec.name)
    return _run(batch, store, embedder, settings, on_start, on_file)


def _run(
    batch: _Batch,
    store: DocStore,
    embedder: Embedder,
    settings: IngestSettings,
    on_start: Callable[[int], None] | None,
    on_file: ProgressFn | None,
) -> IngestReport:
    # Refused files are reported like failures but are not "seen": a copy indexed before
    # (say, through a symlink that led outside the source) is pruned below.
    failed = {**batch.found.failed, **batch.found.refused}
    report = IngestReport(ignored=batch.found.ignored, failed=failed)
    store.ensure_collection(embedder.dim, embedder.name)
    indexed = store.indexed_files()
    chunking = ChunkingConfig(
        settings.chunk_max_chars, settings.chunk_soft_chars, settings.combine_under_chars
    )
    if on_start:
        on_start(len(batch.found.files))
    for src in batch.found.files:
        written = _ingest_one(src, batch, indexed, store, embedder, settings, chunking, report)
        if on_file:
            on_file(src.doc_id, written)
    if batch.prune_scope is not None:
        seen = {f.key for f in batch.found.files} | set(batch.found.failed)
        gone = [s for s, rec in indexed.items() if s not in seen and batch.prune_scope(rec)]
        store.delete_files(gone)
        report.deleted.extend(gone)
        report.vacuumed = store.vacuum()
    store.finish_batch()
    return report


def _ingest_one(
    src: SourceFile,
    batch: _Batch,
    indexed: dict[str, FileRecord],
    store: DocStore,
    embedder: Embedder,
    settings: IngestSettings,
    chunking: ChunkingConfig,
    report: IngestReport,
) -> int:
    """Index one file if it changed; returns chunks written. Failures go to the report."""
    key = src.key
    try:
        data = _read_checked(src.path, settings.max_file_mb)
        content_hash = hashlib.sha256(data).hexdigest()
        version = file_version(content_hash, batch.acl, chunking)
        if key in indexed and indexed[key].version == version:
            report.unchanged.append(key)
            return 0
        records = _build_records(src, embedder, chunking, PartitionLimits.from_settings(settings))
        file = FileRecord(
            key, version, content_hash, batch.acl, src.doc_id, batch.source_name, len(records)
        )
        store.replace_file(file, records)
    except NotADocument:
        report.ignored += 1
        return 0
    except PartitionError as exc:
        report.failed[key] = str(exc)
        return 0
    except OncallError:  # the store or the model is down: stop; the flip never happened
        raise
    except Exception as exc:  # one bad file never stops the batch; the report says why
        report.failed[key] = f"{type(exc).__name__}: {exc}"
        return 0
    report.chunks_written += len(records)
    (report.updated if key in indexed else report.added).append(key)
    return len(records)


def file_version(content_hash: str, acl: Iterable[str], chunking: ChunkingConfig) -> str:
    """The version id of a file's chunks: changes with content, ACL or pipeline settings."""
    parts = [content_hash, ",".join(sorted(acl)), repr(chunking), PIPELINE_VERSION]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def _read_checked(path: Path, max_mb: float) -> bytes:
    size = path.stat().st_size
    if size == 0:
        raise PartitionError("empty file (0 bytes)")
    if size > max_mb * 1024 * 1024:
        raise PartitionError(
            f"{size / 1e6:.1f} MB is over the {max_mb:g} MB cap (ingest.max_file_mb)"
        )
    return path.read_bytes()


def _build_records(
    src: SourceFile, embedder: Embedder, chunking: ChunkingConfig, limits: PartitionLimits
) -> list[ChunkRecord]:
    blocks = partition_file(src.path, limits)
    chunks = chunk_blocks(blocks, chunking)
    title = next((b.text for b in blocks if b.kind == "title"), src.path.stem)
    updated = datetime.fromtimestamp(src.path.stat().st_mtime, tz=UTC).isoformat()
    indexed_texts = [indexed_text(title, c.section_path, c.text) for c in chunks]
    dense = embedder.embed_documents(indexed_texts) if chunks else []
    return [
        ChunkRecord(
            chunk_index=i,
            text=chunk.text,
            dense=dense[i],
            sparse=encode_document(indexed_texts[i]),
            payload={
                "title": title,
                "section": chunk.section_path,
                "page": chunk.page,
                "file_type": src.path.suffix.lower().lstrip("."),
                "updated_at": updated,
            },
        )
        for i, chunk in enumerate(chunks)
    ]
