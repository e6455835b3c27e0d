"""Burst of Slack events against the real bot: acks stay fast, nothing is answered twice.

    .venv/bin/python benchmarks/slack_burst.py [--events 200] [--clients 32] [--workers 4]
        [--token-delay 0.02] [--out PATH]

The real bolt app served by uvicorn (HTTP mode, signature checks on) with the real agent
graph over a streaming scripted model (`--token-delay` s per word stands in for generation,
so answers queue up behind `--workers`), against the fake Slack Web API of the tests. The
burst mixes, in a fixed shuffled order: unique mentions (70%), Slack retries of them with
X-Slack-Retry-Num (15%), plain duplicate deliveries (5%) and the `message` twin an auto
channel also receives for a mention (10%). `--clients` threads send them all at once.

Reported: HTTP errors (must be 0), ack latency p50/p95/max (Slack's limit is 3 s), time
until every answer was posted, and duplicate answers (threads with more than one answer
message; must be 0). JSON goes to `--out` (default benchmarks/results/slack_burst.json).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

import httpx  # noqa: E402

from agent.records import TurnRecorder  # noqa: E402
from agent.service import Agent  # noqa: E402
from agent.state import Deps  # noqa: E402
from bots.slack.app import HttpServer, build_app, build_client, http_app  # noqa: E402
from bots.slack.bot import SlackBot  # noqa: E402
from bots.slack.config import ChannelConfig, ChannelsFile  # noqa: E402
from bots.slack.store import SlackStore  # noqa: E402
from oncall.core.settings import AgentSettings, RetrievalSettings  # noqa: E402
from oncall.testing.fake_slack import (  # noqa: E402
    BOT_TOKEN,
    SIGNING_SECRET,
    event_body,
    mention_event,
    signed_headers,
    start_fake_slack,
)
from oncall.testing.fakes import FakeStore, HashEmbedder, StreamingScriptedChatModel  # noqa: E402

ANSWER = "Run kubectl rollout restart deployment/payments-api and watch the error rate [1]."
DOCS = [{"text": "Restart the payments api: kubectl rollout restart deployment/payments-api.",
         "doc_id": "runbooks/payments.md", "title": "Payments runbook", "section": "Restart",
         "source": "/docs/runbooks/payments.md"}]  # fmt: skip
CHANNEL = "C0AUTO"


def burst(n: int, seed: int = 7) -> tuple[list[tuple[str, dict[str, str]]], int]:
    """(body, extra headers) for `n` requests, shuffled, and how many are unique questions."""
    rng = random.Random(seed)
    unique = int(n * 0.7)
    events = [mention_event(f"how do I restart payments-api, case {i}?", f"{1000 + i}.000100",
                            CHANNEL) for i in range(unique)]  # fmt: skip
    requests: list[tuple[str, dict[str, Any]]] = [
        (event_body(e, f"Ev{i}"), {}) for i, e in enumerate(events)
    ]
    while len(requests) < n:
        i = rng.randrange(unique)
        kind = rng.random()
        if kind < 0.5:  # a Slack retry (it saw no ack in time)
            extra = {"retry": rng.randint(1, 3)}
            requests.append((event_body(events[i], f"Ev{i}"), extra))
        elif kind < 0.67:  # the same delivery twice
            requests.append((event_body(events[i], f"Ev{i}"), {}))
        else:  # an auto channel also gets the mention as a `message` event
            twin = {**events[i], "type": "message", "channel_type": "channel"}
            requests.append((event_body(twin, f"Ev{i}-msg"), {}))
    rng.shuffle(requests)
    return [(body, {k: str(v) for k, v in extra.items()}) for body, extra in requests], unique


def run(args: argparse.Namespace) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="slack-burst-"))
    fake, fake_server = start_fake_slack()
    model = StreamingScriptedChatModel(default_reply=ANSWER, token_delay_s=args.token_delay)
    embedder = HashEmbedder()
    deps = Deps(
        store=FakeStore(DOCS, embedder),  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=1, min_similarity=0.0),
        agent=AgentSettings(),
    )
    recorder = TurnRecorder(data / "turns.sqlite")
    store = SlackStore(data / "slack.sqlite")
    channels = ChannelConfig(ChannelsFile.model_validate({"channels": {CHANNEL: {"mode": "auto"}}}))
    bot = SlackBot(Agent(deps, recorder=recorder), build_client(BOT_TOKEN, fake.api_url),
                   store, channels, workers=args.workers)  # fmt: skip
    server = HttpServer(http_app(build_app(bot, SIGNING_SECRET), bot)).start()
    url = f"http://127.0.0.1:{server.port}/slack/events"
    requests, unique = burst(args.events)
    latencies: list[float] = []
    statuses: list[int] = []

    def send(item: tuple[str, dict[str, str]], http: httpx.Client) -> None:
        body, extra = item
        retry = int(extra["retry"]) if "retry" in extra else None
        headers = {"Content-Type": "application/json", **signed_headers(body, retry=retry)}
        started = time.perf_counter()
        reply = http.post(url, content=body.encode(), headers=headers)
        latencies.append(time.perf_counter() - started)
        statuses.append(reply.status_code)

    limits = httpx.Limits(max_connections=args.clients)
    with httpx.Client(timeout=30, limits=limits) as http, ThreadPoolExecutor(args.clients) as pool:
        started = time.perf_counter()
        list(pool.map(lambda item: send(item, http), requests))
        burst_s = time.perf_counter() - started
        while bot.stats["received"] < len(requests):
            time.sleep(0.01)
        bot.wait_idle(600)
        drained_s = time.perf_counter() - started
    answered = {}
    for i in range(unique):
        thread = fake.thread(CHANNEL, f"{1000 + i}.000100")
        answered[i] = sum(1 for m in thread if m["text"].startswith("Run kubectl"))
    server.stop()
    bot.close()
    fake_server.shutdown()
    ordered = sorted(latencies)
    return {
        "requests": len(requests),
        "unique_questions": unique,
        "http_errors": sum(1 for s in statuses if s != 200),
        "ack_ms": {
            "p50": round(statistics.median(ordered) * 1000, 1),
            "p95": round(ordered[int(0.95 * (len(ordered) - 1))] * 1000, 1),
            "max": round(ordered[-1] * 1000, 1),
        },
        "burst_s": round(burst_s, 2),
        "all_answered_s": round(drained_s, 2),
        "answered_once": sum(1 for c in answered.values() if c == 1),
        "unanswered": sum(1 for c in answered.values() if c == 0),
        "duplicate_answers": sum(c - 1 for c in answered.values() if c > 1),
        "model_calls": len(model.calls),
        "bot_stats": dict(bot.stats),
        "slack_api_calls": len(fake.calls),
        "settings": vars(args),
        "loadavg": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--token-delay", type=float, default=0.02)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/slack_burst.json")
    report = run(parser.parse_args())
    report["settings"]["out"] = str(report["settings"]["out"])
    report["ok"] = (
        report["http_errors"] == 0
        and report["duplicate_answers"] == 0
        and report["unanswered"] == 0
        and report["ack_ms"]["max"] < 3000
    )
    args_out = Path(report["settings"]["out"])
    args_out.parent.mkdir(parents=True, exist_ok=True)
    args_out.write_text(json.dumps(report, indent=2))
    print(
        json.dumps(
            {k: v for k, v in report.items() if k not in ("settings", "bot_stats")}, indent=2
        )
    )
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
