"""What shared app state costs a turn on Postgres over loopback (benchmarks/replicas_bench.py).

- `store_calls`: the app-state calls one turn makes, timed together: a Slack turn (claim the
  event with its question, the thread's turn lease, remember the thread, the button
  reference, the turn record, lease and question done) and a web turn (ownership check, turn
  lease, turn record, the rendered turn, lease done); sequential and 8 turns at a time.
- `whole_turn`: `Agent.ask` over a zero-latency scripted model, (a) with the Postgres
  checkpointer and turn records in Postgres and (b) with in-process memory and no records,
  alternating; (a) - (b) is everything shared state adds to a turn, checkpoints included.

The cluster keeps Postgres' durable defaults (fsync on): each commit is a real flush.
"""

from __future__ import annotations

import statistics
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agent.memory import open_checkpointer
from oncall.appstate import AppState
from oncall.core.settings import AppStateSettings
from oncall.testing.postgres import ThrowawayPostgres
from oncall.testing.web_support import SEV2_ANSWER, build_agent


def p50_p95(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return {"p50": round(statistics.median(ordered), 2), "p95": round(p95, 2)}


def turn_row(thread: str) -> dict[str, Any]:
    return {
        "id": uuid.uuid4().hex, "thread_id": thread, "created_at": time.time(),
        "question": "How fast is a SEV2 acked?", "route": "direct", "route_reason": "bench",
        "route_confidence": 1.0, "retrieved_ids": '["chunk-0", "chunk-1"]',
        "cited_ids": '["chunk-0"]', "tool_calls": "[]", "answer": SEV2_ANSWER, "abstained": 0,
        "escalated": 0, "timings_ms": '{"total": 1.0}', "prompt_tokens": 300,
        "completion_tokens": 20,
    }  # fmt: skip


def store_calls(state: AppState, turns: int) -> dict[str, Any]:
    slack, conv, log, leases = state.slack(), state.conversations(), state.turns(), state.leases()

    def slack_turn(i: int) -> float:
        started = time.perf_counter()
        key, ts = f"event:bench-{uuid.uuid4().hex}", f"{i}.0001"
        slack.claim(key, f"msg:CB:{ts}", job={"channel": "CB", "ts": ts}, lease_s=30)
        tid = f"slack:CB:{ts}"
        assert leases.acquire(f"slack-turn:{tid}")
        slack.add_thread(tid)
        slack.put_ref({"channel": "CB", "thread_ts": ts, "kind": "answer", "turn_id": "t"})
        log.add(turn_row(tid))
        leases.release(f"slack-turn:{tid}")
        slack.finish_job(key)
        return (time.perf_counter() - started) * 1000

    def web_turn(i: int) -> float:
        own = conv.create("bench", "How fast is a SEV2 acked?")  # the page's first call
        started = time.perf_counter()
        assert conv.owns("bench", own)
        assert leases.acquire(f"web-turn:{own}")
        row = turn_row(own)
        log.add(row)
        conv.add_turn(own, {"turn_id": row["id"], "answer": SEV2_ANSWER})
        leases.release(f"web-turn:{own}")
        return (time.perf_counter() - started) * 1000

    result: dict[str, Any] = {}
    for name, fn in (("slack_turn_ms", slack_turn), ("web_turn_ms", web_turn)):
        fn(-1)  # warm the pool
        sequential = [fn(i) for i in range(turns)]
        with ThreadPoolExecutor(8) as pool:
            concurrent = list(pool.map(fn, range(turns, 2 * turns)))
        result[name] = {"sequential": p50_p95(sequential), "8_at_a_time": p50_p95(concurrent)}
    return result


def whole_turn(url: str, state: AppState, turns: int, root: Path) -> dict[str, Any]:
    """(a) Postgres memory + records vs (b) in-process memory, no records, alternating."""
    with open_checkpointer(root / "a", url, setting="appstate.url") as saver:
        shared, *_ = build_agent(root / "a", [], default_reply=SEV2_ANSWER, checkpointer=saver,
                                 state=state)  # fmt: skip
        local, *_ = build_agent(root / "b", [], default_reply=SEV2_ANSWER)
        local.recorder = None
        times: dict[str, list[float]] = {"postgres": [], "in_process": []}
        threads = {"postgres": uuid.uuid4().hex, "in_process": uuid.uuid4().hex}
        for i in range(turns):
            if i % 5 == 0:  # five turns per conversation: memory grows as in real threads
                threads = {k: uuid.uuid4().hex for k in threads}
            for name, agent in (("postgres", shared), ("in_process", local)):
                answer = agent.ask("How fast is a SEV2 acked?", threads[name])
                times[name].append(answer.timings_ms["total"])
    a, b = p50_p95(times["postgres"]), p50_p95(times["in_process"])
    return {
        "postgres_ms": a,
        "in_process_ms": b,
        "added_by_shared_state_ms": {k: round(a[k] - b[k], 2) for k in a},
    }


def overhead(pg: ThrowawayPostgres, turns: int) -> dict[str, Any]:
    url = pg.create_database("overhead")
    root = Path(tempfile.mkdtemp(prefix="replicas-overhead-"))
    with AppState(AppStateSettings(url=url), root) as state:
        return {
            "turns": turns,
            "store_calls": store_calls(state, turns),
            "whole_turn": whole_turn(url, state, max(50, turns // 2), root),
        }
