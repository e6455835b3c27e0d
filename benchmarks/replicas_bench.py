"""Two replicas of each front end on one Postgres behave as one app.

    .venv/bin/python benchmarks/replicas_bench.py [--events 200] [--conversations 20]
        [--turns 300] [--out PATH]

One command starts a throwaway Postgres (initdb + pg_ctl on loopback, durable settings), the
fake Slack Web API, two `oncall serve` replicas and two `oncall slack --http` workers as
separate processes (benchmarks/replicas_fleet.py, benchmarks/replica_app.py: the real apps and
composition over a fake model and index), then measures:

1. Slack: `--events` signed events (unique mentions, Slack retries with X-Slack-Retry-Num,
   duplicate deliveries, the `message` twin of a mention) spread at random over both
   workers: duplicate answers (must be 0), unanswered questions, ack latency.
2. Web: `--conversations` conversations started on one replica and continued on the other.
3. Approvals: a write asked for on one replica (web and Slack) and approved on the other.
4. A replica killed (SIGKILL) mid-answer: the web client's retry lands on the survivor; the
   Slack questions the dead worker had taken are answered by the other one; the approvals
   pending on the dead replicas are granted on the survivors; no answer lacks its turn
   record, and none is given twice.
5. App-state overhead per turn on Postgres (benchmarks/replicas_overhead.py).

JSON goes to `--out` (default benchmarks/results/replicas.json) with the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

# Siblings: a script's own folder is on sys.path.
from replicas_fleet import ASKER, CHANNEL, REPO, Fleet, fleet
from replicas_overhead import overhead

from oncall.testing.fake_slack import (
    action_body,
    event_body,
    find_button,
    mention_event,
    post_signed,
    signed_headers,
)

APPROVE = "oncall_approve"  # bots/slack/messages.py APPROVE


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))] if ordered else 0.0


def answers(fl: Fleet, ts: str) -> int:
    """Final answers in the thread of the message `ts` (status messages not counted)."""
    return sum(1 for m in fl.slack.thread(CHANNEL, ts) if m.get("text", "").startswith("Answer"))


def wait_for(check: Any, timeout_s: float) -> float:
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise TimeoutError(f"waited {timeout_s} s")
        time.sleep(0.1)
    return time.monotonic() - started


def slack_burst(fl: Fleet, n: int, seed: int = 11) -> dict[str, Any]:
    rng = random.Random(seed)
    unique = int(n * 0.7)
    events = [mention_event(f"how fast is a SEV2 acked, case-B{i}?", f"{3000 + i}.000100",
                            CHANNEL, ASKER) for i in range(unique)]  # fmt: skip
    requests: list[tuple[str, int | None]] = [(event_body(e, f"EvB{i}"), None)
                                             for i, e in enumerate(events)]  # fmt: skip
    while len(requests) < n:
        i, kind = rng.randrange(unique), rng.random()
        if kind < 0.5:
            requests.append((event_body(events[i], f"EvB{i}"), rng.randint(1, 3)))
        elif kind < 0.67:
            requests.append((event_body(events[i], f"EvB{i}"), None))
        else:
            twin = {**events[i], "type": "message", "channel_type": "channel"}
            requests.append((event_body(twin, f"EvB{i}-msg"), None))
    rng.shuffle(requests)
    routed = [(body, retry, rng.choice(["slack-a", "slack-b"])) for body, retry in requests]
    acks: list[float] = []
    statuses: list[int] = []

    def send(item: tuple[str, int | None, str], http: httpx.Client) -> None:
        body, retry, worker = item
        headers = {"Content-Type": "application/json", **signed_headers(body, retry=retry)}
        started = time.perf_counter()
        reply = http.post(fl.events_url(worker), content=body.encode(), headers=headers)
        acks.append(time.perf_counter() - started)
        statuses.append(reply.status_code)

    with httpx.Client(timeout=30) as http, ThreadPoolExecutor(16) as pool:
        started = time.perf_counter()
        list(pool.map(lambda item: send(item, http), routed))
        tss = [e["ts"] for e in events]
        wait_for(lambda: all(answers(fl, ts) >= 1 for ts in tss), 600)
        answered_s = time.perf_counter() - started
    time.sleep(2)  # late duplicates would show up now
    counts = [answers(fl, ts) for ts in tss]
    records = dict(fl.sql("SELECT question, COUNT(*) FROM turns WHERE question LIKE %s "
                          "GROUP BY question", ("%case-B%",)))  # fmt: skip
    return {
        "requests": n, "unique_questions": unique,
        "sent_to": {w: sum(1 for *_, x in routed if x == w) for w in ("slack-a", "slack-b")},
        "http_errors": sum(1 for s in statuses if s != 200),
        "duplicate_answers": sum(c - 1 for c in counts if c > 1),
        "unanswered": sum(1 for c in counts if c == 0),
        "turn_records": sum(records.values()),
        "ack_ms": {"p50": round(pct(acks, 0.5) * 1000, 1), "p95": round(pct(acks, 0.95) * 1000, 1),
                   "max": round(max(acks) * 1000, 1)},
        "all_answered_s": round(answered_s, 2),
    }  # fmt: skip


def web_handoff(fl: Fleet, conversations: int) -> dict[str, Any]:
    """Each conversation starts on one replica and continues on the other."""
    signed_in = fl.login("web-a")

    def one(i: int) -> str | None:
        first, second = ("web-a", "web-b") if i % 2 == 0 else ("web-b", "web-a")
        with fl.on(first, signed_in) as c1, fl.on(second, signed_in) as c2:
            r1 = c1.post("/api/ask", json={"question": f"How fast is a SEV2 acked? case-W{i}a"})
            if r1.status_code != 200:
                return f"first turn: HTTP {r1.status_code}"
            thread = r1.json()["thread_id"]
            r2 = c2.post(
                "/api/ask", json={"question": f"and SEV1? case-W{i}b", "thread_id": thread}
            )
            if r2.status_code != 200:
                return f"second turn on the other replica: HTTP {r2.status_code} {r2.text[:100]}"
            turns = c1.get(f"/api/conversations/{thread}").json()["turns"]
            if [t["answer"].split(":")[0] for t in turns] != [
                f"Answer for case-W{i}a",
                f"Answer for case-W{i}b",
            ]:
                return f"history differs: {[t['answer'][:30] for t in turns]}"
        return None  # fmt: skip

    with ThreadPoolExecutor(10) as pool:
        problems = [p for p in pool.map(one, range(conversations)) if p]
    signed_in.close()
    return {"conversations": conversations, "continued_on_other_replica": conversations -
            len(problems), "problems": problems[:3]}  # fmt: skip


def audit_count(fl: Fleet, status: str) -> int:
    return int(fl.sql("SELECT COUNT(*) FROM tool_audit WHERE status = %s", (status,))[0][0])


def web_approval(fl: Fleet, ask_on: str, approve_on: str, tag: str) -> dict[str, Any]:
    signed_in = fl.login(ask_on)
    with fl.on(approve_on, signed_in) as other:
        asked = signed_in.post("/api/ask", json={"question": f"open a ticket for {tag}"})
        pending = asked.json().get("pending")
        ran_before = audit_count(fl, "ok")
        thread = asked.json()["thread_id"]
        done = other.post(f"/api/conversations/{thread}/approval", json={"approved": True})
        ok = done.status_code == 200 and done.json()["answer"].startswith(f"Answer for {tag}")
    signed_in.close()
    return {
        "pending_on_" + ask_on: pending is not None,
        "granted_on_" + approve_on: ok,
        "write_ran_once": audit_count(fl, "ok") == ran_before + 1,
    }


def slack_approval_request(fl: Fleet, worker: str, tag: str, ts: str) -> dict[str, Any]:
    """Ask for a write in Slack on `worker`; returns the message with the Approve button."""
    body = event_body(mention_event(f"open a ticket for {tag}", ts, CHANNEL, ASKER), f"Ev{tag}")
    with httpx.Client(timeout=30) as http:
        post_signed(http, fl.events_url(worker), body).raise_for_status()

    def with_button() -> dict[str, Any] | None:
        for m in fl.slack.thread(CHANNEL, ts):
            try:
                find_button(m, APPROVE)
            except AssertionError:
                continue
            return m
        return None

    wait_for(lambda: with_button() is not None, 60)
    message = with_button()
    assert message is not None
    return message


def slack_approve(fl: Fleet, worker: str, message: dict[str, Any], tag: str) -> bool:
    """Click Approve on `message` through `worker`; True once the answer is posted."""
    value = find_button(message, APPROVE)
    body = action_body(APPROVE, value, {**message, "channel": CHANNEL}, user="U2")
    with httpx.Client(timeout=30) as http:
        post_signed(http, fl.events_url(worker), body, form=True).raise_for_status()
    ts = message["thread_ts"]
    try:
        wait_for(lambda: any(m.get("text", "").startswith(f"Answer for {tag}")
                             for m in fl.slack.thread(CHANNEL, ts)), 60)  # fmt: skip
    except TimeoutError:
        return False
    return True


def approvals(fl: Fleet) -> dict[str, Any]:
    web = web_approval(fl, "web-a", "web-b", "case-T1")
    message = slack_approval_request(fl, "slack-a", "case-T2", "4000.000100")
    granted = slack_approve(fl, "slack-b", message, "case-T2")
    return {"web": web, "slack": {"pending_on_slack-a": True, "granted_on_slack-b": granted}}


def kill_mid_answer(fl: Fleet) -> dict[str, Any]:
    """Pending approvals on web-a and slack-a, slow answers under way there, then SIGKILL."""
    signed_in = fl.login("web-a")
    ticket = signed_in.post("/api/ask", json={"question": "open a ticket for case-K1"}).json()
    slack_pending = slack_approval_request(fl, "slack-a", "case-K2", "5000.000100")
    slow = [f"{5100 + i}.000100" for i in range(6)]
    with httpx.Client(timeout=30) as http:
        for i, ts in enumerate(slow):
            body = event_body(mention_event(f"slow question case-S{i}", ts, CHANNEL, ASKER),
                              f"EvS{i}")  # fmt: skip
            post_signed(http, fl.events_url("slack-a"), body).raise_for_status()
    web_thread, broken = _stream_until_killed(fl, signed_in)
    wait_for(lambda: sum(1 for ts in slow if fl.slack.thread(CHANNEL, ts)) >= 4, 30)
    fl.replicas["slack-a"].kill()
    answered_at_kill = sum(answers(fl, ts) for ts in slow)
    recovered_s = wait_for(lambda: all(answers(fl, ts) >= 1 for ts in slow), 120)
    with fl.on("web-b", signed_in) as survivor:
        retry = survivor.post("/api/ask", json={"question": "slow question case-K3",
                                                "thread_id": web_thread})  # fmt: skip
        approved = survivor.post(f"/api/conversations/{ticket['thread_id']}/approval",
                                 json={"approved": True})  # fmt: skip
    slack_granted = slack_approve(fl, "slack-b", slack_pending, "case-K2")
    signed_in.close()
    time.sleep(2)
    tags = [f"case-S{i}" for i in range(6)] + ["case-K1", "case-K2", "case-K3"]
    records = {tag: _records(fl, tag) for tag in tags}
    delivered = {f"case-S{i}": answers(fl, ts) for i, ts in enumerate(slow)}
    return {
        "web": {"stream_broken_by_kill": broken, "retry_on_survivor": retry.status_code == 200,
                "pending_approval_granted_on_survivor": approved.status_code == 200},
        "slack": {"questions_on_killed_worker": len(slow), "answered_before_kill":
                  answered_at_kill, "all_answered_after_kill": all(delivered.values()),
                  "all_answered_within_s_of_kill": round(recovered_s, 2),
                  "duplicate_answers": sum(c - 1 for c in delivered.values() if c > 1),
                  "pending_approval_granted_on_survivor": slack_granted},
        "answers_without_turn_record": [t for t, n in records.items() if n == 0],
        "turn_records_per_answer": records,
    }  # fmt: skip


def _records(fl: Fleet, tag: str) -> int:
    return int(fl.sql("SELECT COUNT(*) FROM turns WHERE answer LIKE %s", (f"%{tag}:%",))[0][0])


def _stream_until_killed(fl: Fleet, signed_in: httpx.Client) -> tuple[str, bool]:
    """Stream a slow answer from web-a and SIGKILL web-a at its first token."""
    thread, broken = "", False
    killer = threading.Event()
    try:
        with signed_in.stream("POST", "/api/ask/stream",
                              json={"question": "slow question case-K3"}) as r:  # fmt: skip
            kind = ""
            for line in r.iter_lines():
                if line.startswith("event: "):
                    kind = line[7:]
                elif line.startswith("data: ") and kind == "thread":
                    thread = json.loads(line[6:])["thread_id"]
                elif kind == "token" and not killer.is_set():
                    killer.set()
                    fl.replicas["web-a"].kill()
                elif kind == "answer":
                    return thread, False
    except httpx.HTTPError:
        broken = True
    return thread, broken or killer.is_set()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--conversations", type=int, default=20)
    parser.add_argument("--turns", type=int, default=300, help="turns timed for the overhead")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/replicas.json")
    args = parser.parse_args()
    load_before = os.getloadavg()
    started = time.perf_counter()
    with fleet() as fl:
        print("fleet up: Postgres, fake Slack, web-a, web-b, slack-a, slack-b", flush=True)
        result: dict[str, Any] = {"slack_burst": slack_burst(fl, args.events)}
        print(json.dumps(result["slack_burst"]), flush=True)
        result["web_handoff"] = web_handoff(fl, args.conversations)
        print(json.dumps(result["web_handoff"]), flush=True)
        result["approvals_across_replicas"] = approvals(fl)
        print(json.dumps(result["approvals_across_replicas"]), flush=True)
        result["kill_mid_answer"] = kill_mid_answer(fl)
        print(json.dumps(result["kill_mid_answer"]), flush=True)
        result["overhead"] = overhead(fl.pg, args.turns)
    result["load_avg"] = {"before": load_before, "after": os.getloadavg()}
    result["wall_s"] = round(time.perf_counter() - started, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["overhead"], indent=2))
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
