"""Settings: defaults, ONCALL_ env overrides, secrets and validation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from oncall.core.settings import Settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ONCALL_ variables from the outer shell and no stray .env file."""
    for name in list(os.environ):
        if name.upper().startswith("ONCALL_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    s = Settings()
    assert s.data_dir == Path(".oncall")
    assert s.llm.base_url is None
    assert s.llm.model == "local"
    assert s.llm.api_key.get_secret_value() == "not-needed"
    assert s.llm.temperature == 0.1
    assert s.llm.max_tokens == 512
    assert s.llm.embedded.model == "qwen2.5-coder-1.5b"
    assert (s.llm.embedded.host, s.llm.embedded.port) == ("127.0.0.1", 8765)
    assert s.embedding.model == "multilingual-e5-small"
    assert s.store.url is None and s.store.api_key is None
    assert s.store.collection == "docs"
    assert (s.retrieval.top_k, s.retrieval.prefetch_k) == (5, 30)
    assert s.retrieval.min_similarity == 0.25
    assert (s.ingest.chunk_max_chars, s.ingest.chunk_soft_chars) == (1500, 1000)
    assert s.ingest.combine_under_chars == 200


def test_env_overrides_nested(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_LLM__EMBEDDED__PORT", "9999")
    monkeypatch.setenv("ONCALL_RETRIEVAL__TOP_K", "3")
    monkeypatch.setenv("ONCALL_LLM__BASE_URL", "http://gpu-host:8000/v1")
    monkeypatch.setenv("ONCALL_LLM__SUPPORTS_THINKING", "true")
    monkeypatch.setenv("ONCALL_LLM__EMBEDDED__MODEL", "qwen2.5-coder-1.5b")
    s = Settings()
    assert s.llm.embedded.port == 9999
    assert s.retrieval.top_k == 3
    assert s.llm.base_url == "http://gpu-host:8000/v1"
    assert s.llm.supports_thinking is True
    assert s.llm.embedded.model == "qwen2.5-coder-1.5b"
    # untouched siblings keep their defaults
    assert s.llm.embedded.host == "127.0.0.1"
    assert s.retrieval.prefetch_k == 30


def test_env_without_prefix_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRIEVAL__TOP_K", "7")
    assert Settings().retrieval.top_k == 5


def test_dotenv_file_read_from_cwd(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("ONCALL_RETRIEVAL__TOP_K=4\n", encoding="utf-8")
    assert Settings().retrieval.top_k == 4


def test_data_dir_user_expanded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("ONCALL_DATA_DIR", "~/oncall-data")
    assert Settings().data_dir == tmp_path / "oncall-data"


def test_api_key_is_secret_and_not_leaked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_LLM__API_KEY", "sk-very-secret")
    monkeypatch.setenv("ONCALL_STORE__API_KEY", "qdrant-secret")
    s = Settings()
    assert isinstance(s.llm.api_key, SecretStr)
    assert s.llm.api_key.get_secret_value() == "sk-very-secret"
    assert s.store.api_key is not None
    assert s.store.api_key.get_secret_value() == "qdrant-secret"
    for shown in (repr(s), str(s), repr(s.llm), repr(s.llm.api_key), str(s.llm.api_key)):
        assert "sk-very-secret" not in shown
        assert "qdrant-secret" not in shown


@pytest.mark.parametrize(
    ("var", "value", "loc"),
    [
        ("ONCALL_LLM__EMBEDDED__PORT", "0", ("llm", "embedded", "port")),
        ("ONCALL_LLM__EMBEDDED__PORT", "65536", ("llm", "embedded", "port")),
        ("ONCALL_RETRIEVAL__TOP_K", "0", ("retrieval", "top_k")),
        ("ONCALL_RETRIEVAL__TOP_K", "51", ("retrieval", "top_k")),
        ("ONCALL_LLM__EMBEDDED__MODEL", "llama-70b", ("llm", "embedded", "model")),
        ("ONCALL_LLM__TEMPERATURE", "2.5", ("llm", "temperature")),
        ("ONCALL_INGEST__CHUNK_MAX_CHARS", "199", ("ingest", "chunk_max_chars")),
    ],
)
def test_invalid_values_rejected(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str, loc: tuple[str, ...]
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ValidationError) as info:
        Settings()
    errors = info.value.errors()
    assert [e["loc"] for e in errors] == [loc]
    assert loc[-1] in str(info.value)


def test_env_example_is_valid_and_matches_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The documented example must load, and every value it sets must equal the default,
    # so the file cannot drift from oncall/core/settings.py unnoticed.
    from tests.conftest import REPO

    for name in list(os.environ):
        if name.startswith("ONCALL_"):
            monkeypatch.delenv(name)
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())
    monkeypatch.chdir(tmp_path)
    from_file = Settings()
    monkeypatch.chdir(tmp_path / "..")
    assert from_file.model_dump(exclude={"data_dir"}) == Settings().model_dump(exclude={"data_dir"})
    assert from_file.data_dir == Path(".oncall")
