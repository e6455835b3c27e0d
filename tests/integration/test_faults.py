"""Fault injection: each failure gives the user a clear message, is retried where that is
safe, and loses no conversation state (the next question in the thread, or a restarted
process over the same SQLite checkpoints, still sees the earlier turns).

Faults: the LLM server dies in the middle of a reply (plain and streamed), is killed and
restarted, is too slow, answers 5xx, sends malformed tool calls; Qdrant is unreachable or
answers 503; the sandbox kernel dies; the data dir's disk fills up (a real tmpfs in a
private mount namespace when this machine allows it, else a failing SQLite write).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.sqlite import SqliteSaver

from agent.memory import open_checkpointer
from agent.service import Agent
from agent.state import Deps
from ingest.store import DocStore
from oncall.core.errors import ConfigError, OncallError
from oncall.core.settings import (
    AgentSettings,
    LLMSettings,
    RetrievalSettings,
    SandboxSettings,
    StoreSettings,
)
from oncall.llm.client import build_chat_model
from oncall.testing.fakes import FakeStore, HashEmbedder, ScriptedChatModel, code_reply
from tests.conftest import REPO
from tests.integration.fault_llm import Behaviour, FaultyLLM

DOC = {
    "text": "Roll back payments-api with lfctl rollback payments-api --to <sha>; it takes "
    "four minutes and the on-call lead approves it.",
    "doc_id": "runbooks/payments",
    "source": "/docs/runbooks/payments.md",
}
FIRST_Q, FIRST_A = "how do I roll back payments-api?", "Use lfctl rollback payments-api."


def make_agent(model: Any, saver: Any, store: Any = None) -> Agent:
    embedder = HashEmbedder()
    deps = Deps(
        store=store or FakeStore([DOC], embedder),
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=1, min_similarity=0.0),
        agent=AgentSettings(max_steps=3),
    )
    return Agent(deps, checkpointer=saver)


@pytest.fixture
def llm() -> Iterator[FaultyLLM]:
    with FaultyLLM([Behaviour(text=FIRST_A)]) as server:
        yield server


@pytest.fixture
def saver(tmp_path: Path) -> Iterator[SqliteSaver]:
    with open_checkpointer(tmp_path) as checkpointer:
        yield checkpointer


def chat(server: FaultyLLM, **settings: Any) -> Any:
    options = {"timeout_s": 5.0, "max_retries": 2, **settings}
    return build_chat_model(LLMSettings(**options), server.base_url)


def remembers_first_turn(server: FaultyLLM) -> bool:
    """The last request's prompt holds the first question and its answer."""
    contents = [str(m.get("content")) for m in server.requests[-1].messages]
    return FIRST_Q in contents and any(FIRST_A.rstrip(".") in c for c in contents)


def test_llm_dying_mid_reply_killed_and_restarted_keeps_the_thread(
    llm: FaultyLLM, saver: SqliteSaver
) -> None:
    agent = make_agent(chat(llm), saver)
    agent.ask(FIRST_Q, thread_id="t")

    llm.then(Behaviour("die"))
    llm.requests.clear()
    with pytest.raises(OncallError, match="middle of its reply") as died:
        agent.ask("how long does a rollback take?", thread_id="t")
    assert died.value.code == "llm_unreachable" and len(llm.requests) == 3, "retried twice"

    port = llm.port
    llm.stop()  # killed: nothing listens any more
    with pytest.raises(OncallError, match="cannot reach the LLM server") as down:
        agent.ask("how long does a rollback take?", thread_id="t")
    assert down.value.code == "llm_unreachable"

    llm.port = port
    llm.then(Behaviour(text="About four minutes."))
    llm.start()  # restarted on the same port
    answer = agent.ask("how long does a rollback take?", thread_id="t")
    assert answer.text.startswith("About four minutes") and remembers_first_turn(llm)


def test_llm_dying_mid_stream_is_reported_and_the_thread_goes_on(
    llm: FaultyLLM, saver: SqliteSaver
) -> None:
    streaming = chat(llm).model_copy(update={"streaming": True})
    agent = make_agent(streaming, saver)
    agent.ask(FIRST_Q, thread_id="s")
    llm.then(Behaviour("die", text="It takes about four minutes to roll back."))
    with pytest.raises(OncallError, match="middle of its reply"):
        agent.ask("how long does it take?", thread_id="s")
    llm.then(Behaviour(text="About four minutes."))
    assert agent.ask("how long does it take?", thread_id="s").text.startswith("About four")
    assert llm.requests[-1].stream and remembers_first_turn(llm)


def test_slow_llm_times_out_after_retries_with_backoff(llm: FaultyLLM, saver: SqliteSaver) -> None:
    agent = make_agent(chat(llm, timeout_s=0.4, max_retries=2), saver)
    agent.ask(FIRST_Q, thread_id="t")
    llm.then(Behaviour("slow", delay_s=1.5))
    llm.requests.clear()
    started = time.monotonic()
    with pytest.raises(OncallError, match=r"did not answer in time.*ONCALL_LLM__TIMEOUT_S") as slow:
        agent.ask("how long does it take?", thread_id="t")
    assert slow.value.code == "llm_timeout" and len(llm.requests) == 3
    gaps = [b.at - a.at for a, b in zip(llm.requests, llm.requests[1:], strict=False)]
    assert all(gap >= 0.4 + 0.3 for gap in gaps), f"timeout plus a backoff pause: {gaps}"
    assert time.monotonic() - started < 10, "bounded: the user is not kept waiting forever"
    llm.then(Behaviour(text="About four minutes."))
    assert agent.ask("how long does it take?", thread_id="t").text.startswith("About four")
    assert remembers_first_turn(llm)


def test_llm_5xx_is_retried_and_then_reported(llm: FaultyLLM, saver: SqliteSaver) -> None:
    agent = make_agent(chat(llm), saver)
    llm.then(
        Behaviour("status", status=503), Behaviour("status", status=502), Behaviour(text=FIRST_A)
    )
    assert agent.ask(FIRST_Q, thread_id="t").text.startswith(FIRST_A[:-1]), "5xx twice, then ok"
    assert len(llm.requests) == 3
    llm.then(Behaviour("status", status=503))
    with pytest.raises(OncallError, match="answered HTTP 503") as failed:
        agent.ask("and who approves it?", thread_id="t")
    assert failed.value.code == "llm_error"


def test_a_malformed_tool_call_from_the_server_ends_in_a_clear_abstention(
    llm: FaultyLLM, saver: SqliteSaver
) -> None:
    """A server that ignores the JSON schema and sends a broken native tool call: nothing
    runs, and the loop does not retry to max_steps; the user gets "I don't know" and a
    hand-over naming what was searched."""
    agent = make_agent(chat(llm), saver)
    llm.then(Behaviour("malformed_tool_call"), Behaviour(text="never asked"))
    answer = agent.ask("how do I roll back payments-api step by step?", route="deep")
    assert answer.abstained and answer.handover is not None
    assert [c.name for c in answer.tool_calls] == ["search_docs"], "only the seed search"
    assert len(llm.requests) == 1, "one action step, no retry loop"


class _Unavailable(BaseHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass

    def _fail(self) -> None:
        body = b'{"status": {"error": "Service Unavailable"}}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = _fail


@pytest.mark.filterwarnings("ignore:Failed to obtain server version")
@pytest.mark.parametrize("kind", ["refused", "503"])
def test_qdrant_unavailable_says_so_and_the_thread_survives(
    kind: str, saver: SqliteSaver, tmp_path: Path
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Unavailable)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    if kind == "refused":
        server.shutdown()
        server.server_close()
    broken = DocStore(StoreSettings(url=f"http://127.0.0.1:{port}"), tmp_path)
    model = ScriptedChatModel(replies=[FIRST_A, "The on-call lead approves it."])
    agent = make_agent(model, saver)
    agent.ask(FIRST_Q, thread_id="q")
    healthy, agent.deps.store = agent.deps.store, broken
    try:
        with pytest.raises(OncallError, match=f"Qdrant at http://127.0.0.1:{port}") as down:
            agent.ask("who approves a rollback?", thread_id="q")
        assert down.value.code == "store_unavailable"
    finally:
        server.shutdown()
        server.server_close()
    agent.deps.store = healthy  # Qdrant is back
    assert agent.ask("who approves a rollback?", thread_id="q").text.startswith("The on-call")
    assert FIRST_Q in [str(m.content) for m in model.calls[-1]]


def test_a_checkpoint_write_failing_mid_turn_loses_no_earlier_turn(
    saver: SqliteSaver, monkeypatch: pytest.MonkeyPatch
) -> None:
    approves = "The on-call lead approves it."
    model = ScriptedChatModel(replies=[FIRST_A, approves, approves])  # the fault may cost one
    agent = make_agent(model, saver)
    agent.ask(FIRST_Q, thread_id="d")
    real_put, puts = SqliteSaver.put, []

    def put_then_full(self: SqliteSaver, *args: Any, **kwargs: Any) -> Any:
        puts.append(1)
        if len(puts) >= 2:  # the turn's first checkpoint is written, the next one is not
            raise sqlite3.OperationalError("database or disk is full")
        return real_put(self, *args, **kwargs)

    monkeypatch.setattr(SqliteSaver, "put", put_then_full)
    with pytest.raises(OncallError, match=r"no space left.*ONCALL_DATA_DIR") as full:
        agent.ask("who approves it when the disk is full?", thread_id="d")
    assert full.value.code == "disk_full"
    monkeypatch.setattr(SqliteSaver, "put", real_put)
    assert agent.ask("who approves it?", thread_id="d").text.startswith("The on-call lead")
    assert FIRST_Q in [str(m.content) for m in model.calls[-1]]


def test_a_really_full_disk_on_the_data_dir(tmp_path: Path) -> None:
    """A 2 MB tmpfs mounted over the data dir in a private mount namespace (root only)."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("mounting a tmpfs needs root and util-linux unshare")
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    script = f'mount -t tmpfs -o size=2m tmpfs "{data_dir}" && exec "$0" -m {_probe()} "{data_dir}"'
    proc = subprocess.run(
        [unshare, "--mount", "sh", "-c", script, sys.executable],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    if proc.returncode != 0 and "mount" in proc.stderr and "permission" in proc.stderr.lower():
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    assert proc.returncode == 0, proc.stderr
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    assert probe["error"]["code"] == "disk_full" and "free some space" in probe["error"]["detail"]
    assert "how do I roll back payments-api?" in probe["after"], "turn 1 kept after the fault"
    assert "and who approves it?" in probe["restarted"], "and after a restart"


def _probe() -> str:
    return "tests.integration.disk_full_probe"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from tools.sandbox import build_executor

    settings = SandboxSettings(timeout_s=20, warm_kernels=0, scratch_mb=8, uid_base=230_000)
    try:
        executor = build_executor(settings, tmp_path_factory.mktemp("sandbox"))
    except ConfigError as exc:
        pytest.skip(f"no bubblewrap sandbox here: {exc.detail}")
    yield executor
    executor.close()


def test_a_dying_kernel_is_reported_and_replaced(sandbox: Any, saver: SqliteSaver) -> None:
    model = ScriptedChatModel(
        replies=[
            code_reply("x = 41\nimport os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
            code_reply("print('x' in globals(), 6 * 7)"),
        ]
    )
    agent = make_agent(model, saver)
    agent.deps.sandbox = sandbox
    answer = agent.ask("what is 6 * 7?", thread_id="k")
    fix_prompt = str(model.calls[1][-1].content).lower()
    assert "died" in fix_prompt or "restart" in fix_prompt, "the fix sees what happened"
    assert answer.computation is not None and answer.computation["attempts"] == 2
    assert answer.text.startswith("False 42"), "a fresh kernel: old variables are gone"
