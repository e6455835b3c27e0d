"""`AppState` in its embedded default: the files of before, opened only when asked for; and
the setting that switches to Postgres refuses anything but a postgresql:// URL."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from oncall.appstate import AppState, JsonlAudit, MemoryLeases, MemoryRateLimits
from oncall.core.settings import AppStateSettings, Settings


def test_embedded_state_keeps_the_old_files_and_opens_them_lazily(tmp_path: Path) -> None:
    with AppState(AppStateSettings(), tmp_path) as state:
        assert not state.shared and state.checkpoint_url is None
        state.conversations().create("alice", "q")
        state.turns()
        assert sorted(p.name for p in tmp_path.glob("*.sqlite")) == ["turns.sqlite", "web.sqlite"]
        audit = state.audit()
        assert isinstance(audit, JsonlAudit) and audit.path == tmp_path / "tool_audit.jsonl"
        assert isinstance(state.rate_limits(), MemoryRateLimits)
        assert isinstance(state.leases(), MemoryLeases)
        assert state.conversations() is state.conversations(), "one store per process"
    assert not (tmp_path / "slack.sqlite").exists(), "the web server never opens Slack's file"


def test_the_url_must_be_postgres(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError, match="postgresql://"):
        AppStateSettings(url="mysql://x@y/z")  # type: ignore[arg-type]
    monkeypatch.setenv("ONCALL_APPSTATE__URL", "postgresql://u:pw@db:5432/oncall")
    monkeypatch.setenv("ONCALL_APPSTATE__LEASE_S", "12")
    settings = Settings().appstate
    assert settings.url is not None and settings.url.get_secret_value().endswith("/oncall")
    assert settings.lease_s == 12 and "pw" not in repr(settings), "the URL is a secret"
