"""`oncall ingest`: walk sources -> partition -> chunk -> embed -> upsert, incrementally.

Unchanged files (same sha256 as in the index) are skipped, changed files have their chunks
replaced, and with `prune` files that disappeared from a walked folder are removed. A file
that cannot be read is reported with its reason and the batch goes on.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from agent.errors import OncallError
from agent.settings import IngestSettings
from ingest.chunking import ChunkingConfig, chunk_blocks
from ingest.embed import Embedder
from ingest.partition import SUPPORTED_SUFFIXES, PartitionError, partition_file
from ingest.sparse import encode_document
from ingest.store import ChunkRecord, DocStore

ProgressFn = Callable[[str, int], None]  # (file shown, chunks written) after each file


@dataclass(frozen=True)
class SourceFile:
    path: Path
    doc_id: str  # path relative to the ingested folder, without suffix: used in citations


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)  # path -> reason
    ignored: int = 0  # files of unsupported types inside walked folders
    chunks_written: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


def discover(paths: Iterable[Path]) -> tuple[list[SourceFile], list[Path], int]:
    """Files to ingest, the folders walked (for pruning), and how many files were ignored.

    A missing path raises `FileNotFoundError` naming it; hidden files and folders are skipped.
    """
    files: list[SourceFile] = []
    roots: list[Path] = []
    ignored = 0
    for raw in paths:
        path = raw.expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"{raw}: no such file or folder")
        if path.is_file():
            files.append(SourceFile(path, path.stem))
            continue
        roots.append(path)
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                file = Path(dirpath) / name
                if name.startswith("."):
                    continue
                if file.suffix.lower() not in SUPPORTED_SUFFIXES:
                    ignored += 1
                    continue
                doc_id = file.relative_to(path).with_suffix("").as_posix()
                files.append(SourceFile(file, doc_id))
    return files, roots, ignored


def ingest_paths(
    paths: Iterable[Path],
    store: DocStore,
    embedder: Embedder,
    settings: IngestSettings,
    prune: bool = False,
    on_start: Callable[[int], None] | None = None,
    on_file: ProgressFn | None = None,
) -> IngestReport:
    """Bring the index in line with the files under `paths`; see the module docstring."""
    files, roots, ignored = discover(paths)
    report = IngestReport(ignored=ignored)
    store.ensure_collection(embedder.dim)
    indexed = store.indexed_files()
    chunking = ChunkingConfig(
        settings.chunk_max_chars, settings.chunk_soft_chars, settings.combine_under_chars
    )
    if on_start:
        on_start(len(files))
    for src in files:
        source = str(src.path)
        written = 0
        try:
            data = _read_checked(src.path, settings.max_file_mb)
            content_hash = hashlib.sha256(data).hexdigest()
            if indexed.get(source) == content_hash:
                report.unchanged.append(source)
            else:
                records = _build_records(src, content_hash, embedder, chunking)
                store.replace_file(source, content_hash, records)
                written = len(records)
                report.chunks_written += written
                (report.updated if source in indexed else report.added).append(source)
        except PartitionError as exc:
            report.failed[source] = str(exc)
        except OncallError:  # the store or the model is down: stop, nothing half-written
            raise
        except Exception as exc:  # one bad file never stops the batch; the report says why
            report.failed[source] = f"{type(exc).__name__}: {exc}"
        if on_file:
            on_file(src.doc_id, written)
    if prune:
        seen = {str(f.path) for f in files}
        gone = [
            s
            for s in indexed
            if s not in seen and any(Path(s).is_relative_to(root) for root in roots)
        ]
        store.delete_files(gone)
        report.deleted.extend(gone)
    return report


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
    src: SourceFile, content_hash: str, embedder: Embedder, chunking: ChunkingConfig
) -> list[ChunkRecord]:
    blocks = partition_file(src.path)
    chunks = chunk_blocks(blocks, chunking)
    title = next((b.text for b in blocks if b.kind == "title"), src.path.stem)
    updated = datetime.fromtimestamp(src.path.stat().st_mtime, tz=UTC).isoformat()
    # The title and section go into what is embedded and BM25-indexed: a chunk under
    # "Rollback" should match "how do I roll back" even if its body never says so.
    indexed_texts = [f"{title}\n{c.section_path}\n\n{c.text}" for c in chunks]
    dense = embedder.embed_documents(indexed_texts) if chunks else []
    return [
        ChunkRecord(
            source=str(src.path),
            chunk_index=i,
            content_hash=content_hash,
            text=chunk.text,
            dense=dense[i],
            sparse=encode_document(indexed_texts[i]),
            payload={
                "doc_id": src.doc_id,
                "title": title,
                "section": chunk.section_path,
                "page": chunk.page,
                "file_type": src.path.suffix.lower().lstrip("."),
                "updated_at": updated,
            },
        )
        for i, chunk in enumerate(chunks)
    ]
