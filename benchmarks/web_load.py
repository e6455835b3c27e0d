"""Load test of the web chat: N concurrent streamed chats against the real server.

    .venv/bin/python benchmarks/web_load.py [--chats 50] [--rounds 3] [--tokens 20]
        [--token-ms 10] [--out PATH]

A real uvicorn on loopback serves the real app and `Agent` (graph, SQLite checkpointer as
`oncall serve` has it, turn recorder, ownership store) over a scripted streaming model: each
answer is `--tokens` words, `--token-ms` apart, standing in for LLM generation. Every chat
signs in as its own session, starts a new conversation and reads the SSE stream to the
final `answer` event. Per round it reports:

- errors (HTTP status != 200, `error` events, streams without an `answer`): must be 0;
- client latency (request to final event) and time to first token, p50/p95;
- server overhead: the server's wall time for the turn minus the time spent inside the
  model (the scripted generation), p50/p95: what the web layer, graph, retrieval, records
  and thread hand-offs cost under this concurrency.

JSON goes to `--out` (default benchmarks/results/web_load.json) with the load average:
the box is shared, so compare runs taken at similar load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent

from oncall.testing.web_support import PASSWORDS, running_web  # noqa: E402

QUESTION = "How fast must SEV2 pages be acknowledged?"


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p * len(ordered)) - 1))] if ordered else 0.0


async def one_chat(client: httpx.AsyncClient, i: int) -> dict[str, Any]:
    started = time.perf_counter()
    first_token = None
    kind, answer, error = "", None, None
    async with client.stream("POST", "/api/ask/stream", json={"question": f"{QUESTION} #{i}"}) as r:
        if r.status_code != 200:
            return {"error": f"HTTP {r.status_code}: {(await r.aread())[:200]!r}"}
        async for line in r.aiter_lines():
            if line.startswith("event: "):
                kind = line[7:]
                if kind == "token" and first_token is None:
                    first_token = time.perf_counter() - started
            elif line.startswith("data: ") and kind == "answer":
                answer = json.loads(line[6:])["answer"]
            elif line.startswith("data: ") and kind == "error":
                error = line[6:]
    if error or answer is None:
        return {"error": error or "stream ended without an answer"}
    t = answer["timings_ms"]
    return {
        "latency_s": time.perf_counter() - started,
        "first_token_s": first_token or 0.0,
        "overhead_ms": t["server"] - t.get("llm", 0.0),
        "llm_ms": t.get("llm", 0.0),
    }


async def one_round(url: str, chats: int) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=chats + 10, max_keepalive_connections=chats + 10)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as login:
        r = await login.post(
            "/api/login", json={"username": "alice", "password": PASSWORDS["alice"]}
        )
        r.raise_for_status()
        cookies = dict(login.cookies)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits, cookies=cookies) as c:
        started = time.perf_counter()
        results = await asyncio.gather(
            *(one_chat(c, i) for i in range(chats)), return_exceptions=True
        )
        wall = time.perf_counter() - started
    ok = [r for r in results if isinstance(r, dict) and "error" not in r]
    errors = [
        str(r.get("error") if isinstance(r, dict) else repr(r)) for r in results if r not in ok
    ]
    return {
        "chats": chats,
        "errors": len(errors),
        "error_samples": errors[:3],
        "wall_s": round(wall, 3),
        "latency_s": p50_p95([r["latency_s"] for r in ok], 3),
        "first_token_s": p50_p95([r["first_token_s"] for r in ok], 3),
        "server_overhead_ms": p50_p95([r["overhead_ms"] for r in ok], 1),
        "llm_ms_p50": round(statistics.median(r["llm_ms"] for r in ok), 1) if ok else 0.0,
    }


def p50_p95(values: list[float], digits: int) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0}
    return {
        "p50": round(statistics.median(values), digits),
        "p95": round(percentile(values, 0.95), digits),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tokens", type=int, default=20, help="words per scripted answer")
    parser.add_argument("--token-ms", type=float, default=10.0, help="ms between words")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/web_load.json")
    args = parser.parse_args()
    reply = " ".join((["SEV2", "pages", "are", "acknowledged", "within", "15", "minutes"] * 10)[
        : args.tokens - 1]) + " [1]."  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, running_web(
        Path(tmp), default_reply=reply, token_delay_s=args.token_ms / 1000,
        max_concurrent_chats=max(64, args.chats), sqlite_memory=True,
    ) as rig:  # fmt: skip
        rounds = []
        for n in range(args.rounds):
            result = asyncio.run(one_round(rig.url, args.chats))
            rounds.append(result)
            print(f"round {n + 1}: {json.dumps(result)}", flush=True)
    report = {
        "chats": args.chats, "tokens": args.tokens, "token_ms": args.token_ms,
        "load_avg_1m": round(os.getloadavg()[0], 2), "cpus": os.cpu_count(), "rounds": rounds,
        "errors_total": sum(r["errors"] for r in rounds),
        "server_overhead_p95_ms_median": statistics.median(
            r["server_overhead_ms"]["p95"] for r in rounds),
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps({k: v for k, v in report.items() if k != "rounds"}))
    if report["errors_total"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
