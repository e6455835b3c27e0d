"""A real `oncall serve` app on loopback over scripted parts, for the web API tests, the
browser tests and benchmarks/web_load.py.

The agent is the real `Agent` (graph, checkpointer, turn recorder, approvals) with a
streaming scripted model, the hash embedder, a fake store and the fake internal-tool
catalogue: everything but the LLM and the vector index is real, and nothing leaves
loopback.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.memory import open_checkpointer
from agent.records import TurnRecorder
from agent.service import Agent
from agent.state import Deps
from bots.web.app import create_app
from bots.web.auth import hash_password
from bots.web.server import serve_in_thread
from oncall.appstate import AppState
from oncall.core.identity import Principal
from oncall.core.settings import AgentSettings, RetrievalSettings, Settings, WebSettings
from oncall.testing.fakes import (
    FakeStore,
    HashEmbedder,
    StreamingScriptedChatModel,
    answer_action,
    claims_reply,
    fake_catalogue,
    plan_reply,
)

# Where the route-optimizer doc "lives" on the server: must never reach a browser or client.
SERVER_PATH = "/srv/oncall/handbook/services/route-optimizer.md"
DOCS: list[dict[str, Any]] = [
    {
        "text": "SEV2 pages must be acknowledged within 15 minutes by the primary on-call "
        "engineer; escalate to the secondary after 30 minutes.",
        "doc_id": "runbooks/paging.md", "title": "Paging policy", "section": "SEV2",
        "source": "https://wiki.example.internal/runbooks/paging",
    },
    {
        "text": "Payments API deploys are frozen on Fridays; the payments team approves "
        "hotfixes in #payments-release.",
        "doc_id": "teams/payments/deploys.md", "title": "Payments deploys", "section": "Freeze",
        "source": "/docs/teams/payments/deploys.md", "acl": ["payments"],
    },
    # A file of a folder source: cited through the server's document view (two chunks).
    {
        "text": "The route optimizer plans every delivery route in a nightly batch.",
        "doc_id": "services/route-optimizer", "title": "route-optimizer",
        "section": "What it does", "source": SERVER_PATH,
    },
    {
        "text": "| Limit | Value |\n|---|---|\n| Stops per route | 120 |\n"
        "| Batch deadline | 04:30 UTC |",
        "doc_id": "services/route-optimizer", "title": "route-optimizer",
        "section": "Limits", "source": SERVER_PATH,
    },
]  # fmt: skip
PASSWORDS = {"alice": "alice-pw", "bob": "bob-pw"}
ALICE_API_KEY = "test-key-alice"
# The schema-constrained reply of agent/answering.py; rendered: "SEV2 pages must be
# **acknowledged within 15 minutes** [1]."
SEV2_ANSWER = claims_reply(
    (
        1,
        "SEV2 pages must be acknowledged within 15 minutes",
        "SEV2 pages must be **acknowledged within 15 minutes**.",
    )
)
SEV2_TEXT = "SEV2 pages must be **acknowledged within 15 minutes** [1]."
TICKET = {"title": "payments-api 5xx spike", "severity": "sev2"}


def write_users(path: Path) -> Path:
    """alice (oncall, sre; has an API key) and bob (payments). Cheap hashes: tests log in
    often, and the iteration count is part of each hash."""
    import hashlib

    key = hashlib.sha256(ALICE_API_KEY.encode()).hexdigest()
    path.write_text(
        "users:\n"
        f"  alice:\n    name: Alice\n    groups: [oncall, sre]\n"
        f"    password: {hash_password(PASSWORDS['alice'], 1000)}\n    api_key_sha256: {key}\n"
        f"  bob:\n    name: Bob\n    groups: [payments]\n"
        f"    password: {hash_password(PASSWORDS['bob'], 1000)}\n"
    )
    return path


def ticket_call() -> str:
    """The DEEP planner (it reads only the question) choosing the create_ticket write."""
    return plan_reply(("create_ticket", TICKET))


# The DEEP answer step once the approved write ran: evidence [1] and [2] are the passages
# the seed search found (top_k=2), [3] the write's result; rendered citing it as [1].
TICKET_OPENED = answer_action(
    (3, '"tool": "create_ticket", "ok": true', "Opened the ticket: create_ticket returned ok.")
)


@dataclass
class WebRig:
    url: str
    agent: Agent
    model: StreamingScriptedChatModel
    store: FakeStore
    tool_calls: list[tuple[str, dict[str, Any], str]]  # internal tools actually run


def build_agent(
    data_dir: Path,
    replies: list[Any],
    token_delay_s: float = 0.0,
    default_reply: str | None = None,
    checkpointer: Any = None,
    state: AppState | None = None,
    sandbox: Any = None,
) -> tuple[Agent, StreamingScriptedChatModel, FakeStore, list[Any]]:
    """The real `Agent` over scripted parts; with `state`, turn records, tool audit and
    rate limits go to that app state (SQLite files or a shared Postgres); `sandbox`: the
    code executor of the computation path (none: computations say the sandbox is off)."""
    model = StreamingScriptedChatModel(
        replies=list(replies), token_delay_s=token_delay_s, default_reply=default_reply
    )
    embedder = HashEmbedder()
    store = FakeStore(DOCS, embedder)
    calls: list[Any] = []
    data_dir.mkdir(parents=True, exist_ok=True)
    deps = Deps(
        store=store,  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=2, min_similarity=0.0),
        agent=AgentSettings(plan_internal_tools=True),
        catalogue=fake_catalogue(data_dir / "audit.jsonl", calls, state),
        principal=Principal.local(),
        sandbox=sandbox,
    )
    recorder = TurnRecorder(state.turns() if state else data_dir / "turns.sqlite")
    return Agent(deps, checkpointer, recorder=recorder), model, store, calls


@contextlib.contextmanager
def running_web(
    tmp_path: Path,
    replies: list[Any] = (),  # type: ignore[assignment]
    token_delay_s: float = 0.0,
    default_reply: str | None = None,
    sqlite_memory: bool = False,
    state: AppState | None = None,
    sandbox: Any = None,
    **web: Any,
) -> Iterator[WebRig]:
    """The app served by uvicorn on a free loopback port; `web` overrides WebSettings.
    `sqlite_memory`: conversation memory in SQLite as `oncall serve` has it (default:
    LangGraph's in-memory saver). `state`: the app state to keep conversations, records
    and audit in (a shared Postgres makes this rig one replica among others); its
    Postgres also holds the conversation memory then."""
    data_dir = tmp_path / "data"
    stack = contextlib.ExitStack()
    saver = None
    if sqlite_memory or (state is not None and state.shared):
        url = state.checkpoint_url if state is not None else None
        saver = stack.enter_context(open_checkpointer(data_dir, url, setting="appstate.url"))
    agent, model, store, calls = build_agent(
        data_dir, list(replies), token_delay_s, default_reply, saver, state, sandbox
    )
    web.setdefault("users_file", write_users(tmp_path / "users.yaml"))
    settings = Settings(data_dir=data_dir, web=WebSettings(**web))
    app = create_app(settings, agent, state)
    try:
        with serve_in_thread(app) as url:
            yield WebRig(url, agent, model, store, calls)
    finally:
        if agent.recorder is not None:
            agent.recorder.close()
        stack.close()
