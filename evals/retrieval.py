"""The one place the eval suite touches the retrieval stack.

The search API is being reworked (ACL group filters, a retrieval mode, reranking): the eval
calls it only through `retrieve` and `fetch_chunks`, and builds its corpus index only
through `prepare_corpus`, so a change there is a change here and nowhere else in evals/.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.embed import Embedder
from ingest.pipeline import IngestReport, ingest_paths
from ingest.store import DocStore
from oncall.core.identity import Principal
from oncall.core.settings import RetrievalSettings, Settings
from tools.search_docs import DocHit, search_docs


def retrieve(
    question: str,
    store: DocStore,
    embedder: Embedder,
    retrieval: RetrievalSettings,
    k: int,
    groups: Sequence[str] = (),
) -> list[DocHit]:
    """The top `k` chunks for `question`, best first, as the agent's search returns them
    to an asker in `groups` (plus `public`, like every principal), with the configured
    retrieval mode and neighbour expansion."""
    return search_docs(
        question,
        store,
        embedder,
        k,
        retrieval.prefetch_k,
        groups=Principal.local(list(groups)).read_groups,
        mode=retrieval.mode,
        neighbours=retrieval.neighbours,
        rrf_k=retrieval.rrf_k,
        title_boost=retrieval.title_boost,
    )


def fetch_chunks(store: DocStore, chunk_ids: Sequence[str]) -> dict[str, DocHit]:
    """Chunk id -> hit (text, document, section), for ids recorded in turns.

    Ids whose file changed or vanished since are simply absent.
    """
    ids = list(dict.fromkeys(chunk_ids))
    if not ids or not store.exists():
        return {}
    found = {}
    for hit in store.get(ids):
        if hit.payload.get("kind", "chunk") != "chunk":
            continue
        found[hit.id] = DocHit.from_hit(hit)
    return found


def index_fingerprint(store: DocStore) -> str:
    """A short hash of what is indexed (every source and its content hash): cached eval
    results are reused only against the same corpus."""
    files = sorted((source, rec.version) for source, rec in store.indexed_files().items())
    return hashlib.sha256(json.dumps(files).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class CorpusIndex:
    settings: Settings  # points at the corpus's own data dir / collection
    report: IngestReport


def corpus_settings(folder: Path, settings: Settings) -> Settings:
    """Settings whose index is dedicated to `folder`: its own data dir under
    `<data_dir>/evals/corpora/` (embedded Qdrant), or its own collection on a Qdrant server.
    The main index is never touched by an eval."""
    resolved = folder.expanduser().resolve()
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", resolved.name).strip("-") or "corpus"
    tag = f"{name}-{hashlib.sha256(str(resolved).encode()).hexdigest()[:8]}"
    store = settings.store
    if store.url:
        store = store.model_copy(update={"collection": f"eval-{tag}"})
    data_dir = settings.data_dir / "evals" / "corpora" / tag
    return settings.model_copy(update={"data_dir": data_dir, "store": store})


def prepare_corpus(
    folder: Path,
    settings: Settings,
    embedder: Embedder,
    on_start: Callable[[int], None] | None = None,
    on_file: Callable[[str, int], None] | None = None,
) -> CorpusIndex:
    """Ingest `folder` into its dedicated index. Incremental: unchanged files are skipped
    by hash, so a second run on the same folder only re-reads it; vanished files are pruned."""
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: --corpus must be a folder of documents")
    eval_settings = corpus_settings(folder, settings)
    with DocStore(eval_settings.store, eval_settings.data_dir) as store:
        report = ingest_paths(
            [folder],
            store,
            embedder,
            eval_settings.ingest,
            prune=True,
            on_start=on_start,
            on_file=on_file,
        )
    return CorpusIndex(eval_settings, report)
