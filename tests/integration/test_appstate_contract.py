"""The app-state contract, run on both engines: the embedded default (SQLite files, JSONL
audit, in-process limits and leases) and Postgres (a throwaway cluster on loopback).

Every store the front ends and the agent use is exercised through `AppState`, the way
oncall/cli/compose.py builds it; where time matters the same implementations the factory
picks get a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from oncall.appstate import (
    AppState,
    LeaseBusy,
    MemoryLeases,
    MemoryRateLimits,
    SlackState,
    SqlLeases,
    SqlRateLimits,
    hold,
    schema_versions,
)
from oncall.appstate.migrate import migrations
from oncall.core.settings import AppStateSettings
from tools.internal.audit import REDACTED, AuditEntry, AuditLog


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AppState]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    with AppState(AppStateSettings(url=url), tmp_path / "data") as app_state:
        yield app_state


def turn_row(turn_id: str, thread: str, at: float) -> dict[str, Any]:
    return {
        "id": turn_id, "thread_id": thread, "created_at": at, "question": "q?",
        "route": "direct", "route_reason": "r", "route_confidence": 0.9,
        "retrieved_ids": '["c1"]', "cited_ids": "[]", "tool_calls": "[]", "answer": "a",
        "abstained": 0, "escalated": 1, "timings_ms": '{"total": 5.0}', "prompt_tokens": 7,
        "completion_tokens": 3,
    }  # fmt: skip


# --- Slack ----------------------------------------------------------------------------------


def test_slack_claim_is_insert_if_absent_all_or_nothing_with_a_ttl(state: AppState) -> None:
    clock = Clock()
    slack = SlackState(state.database("slack"), dedupe_ttl_s=60, clock=clock)
    assert slack.claim("event:E1", "msg:C1:1.0")
    assert not slack.claim("event:E1", "msg:C1:1.0"), "a retry is a duplicate"
    assert not slack.claim("event:E2", "msg:C1:1.0"), "the message twin is a duplicate"
    assert slack.claim("event:E3", "msg:C1:2.0")
    # All or nothing: E4 was not claimed by the refused claim above.
    assert not slack.claim("event:E4", "msg:C1:2.0")
    assert slack.claim("event:E4")
    clock.now += 61
    assert slack.claim("event:E1"), "past the TTL the key is free again"


def test_slack_refs_threads_and_merged_updates(state: AppState) -> None:
    slack = state.slack()
    ref = slack.put_ref({"channel": "C1", "question": "why?", "turn_id": None})
    slack.update_ref(ref, feedback={"helpful": True})
    slack.update_ref(ref, turn_id="t1")
    assert slack.ref(ref) == {
        "channel": "C1", "question": "why?", "turn_id": "t1", "feedback": {"helpful": True}
    }  # fmt: skip
    assert slack.ref("nope") is None
    slack.update_ref("nope", x=1)  # an unknown ref changes nothing and does not fail
    assert not slack.has_thread("slack:C1:1.0")
    slack.add_thread("slack:C1:1.0")
    slack.add_thread("slack:C1:1.0")
    assert slack.has_thread("slack:C1:1.0")


def test_slack_jobs_are_leased_renewed_and_taken_over(state: AppState) -> None:
    clock = Clock()
    db = state.database("slack")
    alive = SlackState(db, owner="alive", clock=clock)
    dead = SlackState(db, owner="dead", clock=clock)
    job = {"channel": "C1", "user": "U1", "text": "q", "ts": "1.0", "thread_ts": "1.0"}
    assert dead.claim("event:D", job=job, lease_s=30)
    assert alive.claim("event:A", job={**job, "ts": "2.0"}, lease_s=30)
    assert not alive.claim("event:D", job=job), "a duplicate stores no second job"
    assert alive.take_orphans(30) == [], "nobody's lease has run out"
    clock.now += 20
    assert alive.renew_jobs(30) == 1  # alive renews; dead does not
    clock.now += 15
    assert alive.take_orphans(30) == [("event:D", job)]
    assert alive.take_orphans(30) == [], "taken once"
    alive.finish_job("event:D")
    alive.finish_job("event:A")
    assert alive.jobs() == []


def test_slack_jobs_that_keep_failing_are_dropped(state: AppState) -> None:
    clock = Clock()
    slack = SlackState(state.database("slack"), clock=clock)
    slack.claim("event:P", job={"ts": "1"}, lease_s=1)
    for _ in range(2):  # taken and "crashed" twice
        clock.now += 2
        assert len(slack.take_orphans(1, max_attempts=3)) == 1
    clock.now += 2
    assert slack.take_orphans(1, max_attempts=3) == [] and slack.jobs() == []


def test_released_jobs_are_taken_at_once(state: AppState) -> None:
    db = state.database("slack")
    leaving, staying = SlackState(db, owner="leaving"), SlackState(db, owner="staying")
    leaving.claim("event:L", job={"ts": "1"}, lease_s=600)
    assert staying.take_orphans(600) == []
    assert leaving.release_jobs() == 1
    assert [k for k, _ in staying.take_orphans(600)] == ["event:L"]


# --- web conversations ------------------------------------------------------------------


def test_conversations_belong_to_their_owner(state: AppState) -> None:
    conv = state.conversations()
    first = conv.create("alice", "  How   do I page   the secondary?  ")
    second = conv.create("alice", "x" * 200)
    conv.create("bob", "bob's question")
    assert conv.owns("alice", first) and not conv.owns("bob", first)
    listed = conv.threads("alice")
    assert [t["title"] for t in listed][1] == "How do I page the secondary?"
    assert len(listed[0]["title"]) == 80 and {t["id"] for t in listed} == {first, second}
    conv.add_turn(first, {"turn_id": "t1", "answer": "one"})
    assert conv.threads("alice")[0]["id"] == first, "most recently active first"


def test_a_completed_turn_replaces_the_pending_one(state: AppState) -> None:
    conv = state.conversations()
    thread = conv.create("alice", "open a ticket")
    conv.add_turn(thread, {"turn_id": "t0", "answer": "earlier"})
    conv.add_turn(thread, {"turn_id": None, "pending": {"tool": "create_ticket"}})
    conv.add_turn(thread, {"turn_id": "t1", "answer": "done"})
    assert [t["turn_id"] for t in conv.history(thread)] == ["t0", "t1"]
    assert conv.turn("alice", "t1") == {"turn_id": "t1", "answer": "done"}
    assert conv.turn("bob", "t1") is None, "another user's turn is not found"


def test_transcripts_map_to_their_thread_for_the_owner_only(state: AppState) -> None:
    conv = state.conversations()
    thread = conv.create("alice", "q1")
    messages = [("user", "q1"), ("assistant", "a1")]
    conv.remember_transcript("alice", messages, thread)
    assert conv.thread_for_transcript("alice", [("user", " q1 "), ("assistant", "a1")]) == thread
    assert conv.thread_for_transcript("bob", messages) is None
    newer = conv.create("alice", "q1")
    conv.remember_transcript("alice", messages, newer)
    assert conv.thread_for_transcript("alice", messages) == newer


# --- turn records -------------------------------------------------------------------------


def test_turn_records_and_feedback(state: AppState) -> None:
    turns = state.turns()
    turns.add(turn_row("t2", "th1", 20.0))
    turns.add(turn_row("t1", "th1", 10.0))
    turns.add(turn_row("t3", "th2", 30.0))
    rows = turns.rows("th1")
    assert [r["id"] for r in rows] == ["t1", "t2"]
    assert rows[0]["route_confidence"] == 0.9 and rows[0]["escalated"] == 1
    assert rows[0]["feedback"] is None and rows[0]["timings_ms"] == '{"total": 5.0}'
    turns.set_feedback("t1", {"helpful": False})
    assert turns.rows()[0]["feedback"] == '{"helpful": false}'
    with pytest.raises(KeyError, match="nope"):
        turns.set_feedback("nope", {})
    with pytest.raises(ValueError, match="answer"):
        turns.add({k: v for k, v in turn_row("t4", "x", 1.0).items() if k != "answer"})


# --- audit, rate limits, leases ------------------------------------------------------------


def test_audit_entries_are_redacted_and_read_back_in_order(state: AppState) -> None:
    log = AuditLog(sink=state.audit(), secrets=["s3cr3t-value"])
    for status in ("ok", "rejected"):
        log.record(
            AuditEntry("alice", "create_ticket", "platform", "write",
                       {"title": "t", "token": "abc", "note": "key s3cr3t-value"}, status, 12.5),
        )  # fmt: skip
    entries = log.entries()
    assert [e["status"] for e in entries] == ["ok", "rejected"]
    assert entries[0]["args"]["token"] == REDACTED
    assert "s3cr3t-value" not in str(entries)


def _limits(state: AppState, clock: Clock) -> Any:
    if state.shared:
        return SqlRateLimits(state.database("limits"), clock)
    return MemoryRateLimits(clock)


def test_rate_limits_slide_over_the_window(state: AppState) -> None:
    assert type(state.rate_limits()) is type(_limits(state, Clock()))
    clock = Clock()
    limits = _limits(state, clock)
    assert limits.hit("tool:x", 2, 60) is None
    clock.now += 10
    assert limits.hit("tool:x", 2, 60) is None
    assert limits.hit("tool:x", 2, 60) == pytest.approx(50.0)
    assert limits.hit("tool:y", 2, 60) is None, "keys are counted apart"
    clock.now += 51
    assert limits.hit("tool:x", 2, 60) is None, "the first call left the window"


def _leases(state: AppState, clock: Clock, owner: str = "a") -> Any:
    if state.shared:
        return SqlLeases(state.database("leases"), ttl_s=30, owner=owner, clock=clock)
    return MemoryLeases()


def test_a_held_lease_refuses_others_until_released(state: AppState) -> None:
    assert type(state.leases()) is type(_leases(state, Clock()))
    leases = _leases(state, Clock())
    assert leases.acquire("web-turn:t1")
    assert not leases.acquire("web-turn:t1")
    assert leases.acquire("web-turn:t2")
    leases.release("web-turn:t1")
    with (
        hold(leases, "web-turn:t1"),
        pytest.raises(LeaseBusy),
        hold(leases, "web-turn:t1", wait_s=0.05),
    ):
        pass
    assert leases.acquire("web-turn:t1"), "hold released it"
    leases.close()


def test_schema_is_versioned(state: AppState) -> None:
    for domain in ("slack", "web", "turns"):
        db = state.database(domain)
        versions = schema_versions(db)
        assert versions[domain] == migrations(domain, db.dialect)[-1].version
    if state.shared:
        versions = schema_versions(state.database("audit"))
        assert {"audit", "limits", "leases", "slack", "web", "turns"} <= set(versions)
