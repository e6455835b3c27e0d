"""The chunk index: one Qdrant collection with a dense and a BM25 sparse vector per chunk.

`DocStore` is the only code that speaks Qdrant. Embedded mode keeps the collection under the
data dir (qdrant-client local mode); a URL in settings points it at a Qdrant server instead.
Hybrid search is one query: a dense and a sparse prefetch fused by reciprocal rank fusion
inside Qdrant.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from agent.errors import OncallError
from agent.settings import StoreSettings
from ingest.sparse import SparseVector

DENSE = "dense"
SPARSE = "bm25"
_ID_NAMESPACE = uuid.UUID("6f1d2b1e-8c43-4a55-9a0e-3e1f5c2d7a10")


@dataclass
class ChunkRecord:
    """A chunk ready to store: vectors plus the payload citations are built from."""

    source: str
    chunk_index: int
    content_hash: str
    text: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def point_id(self) -> str:
        # Same file content -> same ids: re-ingesting is an idempotent upsert.
        key = f"{self.source}\x00{self.content_hash}\x00{self.chunk_index}"
        return str(uuid.uuid5(_ID_NAMESPACE, key))


@dataclass
class Hit:
    """One search result; `similarity` is the dense cosine, `score` the fused RRF score."""

    id: str
    score: float
    similarity: float
    payload: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.payload.get("text", ""))


class DocStore:
    def __init__(self, settings: StoreSettings, data_dir: Path):
        self.collection = settings.collection
        self.location = settings.url or str(data_dir / "qdrant")
        self._remote = bool(settings.url)
        try:
            if settings.url:
                api_key = settings.api_key.get_secret_value() if settings.api_key else None
                self._client = QdrantClient(url=settings.url, api_key=api_key, timeout=10)
            else:
                (data_dir / "qdrant").mkdir(parents=True, exist_ok=True)
                self._client = QdrantClient(path=str(data_dir / "qdrant"))
        except RuntimeError as exc:  # local mode: the folder is locked by another process
            raise OncallError(
                "store_busy",
                f"the index at {self.location} is in use by another oncall process "
                f"(ingest or serve); wait for it to finish or stop it ({exc})",
            ) from exc

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DocStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (ConnectionError, TimeoutError, OSError) as exc:
            raise OncallError(
                "store_unavailable", f"Qdrant at {self.location} failed during {what}: {exc}"
            ) from exc

    def exists(self) -> bool:
        return bool(self._call("collection check", self._client.collection_exists, self.collection))

    def ensure_collection(self, dim: int) -> None:
        if self.exists():
            info = self._client.get_collection(self.collection)
            vectors = info.config.params.vectors
            size = vectors[DENSE].size if isinstance(vectors, dict) else None
            if size != dim:
                raise OncallError(
                    "store_mismatch",
                    f"collection {self.collection!r} holds {size}-d vectors but the embedder "
                    f"makes {dim}-d ones; re-ingest into a new collection "
                    "(ONCALL_STORE__COLLECTION)",
                )
            return
        self._call(
            "create collection",
            self._client.create_collection,
            self.collection,
            vectors_config={DENSE: models.VectorParams(size=dim, distance=models.Distance.COSINE)},
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
        )
        if self._remote:  # local mode has no payload indexes (it filters in Python)
            for key in ("source", "content_hash", "doc_id"):
                self._client.create_payload_index(
                    self.collection, key, models.PayloadSchemaType.KEYWORD
                )

    def count(self) -> int:
        if not self.exists():
            return 0
        return int(self._client.count(self.collection, exact=True).count)

    def indexed_files(self) -> dict[str, str]:
        """source -> content hash of every file in the index."""
        if not self.exists():
            return {}
        files: dict[str, str] = {}
        offset = None
        while True:
            points, offset = self._call(
                "scroll",
                self._client.scroll,
                self.collection,
                with_payload=["source", "content_hash"],
                with_vectors=False,
                limit=1024,
                offset=offset,
            )
            for p in points:
                files[p.payload["source"]] = p.payload["content_hash"]
            if offset is None:
                return files

    def replace_file(self, source: str, content_hash: str, records: Sequence[ChunkRecord]) -> None:
        """Write a file's new chunks, then drop its old ones.

        New ids differ from old ones (they include the content hash), so at every moment the
        file is fully present in its old or its new version, never missing.
        """
        points = [
            models.PointStruct(
                id=r.point_id,
                vector={
                    DENSE: r.dense,
                    SPARSE: models.SparseVector(indices=r.sparse.indices, values=r.sparse.values),
                },
                payload={
                    **r.payload,
                    "source": r.source,
                    "chunk_index": r.chunk_index,
                    "content_hash": r.content_hash,
                    "text": r.text,
                },
            )
            for r in records
        ]
        if points:
            self._call("upsert", self._client.upsert, self.collection, points=points, wait=True)
        stale = models.Filter(
            must=[_match("source", source)], must_not=[_match("content_hash", content_hash)]
        )
        self._call("delete", self._client.delete, self.collection, points_selector=stale)

    def delete_files(self, sources: Iterable[str]) -> None:
        for source in sources:
            selector = models.Filter(must=[_match("source", source)])
            self._call("delete", self._client.delete, self.collection, points_selector=selector)

    def hybrid_search(
        self, dense: list[float], sparse: SparseVector, limit: int, prefetch_limit: int
    ) -> list[Hit]:
        """Dense + BM25 candidates fused by RRF; each hit carries its dense cosine too."""
        if not self.exists():
            raise OncallError(
                "index_empty",
                f"no documents indexed in {self.location}; run `oncall ingest PATH` first",
            )
        sparse_query = models.SparseVector(indices=sparse.indices, values=sparse.values)
        response = self._call(
            "search",
            self._client.query_points,
            self.collection,
            prefetch=[
                models.Prefetch(query=dense, using=DENSE, limit=prefetch_limit),
                models.Prefetch(query=sparse_query, using=SPARSE, limit=prefetch_limit),
            ],
            query=models.FusionQuery(fusion=models.Fusion.RRF),
            limit=limit,
            with_payload=True,
            with_vectors=[DENSE],
        )
        hits = []
        for point in response.points:
            vector = point.vector.get(DENSE) if isinstance(point.vector, dict) else None
            similarity = sum(a * b for a, b in zip(dense, vector, strict=True)) if vector else 0.0
            hits.append(Hit(str(point.id), float(point.score), float(similarity), point.payload))
        return hits


def _match(key: str, value: str) -> models.FieldCondition:
    return models.FieldCondition(key=key, match=models.MatchValue(value=value))
