"""Vector-store engines behind `ingest.store.DocStore`.

`DocStore` speaks a small engine-neutral vocabulary (points, any-of filters, a hybrid
query); each backend translates it for one engine:

- `edge`: Qdrant Edge, Qdrant's in-process Rust engine: the embedded default (hybrid search
  with an ACL filter in a few ms at 100k chunks);
- `qdrant`: qdrant-client, against a Qdrant server/cluster URL, or its pure-Python local mode
  for small corpora and tests.

Both pass the same contract tests (tests/integration/test_store_contract.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ingest.sparse import SparseVector

DENSE = "dense"
SPARSE = "bm25"
RRF_K = 60  # the usual reciprocal-rank-fusion constant; Qdrant's own default is 2

SearchMode = Literal["hybrid", "dense", "bm25"]


@dataclass(frozen=True)
class Match:
    """`key` has any of `values` (a keyword field, or a list field sharing one value)."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Filter:
    must: tuple[Match, ...] = ()
    must_not: tuple[Match, ...] = ()


@dataclass
class PointData:
    """A point to write: chunks carry both vectors, file records only a payload."""

    id: str
    payload: dict[str, Any]
    dense: list[float] | None = None
    sparse: SparseVector | None = None


@dataclass
class StoredPoint:
    id: str
    payload: dict[str, Any]
    score: float = 0.0
    dense: list[float] | None = field(default=None, repr=False)


class IndexBackend(Protocol):
    location: str

    def exists(self) -> bool: ...

    def create(self, dim: int) -> None: ...

    def dense_dim(self) -> int | None: ...

    def upsert(self, points: Sequence[PointData]) -> None: ...

    def delete(self, flt: Filter) -> None: ...

    def retrieve(self, ids: Sequence[str]) -> list[StoredPoint]: ...

    def scroll(self, flt: Filter, fields: Sequence[str] | None) -> Iterator[StoredPoint]:
        """Every point passing `flt`, with those payload fields (None: all)."""
        ...

    def count(self, flt: Filter | None = None) -> int: ...

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
        """Best `limit` chunks passing `flt`, with payload and dense vector."""
        ...

    def finish_batch(self) -> None:
        """After a batch of writes: persist and (where the engine wants it) optimise."""
        ...

    def close(self) -> None: ...
