"""Shared test configuration.

Unit tests must never reach a real model server: the LLM base URL is pinned to a closed
loopback port for every test, so a test that forgets its fake fails fast instead of
starting llama.cpp.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
HANDBOOK = REPO / "examples" / "handbook"
HANDBOOK_QUESTIONS = REPO / "examples" / "handbook_questions.jsonl"


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(__import__("os").environ):
        if name.startswith("ONCALL_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("ONCALL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ONCALL_LLM__BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tier markers from the folder: `-m "not llm"` skips the slow real-model tests."""
    for item in items:
        path = Path(str(item.fspath))
        if "integration" in path.parts:
            item.add_marker(pytest.mark.integration)
        if path.name.startswith("test_llm"):
            item.add_marker(pytest.mark.llm)
