"""search_docs: hybrid (dense + BM25, RRF-fused) search over the ingested internal docs."""

from __future__ import annotations

from dataclasses import dataclass

from ingest.embed import Embedder
from ingest.sparse import encode_query
from ingest.store import DocStore, Hit


@dataclass(frozen=True)
class DocHit:
    """A retrieved chunk with everything a citation needs."""

    chunk_id: str
    doc_id: str
    source: str
    title: str
    section: str
    page: int | None
    text: str
    score: float  # RRF-fused rank score (compare within one result list only)
    similarity: float  # dense cosine to the query, comparable across queries

    @property
    def location(self) -> str:
        """Where to look: `path › section (p. N)`."""
        where = self.doc_id
        if self.section:
            where += f" › {self.section}"
        if self.page:
            where += f" (p. {self.page})"
        return where

    @classmethod
    def from_hit(cls, hit: Hit) -> DocHit:
        p = hit.payload
        return cls(
            chunk_id=hit.id,
            doc_id=str(p.get("doc_id", "")),
            source=str(p.get("source", "")),
            title=str(p.get("title", "")),
            section=str(p.get("section", "")),
            page=p.get("page"),
            text=hit.text,
            score=hit.score,
            similarity=hit.similarity,
        )


def search_docs(
    query: str, store: DocStore, embedder: Embedder, k: int = 5, prefetch_k: int = 30
) -> list[DocHit]:
    """Search the internal docs (runbooks, service READMEs, playbooks, FAQs) for `query`.

    Returns up to `k` chunks, best first, each with its source document, section and page.
    """
    query = query.strip()
    if not query:
        return []
    hits = store.hybrid_search(
        embedder.embed_query(query), encode_query(query), limit=k, prefetch_limit=prefetch_k
    )
    return [DocHit.from_hit(h) for h in hits]
