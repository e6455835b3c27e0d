"""Bounded soak: the agent answering without pause, memory and handles sampled over time.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--workers 4] [--fronts agent,web,slack]
        [--sample-s 5] [--max-growth-mb 40] [--out PATH]

A scripted model (no LLM, so the numbers are the agent's own) answers through the real
`Agent`: the graph, the sample handbook ingested into a real Qdrant Edge index (hash
embedder), SQLite checkpoints and turn records under a temporary data dir, DIRECT and DEEP
turns (one in four; the model calls search_docs itself), conversations of five turns each.
With `web` / `slack` in `--fronts` (and bots/web, bots/slack importable) the same agent is
also reached through the real web app (uvicorn on loopback, `POST /api/ask`, header auth)
and the real Slack bolt app (signed HTTP events, fake Slack Web API of the tests): workers
take the fronts in turn.

Every `--sample-s` seconds: RSS, open file descriptors, threads, turns done, errors. After a
warm-up (a fifth of the run, at least 30 s), memory is stable when the median of the last
three samples is within `--max-growth-mb` of the median of the first three; descriptors and
threads must not grow either. Exit 1 on any error or growth. JSON goes to `--out`
(default benchmarks/results/soak.json) with the load average: the box is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

from langchain_core.language_models import BaseChatModel  # noqa: E402
from langchain_core.messages import AIMessage, BaseMessage, SystemMessage, ToolMessage  # noqa: E402
from langchain_core.outputs import ChatGeneration, ChatResult  # noqa: E402

from agent.memory import open_checkpointer  # noqa: E402
from agent.prompts import DEEP_SYSTEM  # noqa: E402
from agent.records import TurnRecorder  # noqa: E402
from agent.service import Agent  # noqa: E402
from agent.state import Deps  # noqa: E402
from ingest.pipeline import ingest_paths  # noqa: E402
from ingest.store import DocStore  # noqa: E402
from oncall.core.settings import (  # noqa: E402
    AgentSettings,
    IngestSettings,
    RetrievalSettings,
    StoreSettings,
)
from oncall.testing.fakes import HashEmbedder  # noqa: E402

HANDBOOK = REPO / "examples" / "handbook"
QUESTIONS = REPO / "examples" / "handbook_questions.jsonl"
TURNS_PER_CONVERSATION = 5


class SoakModel(BaseChatModel):
    """Stateless scripted model (safe from many threads): in DEEP it asks search_docs once
    per turn, then answers quoting the first retrieved line; DIRECT answers at once."""

    def bind_tools(self, tools: Any, **kwargs: Any) -> SoakModel:  # type: ignore[override]
        return self

    @property
    def _llm_type(self) -> str:
        return "soak"

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        deep = isinstance(messages[0], SystemMessage) and messages[0].content == DEEP_SYSTEM
        own_calls = [
            m for m in messages if isinstance(m, AIMessage) and any(
                not c["id"].startswith("seed_") for c in m.tool_calls
            )
        ]  # fmt: skip
        if deep and not own_calls:
            query = str(messages[-1].content)[-200:].split("\n")[-1] or "on-call"
            call = {"name": "search_docs", "args": {"query": query}, "id": uuid.uuid4().hex}
            message = AIMessage("", tool_calls=[call])
        else:
            data = next((str(m.content) for m in reversed(messages) if _is_data(m)), "")
            lines = [*data.splitlines(), "n/a", "n/a"]
            message = AIMessage(f"From the docs: {lines[1][:160]}")
        message.usage_metadata = {"input_tokens": 100, "output_tokens": 20, "total_tokens": 120}
        return ChatResult(generations=[ChatGeneration(message=message)])


def _is_data(message: BaseMessage) -> bool:
    return isinstance(message, ToolMessage) or "<document" in str(message.content)


def build_agent(data_dir: Path) -> tuple[Agent, Callable[[], None]]:
    """The real agent over the ingested handbook; returns it and a closer."""
    embedder = HashEmbedder()
    with DocStore(StoreSettings(), data_dir) as store:
        report = ingest_paths([HANDBOOK], store, embedder, IngestSettings())
    print(f"ingested {len(report.added)} files, {report.chunks_written} chunks", flush=True)
    store = DocStore(StoreSettings(), data_dir)
    deps = Deps(
        store=store,
        embedder=embedder,
        chat_model=SoakModel(),
        retrieval=RetrievalSettings(top_k=4, min_similarity=0.0),
        agent=AgentSettings(),
    )
    checkpoints = open_checkpointer(data_dir)
    saver = checkpoints.__enter__()
    recorder = TurnRecorder(data_dir / "turns.sqlite")

    def close() -> None:
        recorder.close()
        checkpoints.__exit__(None, None, None)
        store.close()

    return Agent(deps, checkpointer=saver, recorder=recorder), close


def process_sample() -> dict[str, float]:
    status = Path("/proc/self/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    return {
        "rss_mb": int(fields["VmRSS"].split()[0]) / 1024,
        "fds": len(os.listdir("/proc/self/fd")),
        "threads": int(fields["Threads"]),
    }


class Soak:
    """Workers asking through the fronts until the deadline; a sampler watching memory."""

    def __init__(self, fronts: dict[str, Callable[[str, str, str | None], None]]):
        self.fronts = fronts
        self.lock = threading.Lock()
        self.done: dict[str, int] = dict.fromkeys(fronts, 0)
        self.errors: list[str] = []
        self.latency_ms: list[tuple[float, float]] = []  # (elapsed s, ms)
        self.samples: list[dict[str, float]] = []

    def worker(self, n: int, deadline: float, questions: list[str], started: float) -> None:
        rng = random.Random(n)
        names = list(self.fronts)
        turn = 0
        thread_id = ""
        while time.monotonic() < deadline:
            if turn % TURNS_PER_CONVERSATION == 0:
                thread_id = f"soak-{n}-{uuid.uuid4().hex[:8]}"
            front = names[(n + turn) % len(names)]
            route = "deep" if turn % 4 == 3 else None
            t0 = time.monotonic()
            try:
                self.fronts[front](rng.choice(questions), f"{front}-{thread_id}", route)
            except Exception as exc:  # counted and reported: the soak must see zero
                with self.lock:
                    self.errors.append(f"{front}: {type(exc).__name__}: {exc}"[:300])
            else:
                with self.lock:
                    self.done[front] += 1
                    self.latency_ms.append((t0 - started, (time.monotonic() - t0) * 1000))
            turn += 1

    def sampler(self, deadline: float, every_s: float, started: float) -> None:
        while True:
            with self.lock:
                turns = sum(self.done.values())
                errors = len(self.errors)
            sample = {"t_s": round(time.monotonic() - started, 1), **process_sample()}
            self.samples.append({**sample, "turns": turns, "errors": errors})
            print(json.dumps(self.samples[-1]), flush=True)
            if time.monotonic() >= deadline:
                return
            time.sleep(min(every_s, max(0.0, deadline - time.monotonic())))

    def run(self, minutes: float, workers: int, every_s: float, questions: list[str]) -> None:
        started = time.monotonic()
        deadline = started + minutes * 60
        threads = [
            threading.Thread(target=self.worker, args=(i, deadline, questions, started))
            for i in range(workers)
        ]
        sampler = threading.Thread(target=self.sampler, args=(deadline, every_s, started))
        sampler.start()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sampler.join()


def verdict(soak: Soak, minutes: float, max_growth_mb: float) -> dict[str, Any]:
    warmup_s = max(30.0, minutes * 60 / 5)
    steady = [s for s in soak.samples if s["t_s"] >= warmup_s] or soak.samples
    head, tail = steady[:3], steady[-3:]

    def growth(key: str) -> float:
        return statistics.median(s[key] for s in tail) - statistics.median(s[key] for s in head)

    lat = soak.latency_ms
    quarter = max(1, len(lat) // 4)
    first, last = [ms for _, ms in lat[:quarter]], [ms for _, ms in lat[-quarter:]]
    report = {
        "turns": dict(soak.done),
        "turns_per_s": round(sum(soak.done.values()) / (minutes * 60), 2),
        "errors": len(soak.errors),
        "error_examples": soak.errors[:5],
        "rss_mb": {
            "start": round(soak.samples[0]["rss_mb"], 1),
            "after_warmup": round(statistics.median(s["rss_mb"] for s in head), 1),
            "end": round(statistics.median(s["rss_mb"] for s in tail), 1),
            "max": round(max(s["rss_mb"] for s in soak.samples), 1),
            "growth_after_warmup": round(growth("rss_mb"), 1),
        },
        "fds_growth": growth("fds"),
        "threads_growth": growth("threads"),
        "latency_ms": {
            "p50": round(statistics.median(ms for _, ms in lat), 1) if lat else None,
            "first_quarter_p50": round(statistics.median(first), 1) if first else None,
            "last_quarter_p50": round(statistics.median(last), 1) if last else None,
        },
        "warmup_s": warmup_s,
        "samples": soak.samples,
    }
    report["ok"] = (
        report["errors"] == 0
        and report["rss_mb"]["growth_after_warmup"] <= max_growth_mb
        and report["fds_growth"] <= 10
        and report["threads_growth"] <= 5
        and sum(soak.done.values()) > 0
    )
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--fronts", default="agent,web,slack")
    parser.add_argument("--sample-s", type=float, default=5.0)
    parser.add_argument("--max-growth-mb", type=float, default=40.0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/soak.json")
    args = parser.parse_args()
    from benchmarks.soak_fronts import open_fronts

    questions = [json.loads(line)["question"] for line in QUESTIONS.read_text().splitlines()]
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        agent, close = build_agent(Path(tmp))
        with open_fronts(args.fronts.split(","), agent, Path(tmp)) as (fronts, skipped, extra):
            soak = Soak(fronts)
            soak.run(args.minutes, args.workers, args.sample_s, questions)
            report = verdict(soak, args.minutes, args.max_growth_mb)
            report["fronts_skipped"] = skipped
            report.update(extra())
        close()
    report["settings"] = {k: str(v) for k, v in vars(args).items()}
    report["loadavg"] = os.getloadavg()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
