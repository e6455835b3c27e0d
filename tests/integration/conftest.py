"""Integration tier: real unstructured, real embedder, real embedded Qdrant."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import ingest
from ingest.embed import Embedder, load_embedder
from ingest.pipeline import PIPELINE_VERSION, IngestReport, ingest_paths
from ingest.store import DocStore
from oncall.core.settings import Settings, StoreSettings
from oncall.testing.postgres import ThrowawayPostgres, missing_reason, throwaway_postgres
from tests.conftest import HANDBOOK


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(Settings().embedding)


def _handbook_key(embedder: Embedder) -> str:
    """Everything the handbook index depends on: the files and where they are, the ingest
    code, the embedder and the ingest settings. Any change misses the cache."""
    h = hashlib.sha256()
    for part in (str(HANDBOOK), embedder.name, PIPELINE_VERSION, repr(Settings().ingest)):
        h.update(part.encode() + b"\0")
    roots = [HANDBOOK, Path(ingest.__file__).parent]
    for path in sorted(p for root in roots for p in root.rglob("*") if p.is_file()):
        # The embedder modules are covered by the embedder's name (model and engine version).
        if path.suffix != ".pyc" and not path.name.startswith("embed"):
            h.update(str(path).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()[:24]


@pytest.fixture(scope="session")
def handbook_index(
    tmp_path_factory: pytest.TempPathFactory, embedder: Embedder
) -> tuple[Path, IngestReport]:
    """The sample handbook ingested once per session; the store is closed afterwards so
    each test (or a CLI subprocess) can open it.

    The multilingual embedder takes minutes for the handbook on 2 cores, so a finished index
    is kept under ~/.cache/oncall-agent/test-index/<key> and copied in for later sessions;
    the key covers the files, the ingest code, the embedder and the settings
    (ONCALL_TEST_INDEX_CACHE=0 turns it off)."""
    data_dir = tmp_path_factory.mktemp("handbook-data")
    use_cache = os.environ.get("ONCALL_TEST_INDEX_CACHE", "1") != "0"
    cache = Path.home() / ".cache" / "oncall-agent" / "test-index" / _handbook_key(embedder)
    if use_cache and (cache / "report.json").is_file():
        shutil.copytree(cache / "data", data_dir, dirs_exist_ok=True)
        return data_dir, IngestReport(**json.loads((cache / "report.json").read_text()))
    with DocStore(StoreSettings(), data_dir) as store:
        report = ingest_paths([HANDBOOK], store, embedder, Settings().ingest)
    if use_cache and report.ok:
        partial = cache.with_name(cache.name + f".{os.getpid()}.tmp")
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(data_dir, partial / "data")
        (partial / "report.json").write_text(json.dumps(dataclasses.asdict(report)))
        try:
            partial.rename(cache)  # atomic: a parallel session's copy may have won
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)
    return data_dir, report


@pytest.fixture
def handbook_store(handbook_index: tuple[Path, IngestReport]) -> Iterator[DocStore]:
    with DocStore(StoreSettings(), handbook_index[0]) as store:
        yield store


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[ThrowawayPostgres]:
    """A throwaway Postgres cluster for the session (initdb + pg_ctl on a free loopback
    port, deleted after); skips, saying why, where the server binaries are absent."""
    reason = missing_reason()
    if reason:
        pytest.skip(reason)
    with throwaway_postgres() as server:
        yield server


@pytest.fixture
def postgres_url(postgres_server: ThrowawayPostgres) -> str:
    """A fresh, empty database on the session's cluster (one per test: no shared rows)."""
    return postgres_server.create_database()
