"""qdrant-client: a Qdrant server or cluster by URL (scale), or local mode (small, tests).

On a server every filtered field gets a keyword payload index and `acl` is declared a
tenant-style index, so ACL-filtered search stays fast with many groups; vectors can live on
disk and be int8/binary quantized (see docs/documents.md "The index").
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from ingest.backends import DENSE, RRF_K, SPARSE, Filter, PointData, SearchMode, StoredPoint
from ingest.backends.edge import INDEXED_FIELDS
from ingest.sparse import SparseVector
from oncall.core.errors import OncallError
from oncall.core.settings import StoreSettings

_UPSERT_BATCH = 256


class QdrantBackend:
    def __init__(self, settings: StoreSettings, local_dir: Path):
        self.collection = settings.collection
        self._settings = settings
        self._remote = bool(settings.url)
        self.location = settings.url or str(local_dir)
        try:
            if settings.url:
                key = settings.api_key.get_secret_value() if settings.api_key else None
                self._client = QdrantClient(url=settings.url, api_key=key, timeout=10)
            else:
                local_dir.mkdir(parents=True, exist_ok=True)
                self._client = QdrantClient(path=str(local_dir))
        except RuntimeError as exc:  # local mode: the folder is locked by another process
            raise OncallError(
                "store_busy",
                f"the index at {self.location} is in use by another oncall process "
                f"(ingest or serve); wait for it to finish or stop it ({exc})",
            ) from exc

    def _call(self, what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        # ResponseHandlingException: qdrant-client's wrapper of connection errors and timeouts.
        except (ConnectionError, TimeoutError, OSError, ResponseHandlingException) as exc:
            raise OncallError(
                "store_unavailable", f"Qdrant at {self.location} failed during {what}: {exc}"
            ) from exc
        except UnexpectedResponse as exc:  # 5xx: the server is up but cannot serve
            if exc.status_code is None or exc.status_code < 500:
                raise
            raise OncallError(
                "store_unavailable",
                f"Qdrant at {self.location} answered HTTP {exc.status_code} during {what}",
            ) from exc

    def exists(self) -> bool:
        return bool(self._call("collection check", self._client.collection_exists, self.collection))

    def dense_dim(self) -> int | None:
        if not self.exists():
            return None
        vectors = self._client.get_collection(self.collection).config.params.vectors
        return vectors[DENSE].size if isinstance(vectors, dict) else None

    def create(self, dim: int) -> None:
        s = self._settings
        self._call(
            "create collection",
            self._client.create_collection,
            self.collection,
            vectors_config={
                DENSE: models.VectorParams(
                    size=dim, distance=models.Distance.COSINE, on_disk=s.on_disk
                )
            },
            sparse_vectors_config={SPARSE: models.SparseVectorParams(modifier=models.Modifier.IDF)},
            quantization_config=_quantization(s.quantization),
            shard_number=s.shard_number,
            replication_factor=s.replication_factor,
        )
        if self._remote:  # local mode has no payload indexes (it filters in Python)
            for name in INDEXED_FIELDS:
                schema: Any = models.PayloadSchemaType.KEYWORD
                if name == "acl":
                    schema = models.KeywordIndexParams(
                        type=models.KeywordIndexType.KEYWORD, is_tenant=True
                    )
                self._client.create_payload_index(self.collection, name, schema)

    def upsert(self, points: Sequence[PointData]) -> None:
        structs = [
            models.PointStruct(id=p.id, vector=_vectors(p), payload=p.payload) for p in points
        ]
        for start in range(0, len(structs), _UPSERT_BATCH):
            self._call(
                "upsert",
                self._client.upsert,
                self.collection,
                points=structs[start : start + _UPSERT_BATCH],
                wait=True,
            )

    def delete(self, flt: Filter) -> None:
        self._call(
            "delete", self._client.delete, self.collection, points_selector=_filter(flt), wait=True
        )

    def retrieve(self, ids: Sequence[str]) -> list[StoredPoint]:
        if not ids:
            return []
        records = self._call("retrieve", self._client.retrieve, self.collection, list(ids))
        return [StoredPoint(str(r.id), dict(r.payload or {})) for r in records]

    def scroll(self, flt: Filter, fields: Sequence[str] | None) -> Iterator[StoredPoint]:
        offset = None
        while True:
            records, offset = self._call(
                "scroll",
                self._client.scroll,
                self.collection,
                scroll_filter=_filter(flt),
                with_payload=list(fields) if fields is not None else True,
                with_vectors=False,
                limit=1024,
                offset=offset,
            )
            for r in records:
                yield StoredPoint(str(r.id), dict(r.payload or {}))
            if offset is None:
                return

    def count(self, flt: Filter | None = None) -> int:
        if not self.exists():
            return 0
        result = self._client.count(self.collection, count_filter=_filter(flt), exact=True)
        return int(result.count)

    def query(
        self,
        dense: list[float],
        sparse: SparseVector,
        mode: SearchMode,
        limit: int,
        prefetch: int,
        flt: Filter,
        rrf_k: int = RRF_K,
    ) -> list[StoredPoint]:
        sparse_q = models.SparseVector(indices=list(sparse.indices), values=list(sparse.values))
        qfilter = _filter(flt)
        common: dict[str, Any] = {
            "limit": limit,
            "with_payload": True,
            "with_vectors": [DENSE],
            "query_filter": qfilter,
        }
        if mode == "dense":
            response = self._call(
                "search",
                self._client.query_points,
                self.collection,
                query=dense,
                using=DENSE,
                **common,
            )
        elif mode == "bm25":
            response = self._call(
                "search",
                self._client.query_points,
                self.collection,
                query=sparse_q,
                using=SPARSE,
                **common,
            )
        else:
            arms = [
                models.Prefetch(query=dense, using=DENSE, limit=prefetch, filter=qfilter),
                models.Prefetch(query=sparse_q, using=SPARSE, limit=prefetch, filter=qfilter),
            ]
            response = self._call(
                "search",
                self._client.query_points,
                self.collection,
                prefetch=arms,
                query=models.RrfQuery(rrf=models.Rrf(k=rrf_k)),
                **common,
            )
        out = []
        for p in response.points:
            vector = p.vector.get(DENSE) if isinstance(p.vector, dict) else None
            out.append(StoredPoint(str(p.id), dict(p.payload or {}), float(p.score), vector))
        return out

    def finish_batch(self) -> None:
        return None  # the server persists and optimises on its own

    def close(self) -> None:
        self._client.close()


def _vectors(p: PointData) -> dict[str, Any]:
    vec: dict[str, Any] = {}
    if p.dense is not None:
        vec[DENSE] = p.dense
    if p.sparse is not None:
        vec[SPARSE] = models.SparseVector(
            indices=list(p.sparse.indices), values=list(p.sparse.values)
        )
    return vec


def _filter(flt: Filter | None) -> models.Filter | None:
    if flt is None or not (flt.must or flt.must_not):
        return None

    def cond(m: Any) -> models.FieldCondition:
        return models.FieldCondition(key=m.key, match=models.MatchAny(any=list(m.values)))

    return models.Filter(
        must=[cond(m) for m in flt.must] or None,
        must_not=[cond(m) for m in flt.must_not] or None,
    )


def _quantization(kind: str) -> Any:
    if kind == "scalar":
        return models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.99, always_ram=True
            )
        )
    if kind == "binary":
        return models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True))
    return None
