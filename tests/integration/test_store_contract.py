"""One contract for both index engines: Qdrant Edge (embedded default) and qdrant-client.

Vectors come from the hashing fake embedder so the engines, not a model, are under test.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.backends import PointData
from ingest.sparse import encode_document, encode_query
from ingest.store import ChunkRecord, DocStore, FileRecord
from oncall.core.errors import OncallError
from oncall.core.settings import StoreSettings
from oncall.testing.fakes import HashEmbedder

EMB = HashEmbedder()


@pytest.fixture(params=["edge", "qdrant"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocStore]:
    with DocStore(StoreSettings(backend=request.param), tmp_path) as s:
        s.ensure_collection(EMB.dim, EMB.name)
        yield s


def put(store: DocStore, source: str, texts: list[str], acl=("public",), version="v1") -> None:
    file = FileRecord(
        source, version, "h-" + version, tuple(acl), Path(source).stem, "", len(texts)
    )
    records = [
        ChunkRecord(i, t, EMB.embed_query(t), encode_document(t), {"title": source})
        for i, t in enumerate(texts)
    ]
    store.replace_file(file, records)


def find(store: DocStore, query: str, groups=("public",), k: int = 5, mode="hybrid") -> list[str]:
    hits = store.search(EMB.embed_query(query), encode_query(query), list(groups), k, 30, mode)
    return [h.text for h in hits]


def test_replace_is_atomic_and_leaves_one_version(store: DocStore) -> None:
    put(store, "/d/certs.md", ["rotate the zebra cert every 17 days", "owner is team kestrel"])
    assert find(store, "zebra cert rotation")[0].startswith("rotate the zebra")
    put(store, "/d/certs.md", ["rotate the zebra cert every 30 days"], version="v2")
    texts = find(store, "zebra cert rotation")
    assert texts == ["rotate the zebra cert every 30 days"]
    assert store.count() == 1
    assert store.indexed_files()["/d/certs.md"].version == "v2"


def test_crash_before_the_flip_keeps_the_old_version_searchable(
    store: DocStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    put(store, "/d/certs.md", ["rotate the zebra cert every 17 days"])
    backend = store._backend
    real_upsert = backend.upsert

    def crash_on_file_record(points: list[PointData]) -> None:
        if any(p.payload.get("kind") == "file" for p in points):
            raise KeyboardInterrupt("power cut")  # dies after the chunks, before the flip
        real_upsert(points)

    monkeypatch.setattr(backend, "upsert", crash_on_file_record)
    with pytest.raises(KeyboardInterrupt):
        put(store, "/d/certs.md", ["rotate the zebra cert every 99 days"], version="v2")
    monkeypatch.undo()
    # Both versions' chunks are stored, but readers only ever see the live one...
    assert store.count() == 2
    assert find(store, "zebra cert rotation") == ["rotate the zebra cert every 17 days"]
    # ...and the orphans are cleaned up by the next vacuum (sync with pruning runs it).
    assert store.vacuum() == 1
    assert store.count() == 1
    assert find(store, "zebra cert rotation") == ["rotate the zebra cert every 17 days"]


def test_acl_filter_is_applied_inside_the_engine(store: DocStore) -> None:
    put(store, "/d/public.md", ["the coffee machine is on floor 3"])
    put(store, "/d/secret.md", ["the payroll database password rotates monthly"], acl=["hr"])
    put(store, "/d/both.md", ["payroll runbook for sre and hr"], acl=["hr", "sre"])
    for mode in ("hybrid", "dense", "bm25"):
        assert not any("password" in t for t in find(store, "payroll password", mode=mode))
        assert any("password" in t for t in find(store, "payroll password", ["hr"], mode=mode))
    assert find(store, "payroll", ["sre"], k=10) == ["payroll runbook for sre and hr"]
    assert find(store, "payroll", []) == []  # no group: nothing, never "unfiltered"


def test_delete_and_neighbours(store: DocStore) -> None:
    put(store, "/d/long.md", [f"part {i} of the failover procedure" for i in range(6)])
    put(store, "/d/other.md", ["unrelated text about lunch"])
    (hit,) = store.search(
        EMB.embed_query("part 3"), encode_query("part 3 failover"), ["public"], 1, 30
    )
    before, after = store.neighbours(hit, 2)
    index = hit.payload["chunk_index"]
    assert [h.payload["chunk_index"] for h in before] == [
        i for i in (index - 2, index - 1) if i >= 0
    ]
    assert [h.payload["chunk_index"] for h in after] == [i for i in (index + 1, index + 2) if i < 6]
    store.delete_files(["/d/long.md"])
    assert set(store.indexed_files()) == {"/d/other.md"}
    assert all("failover" not in t for t in find(store, "failover procedure", k=10))


def test_acl_property_random_users_never_see_other_groups_docs(store: DocStore) -> None:
    rng = random.Random(7)
    groups = [f"g{i}" for i in range(8)]
    words = [
        "deploy",
        "cert",
        "rollback",
        "pager",
        "queue",
        "shard",
        "backup",
        "token",
        "latency",
        "quota",
    ]
    docs: dict[str, frozenset[str]] = {}
    for d in range(40):
        acl = frozenset(rng.sample(groups, rng.randint(1, 3)))
        text = f"doc{d} " + " ".join(rng.choices(words, k=8))
        put(store, f"/d/doc{d}.md", [text], acl=sorted(acl))
        docs[f"doc{d}"] = acl
    leaks = 0
    for _ in range(150):
        user = frozenset(rng.sample(groups, rng.randint(0, 3)))
        query = " ".join(rng.choices(words, k=3))
        for mode in ("hybrid", "dense", "bm25"):
            for text in find(store, query, sorted(user), k=10, mode=mode):
                leaks += not (docs[text.split()[0]] & user)
    assert leaks == 0


def test_busy_or_mismatched_index_fails_clearly(tmp_path: Path) -> None:
    with DocStore(StoreSettings(), tmp_path) as first:
        first.ensure_collection(EMB.dim, EMB.name)
        with pytest.raises(OncallError) as busy:
            DocStore(StoreSettings(), tmp_path)
        assert busy.value.code == "store_busy"
        with pytest.raises(OncallError) as mismatch:
            first.ensure_collection(EMB.dim + 1, EMB.name)
        assert mismatch.value.code == "store_mismatch"


def test_documents_read_back_for_the_web_view(store: DocStore) -> None:
    """The web chat's document view and example questions read file records and chunks
    by derived id (bots/web/docview.py): both engines return them, ACL applied."""
    from bots.web.docview import ExampleQuestions, load_document
    from ingest.store import file_point_id
    from oncall.core.identity import Principal

    put(store, "/d/runbook.md", ["restart the consumer", "then check lag", "done"])
    put(store, "/d/secret.md", ["payments only"], acl=("payments",))
    anyone = Principal("u")
    doc = load_document(store, file_point_id("/d/runbook.md"), anyone)
    assert doc is not None and [c.text for c in doc.chunks] == [
        "restart the consumer", "then check lag", "done",
    ]  # fmt: skip
    assert load_document(store, file_point_id("/d/secret.md"), anyone) is None
    payments = Principal("p", frozenset({"payments"}))
    assert load_document(store, file_point_id("/d/secret.md"), payments) is not None
    chunk_id = doc.chunks[0].id
    assert load_document(store, chunk_id, anyone) is None, "a chunk id is not a document"
    assert ExampleQuestions(store).for_user(anyone) == ["What is /d/runbook.md?"]
