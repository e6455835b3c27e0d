"""Integration tier: real unstructured, real embedder, real embedded Qdrant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.embed import SentenceTransformerEmbedder
from ingest.pipeline import IngestReport, ingest_paths
from ingest.store import DocStore
from oncall.core.settings import Settings, StoreSettings
from oncall.testing.postgres import ThrowawayPostgres, missing_reason, throwaway_postgres
from tests.conftest import HANDBOOK


@pytest.fixture(scope="session")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(Settings().embedding)


@pytest.fixture(scope="session")
def handbook_index(
    tmp_path_factory: pytest.TempPathFactory, embedder: SentenceTransformerEmbedder
) -> tuple[Path, IngestReport]:
    """The sample handbook ingested once per session; the store is closed afterwards so
    each test (or a CLI subprocess) can open it."""
    data_dir = tmp_path_factory.mktemp("handbook-data")
    with DocStore(StoreSettings(), data_dir) as store:
        report = ingest_paths([HANDBOOK], store, embedder, Settings().ingest)
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
