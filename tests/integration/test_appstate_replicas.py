"""Several replicas on one Postgres act as one: each "replica" here is its own `AppState`
(its own connection pool, like a separate process), racing the others from threads.

Dedup, rate limits, leases and migrations must hold under that race; a conversation and a
pending approval must continue on a replica other than the one that started them; a
replica that dies must not take a question or an approval with it."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from agent.memory import open_checkpointer
from bots.slack.question import Question
from bots.slack.recovery import JobKeeper, job_payload
from oncall.appstate import AppState, SlackState, SqlLeases, schema_versions
from oncall.core.errors import OncallError
from oncall.core.settings import AppStateSettings
from oncall.testing.fakes import answer_action, claims_reply, plan_reply
from oncall.testing.postgres import free_port
from oncall.testing.web_support import PASSWORDS, TICKET, running_web, ticket_call


@pytest.fixture
def replicas(postgres_url: str, tmp_path: Path) -> Iterator[list[AppState]]:
    states = [
        AppState(AppStateSettings(url=postgres_url, lease_s=3), tmp_path / f"r{i}")
        for i in range(2)
    ]
    yield states
    for state in states:
        state.close()


def test_replicas_starting_together_migrate_once(postgres_url: str, tmp_path: Path) -> None:
    settings = AppStateSettings(url=postgres_url)
    with ThreadPoolExecutor(4) as pool:
        states = list(pool.map(lambda i: AppState(settings, tmp_path / str(i)), range(4)))
    try:
        db = states[0].database("slack")
        rows = db.all("SELECT domain, version, COUNT(*) FROM schema_version GROUP BY 1, 2")
        assert rows and all(count == 1 for _, _, count in rows)
        assert schema_versions(db)["web"] == 1
    finally:
        for state in states:
            state.close()


def test_a_retried_event_is_answered_by_one_replica_only(replicas: list[AppState]) -> None:
    slacks = [state.slack() for state in replicas]
    deliveries = [(i % 50, n) for n in range(4) for i in range(50)]  # every event 4 times

    def deliver(item: tuple[int, int]) -> bool:
        event, n = item
        return slacks[n % 2].claim(f"event:Ev{event}", f"msg:C1:{event}.0")

    with ThreadPoolExecutor(16) as pool:
        won = list(pool.map(deliver, deliveries))
    assert sum(won) == 50


def test_rate_limits_count_every_replica(replicas: list[AppState]) -> None:
    limits = [state.rate_limits() for state in replicas]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda i: limits[i % 2].hit("tool:create_ticket", 10), range(40)))
    assert sum(r is None for r in results) == 10


def test_a_lease_is_renewed_while_held_and_lapses_when_its_replica_dies(
    replicas: list[AppState],
) -> None:
    a, b = replicas[0].leases(), replicas[1].leases()
    assert isinstance(a, SqlLeases) and a.ttl_s == 3
    assert a.acquire("web-turn:t1")
    time.sleep(4)  # past the TTL: only the renewal keeps it
    assert not b.acquire("web-turn:t1")
    dead = SqlLeases(a.db, ttl_s=3, clock=lambda: time.time() - 10)  # stopped renewing 10 s ago
    assert dead.acquire("web-turn:t2")
    assert b.acquire("web-turn:t2"), "a lease nobody renews lapses"
    dead.close()
    a.release("web-turn:t1")
    assert b.acquire("web-turn:t1")


def test_a_question_taken_by_a_dead_worker_is_answered_by_another(
    replicas: list[AppState],
) -> None:
    dead = SlackState(replicas[0].database("slack"), owner="dead")
    question = Question("C1", "U1", "how do I roll back?", "1.0", "1.0")
    assert dead.claim("event:E1", job=job_payload(question, None), lease_s=0.1)
    adopted: list[tuple[str, Question, object]] = []
    keeper = JobKeeper(replicas[1].slack(), 3, lambda *a: adopted.append(a))
    time.sleep(0.2)
    assert keeper.tick() == 1
    assert adopted == [("event:E1", question, None)]
    assert keeper.tick() == 0, "taken once, and now renewed by its new owner"


def test_an_approval_asked_on_one_replica_is_granted_on_another(
    postgres_url: str, tmp_path: Path
) -> None:
    """The first replica pauses for approval and goes away; a fresh one (new pool, new
    agent) finds the pending write in the shared checkpoints and runs it once."""
    from tests.unit.test_internal_approvals import ALICE, make_agent, write_call

    data = tmp_path / "data"
    with (
        AppState(AppStateSettings(url=postgres_url), data) as state,
        open_checkpointer(data, postgres_url) as saver,
    ):
        agent, calls, _ = make_agent(tmp_path, [write_call()], checkpointer=saver)
        thread = agent.ask("open a ticket", route="deep", user=ALICE).thread_id
    assert calls == []
    with (
        AppState(AppStateSettings(url=postgres_url), tmp_path / "other") as state,
        open_checkpointer(tmp_path / "other", postgres_url) as saver,
    ):
        agent, calls, _ = make_agent(tmp_path, ["Opened."], checkpointer=saver)
        (pending,) = agent.pending(thread)
        assert pending.requested_by == "alice" and pending.args == TICKET
        agent.resume(thread, approved=True, approver="bob")
        assert agent.pending(thread) == []
        assert state.shared
    assert calls == [("create_ticket", TICKET, "alice")]


@contextlib.contextmanager
def _login(url: str, user: str = "alice") -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=30) as client:
        client.post("/api/login", json={"username": user, "password": PASSWORDS[user]})
        yield client


def says(greeting: str) -> str:
    """A checked answer that starts with `greeting` (the SEV2 passage supports it)."""
    quote = "SEV2 pages must be acknowledged within 15 minutes"
    return claims_reply((1, quote, f"{greeting}: SEV2 pages are acked within 15 minutes."))


def test_web_replicas_share_conversations_and_approvals(postgres_url: str, tmp_path: Path) -> None:
    secret = "replicas-share-this-session-secret"
    settings = AppStateSettings(url=postgres_url)
    opened = answer_action((2, "", "create_ticket opened it."))  # [2]: the write's result
    with (
        AppState(settings, tmp_path / "a") as state_a,
        AppState(settings, tmp_path / "b") as state_b,
        running_web(tmp_path / "a", [ticket_call()], default_reply=says("A says hi"),
                    state=state_a, session_secret=secret) as a,
        running_web(tmp_path / "b", [opened], default_reply=says("B says hi"),
                    state=state_b, session_secret=secret) as b,
        _login(a.url) as on_a,
        _login(b.url) as on_b,
    ):  # fmt: skip
        asked = on_a.post("/api/ask", json={"question": "open a ticket", "route": "deep"})
        thread = asked.json()["thread_id"]
        assert asked.json()["pending"]["tool"] == "create_ticket"
        listed = on_b.get("/api/conversations").json()["conversations"]
        assert [c["id"] for c in listed] == [thread], "B lists the conversation A started"
        done = on_b.post(f"/api/conversations/{thread}/approval", json={"approved": True})
        assert done.status_code == 200, done.text
        assert b.tool_calls == [("create_ticket", TICKET, "alice")] and a.tool_calls == []
        again = on_a.post(f"/api/conversations/{thread}/approval", json={"approved": True})
        assert again.status_code == 409, "decided once, on whichever replica"
        follow = on_b.post("/api/ask", json={"question": "thanks, and now?", "thread_id": thread})
        assert follow.status_code == 200
        history = on_a.get(f"/api/conversations/{thread}").json()["turns"]
        assert len(history) == 2 and history[-1]["answer"].startswith("B says hi")
        turns = state_a.turns().rows(thread)
        assert len(turns) == 2, "both turns recorded in the shared table"
        audit = state_a.audit().entries()
        assert [e["status"] for e in audit] == ["approved", "ok"], "approved on B, run once"


def test_an_unreachable_database_fails_at_start_naming_the_setting(tmp_path: Path) -> None:
    url = f"postgresql://oncall@127.0.0.1:{free_port()}/none"
    started = time.monotonic()
    with pytest.raises(OncallError) as err:
        AppState(AppStateSettings(url=url, connect_timeout_s=1), tmp_path)
    assert err.value.code == "state_unavailable" and "appstate.url" in err.value.detail
    assert time.monotonic() - started < 10


def test_the_checkpointer_defaults_to_the_app_state_database(
    postgres_url: str, tmp_path: Path
) -> None:
    from oncall.cli.compose import agent_over
    from oncall.core.settings import Settings
    from tests.unit.test_internal_approvals import make_agent

    settings = Settings(data_dir=tmp_path / "data", appstate=AppStateSettings(url=postgres_url))
    agent, _, _ = make_agent(tmp_path, [plan_reply(), "Fine."])
    with AppState(settings.appstate, settings.data_dir) as state:
        with agent_over(agent.deps, settings, state) as served:
            answer = served.ask("is it fine?", route="deep")
        rows = state.database("turns").all("SELECT COUNT(*) FROM checkpoints")
        assert rows[0][0] > 0, "checkpoints went to Postgres"
        assert [r["id"] for r in state.turns().rows()] == [answer.turn_id]
    assert not (settings.data_dir / "conversations.sqlite").exists()
    assert threading.active_count() < 50


def test_checkpointers_of_replicas_starting_together_set_up_once(
    postgres_url: str, tmp_path: Path
) -> None:
    """LangGraph's setup builds an index CONCURRENTLY, which waits for every open
    transaction: a replica blocked in pg_advisory_lock() meanwhile would deadlock it."""

    def open_one(i: int) -> bool:
        with open_checkpointer(tmp_path / str(i), postgres_url) as saver:
            return saver is not None

    with ThreadPoolExecutor(3) as pool:
        futures = [pool.submit(open_one, i) for i in range(3)]
        assert all(f.result(timeout=120) for f in futures)
