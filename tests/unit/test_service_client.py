"""The running service's state file and wire format (oncall/cli/service.py), no sockets:
who may trust DATA_DIR/service.json, and answers surviving the trip through JSON."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from agent.answer import Answer
from agent.approvals import PendingAction
from agent.citations import Citation
from agent.state import Handover, ToolCallRecord
from bots.web.local_api import answer_wire
from oncall.cli import service
from oncall.cli.service import answer_from_wire, find_service, local_url, published, state_path
from oncall.core.errors import OncallError
from tools.search_docs import DocHit


def test_published_file_is_private_and_removed_after(tmp_path: Path) -> None:
    with published(tmp_path, "http://127.0.0.1:8080") as token:
        path = state_path(tmp_path)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        state = json.loads(path.read_text())
        assert state == {"url": "http://127.0.0.1:8080", "token": token, "pid": os.getpid()}
        assert len(token) >= 40
    assert not path.exists()


def test_a_replaced_file_is_left_to_its_new_service(tmp_path: Path) -> None:
    with published(tmp_path, "http://127.0.0.1:1"):
        with published(tmp_path, "http://127.0.0.1:2") as second:
            pass  # the inner (newer) service stops first and removes its own file
        assert not state_path(tmp_path).exists()
    with published(tmp_path, "http://127.0.0.1:1"):
        state_path(tmp_path).write_text(json.dumps({"url": "x", "token": second}))
    assert state_path(tmp_path).exists(), "another service's file must not be deleted"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8080"),
        ("0.0.0.0", "http://127.0.0.1:8080"),
        ("localhost", "http://127.0.0.1:8080"),
        ("::", "http://[::1]:8080"),
        ("10.1.2.3", "http://10.1.2.3:8080"),
    ],
)
def test_local_url_reaches_the_bind_address_from_this_host(host: str, url: str) -> None:
    assert local_url(host, 8080) == url


class _Health:
    """Stands in for the health call (unit tier: no sockets)."""

    def __init__(self, answer: dict[str, Any] | Exception):
        self.answer = answer
        self.calls = 0

    def install(self, monkeypatch: pytest.MonkeyPatch) -> _Health:
        monkeypatch.setattr(service.ServiceClient, "get", lambda _client, path, **_: self(path))
        return self

    def __call__(self, path: str) -> dict[str, Any]:
        self.calls += 1
        assert path == "/health"
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_find_service_trusts_only_a_private_file_of_this_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    health = _Health({"service": "oncall", "data_dir": str(tmp_path.resolve())})
    health.install(monkeypatch)
    assert find_service(tmp_path) is None and health.calls == 0  # no file: no call

    with published(tmp_path, "http://127.0.0.1:8080"):
        found = find_service(tmp_path)
        assert found is not None and found.url == "http://127.0.0.1:8080"

        state_path(tmp_path).chmod(0o644)  # readable by others: the token may have leaked
        assert find_service(tmp_path) is None
        state_path(tmp_path).chmod(0o600)

        health.answer = {"service": "oncall", "data_dir": "/somewhere/else"}
        assert find_service(tmp_path) is None

        health.answer = OncallError("service_unreachable", "refused")  # stale file
        assert find_service(tmp_path) is None


def test_find_service_ignores_a_symlinked_or_broken_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _Health({"data_dir": str(tmp_path.resolve())}).install(monkeypatch)
    real = tmp_path / "elsewhere.json"
    real.write_text(json.dumps({"url": "http://127.0.0.1:1", "token": "t"}))
    real.chmod(0o600)
    state_path(tmp_path).symlink_to(real)
    assert find_service(tmp_path) is None
    state_path(tmp_path).unlink()
    state_path(tmp_path).write_text("{not json")
    state_path(tmp_path).chmod(0o600)
    assert find_service(tmp_path) is None


def _hit(n: int) -> DocHit:
    return DocHit(
        chunk_id=f"c{n}", doc_id=f"runbooks/r{n}", source=f"/docs/r{n}.md", title=f"R{n}",
        section="Rollback", page=n if n > 1 else None, text=f"text {n}", score=0.5 / n,
        similarity=0.9 / n,
    )  # fmt: skip


def test_an_answer_survives_the_wire_whole() -> None:
    hits = [_hit(1), _hit(2)]
    answer = Answer(
        question="how do I roll back?",
        text="Run the rollback job [1].",
        citations=[Citation(1, hits[0])],
        hits=hits,
        abstained=False,
        thread_id="t1",
        route="deep",
        route_reason="needs tools",
        route_confidence=0.75,
        tool_calls=[ToolCallRecord("search_docs", {"query": "rollback"}, True, 12.5, ["c1"])],
        handover=Handover("q", "low confidence", ["rollback"], ["r1"], "maybe", "sre"),
        timings_ms={"retrieval": 10.0, "llm": 900.0},
        usage={"prompt_tokens": 100, "completion_tokens": 20},
        turn_id="turn-1",
        pending=PendingAction(
            thread_id="t1",
            call_id="call-1",
            tool="restart",
            args={"service": "api"},
            description="restart api",
            requested_by="local",
            requested_by_name="local operator",
            requested_groups=["sre"],
            requested_at=1.5,
            question="how do I roll back?",
            action_id="act-1",
        ),
        computation={"code": "1+1", "output": "2", "ok": True},
        dropped=["an unsupported claim"],
        llm_steps=[{"kind": "answer", "ms": 900.0}],
    )
    wire = json.loads(json.dumps(answer_wire(answer)))  # what crosses the socket
    assert answer_from_wire(wire) == answer


def test_fields_a_newer_service_adds_are_ignored() -> None:
    answer = Answer("q", "a", [], [], abstained=True)
    wire = {**answer_wire(answer), "something_new": 1}
    assert answer_from_wire(wire) == answer
