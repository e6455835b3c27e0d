"""search_docs: hybrid (dense + BM25, RRF-fused) search over the ingested internal docs,
filtered by the asker's ACL groups."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from ingest.backends import RRF_K, SearchMode
from ingest.boost import boost_named
from ingest.embed import Embedder
from ingest.sparse import encode_query
from ingest.store import DocStore, Hit
from oncall.core.identity import PUBLIC_GROUP


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
    query: str,
    store: DocStore,
    embedder: Embedder,
    k: int = 5,
    prefetch_k: int = 30,
    *,
    groups: Sequence[str] = (PUBLIC_GROUP,),
    mode: SearchMode = "hybrid",
    neighbours: int = 0,
    rrf_k: int = RRF_K,
    title_boost: float = 0.0,
) -> list[DocHit]:
    """Search the internal docs (runbooks, service READMEs, playbooks, FAQs) for `query`.

    Returns up to `k` chunks readable by `groups`, best first, each with its source
    document, section and page. With `neighbours`, each hit's text also holds that many
    chunks before and after it from the same file (same citation, more context). With
    `title_boost`, of near-duplicate documents the one the question names comes first
    (ingest/boost.py).
    """
    query = query.strip()
    if not query:
        return []
    dense = embedder.embed_query(query)
    # A boost can lift a candidate from below the cut: rank a few more than asked.
    fetch = k if title_boost <= 0 or mode != "hybrid" else max(2 * k, k + 10)
    hits = store.search(
        dense,
        encode_query(query),
        groups,
        fetch,
        prefetch_k,
        mode,
        embedder=embedder.name,
        rrf_k=rrf_k,
    )
    if fetch > k:
        hits = boost_named(hits, query, title_boost, rrf_k)[:k]
    found = [DocHit.from_hit(h) for h in hits]
    if neighbours:
        found = [_expand(store, h, d, neighbours) for h, d in zip(hits, found, strict=True)]
    return found


def _expand(store: DocStore, hit: Hit, doc: DocHit, window: int) -> DocHit:
    before, after = store.neighbours(hit, window)
    if not before and not after:
        return doc
    text = "\n\n".join([*(b.text for b in before), doc.text, *(a.text for a in after)])
    return replace(doc, text=text)
