"""LLM serving benchmark: time to first token and throughput for DIRECT and DEEP prompts at
several concurrency levels, against any OpenAI-compatible server (vLLM, llama-server).

    .venv/bin/python benchmarks/llm_serving.py --base-url http://127.0.0.1:8765/v1
        [--model local] [--concurrency 1,2,4] [--requests N] [--thinking]
        [--direct-chars 2000 --direct-max-tokens 64] [--deep-chars 4000 --deep-max-tokens 128]
        [--out benchmarks/results/llm_serving.json]

Prompts are built like the agent's (agent/prompts.py): the fixed system prompt first, then
handbook text, then the question. Each request takes its documents from a different offset
of the handbook, so only the system prompt is shared between requests, as in production
(a benchmark that repeats one prompt measures the prefix cache, not the server). DEEP
prompts carry the tool schemas and more text; with `--thinking` they ask a Qwen3-style
server to think (`chat_template_kwargs.enable_thinking`), which DIRECT never does.

Offsets start at `--start` (from the clock by default), so a rerun does not measure the
prompt cache left behind by the previous one; `cached_tokens` per sample shows what hit.

Every request streams with `stream_options.include_usage`; TTFT is the time to the first
content or reasoning token. Per mode and level: TTFT and latency median/p95, decode tok/s
per request, and aggregate generated tok/s over the level's wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from agent.prompts import DEEP_SYSTEM, DIRECT_SYSTEM
from agent.tooling import TOOLS

REPO = Path(__file__).resolve().parent.parent
HANDBOOK = REPO / "examples" / "handbook"
QUESTIONS = [
    "How do I roll back a bad deploy of payments-api?",
    "Who acknowledges a SEV2 page and how fast?",
    "When does the Kestrel PSP client certificate expire and how is it rotated?",
    "What should I check first when checkout latency alerts fire?",
]


@dataclass
class Sample:
    mode: str
    concurrency: int
    ttft_s: float
    latency_s: float
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int | None


def handbook_text() -> str:
    files = sorted(p for p in HANDBOOK.rglob("*") if p.suffix in {".md", ".txt"})
    return "\n\n".join(p.read_text(encoding="utf-8", errors="replace") for p in files)


def build_request(mode: str, i: int, corpus: str, args: argparse.Namespace) -> dict[str, Any]:
    """The i-th request body of `mode`: unique documents, shared system prompt."""
    chars = args.direct_chars if mode == "direct" else args.deep_chars
    start = ((args.start + i) * 7919) % max(1, len(corpus) - chars)
    docs = corpus[start : start + chars]
    question = QUESTIONS[i % len(QUESTIONS)]
    body: dict[str, Any] = {
        "model": args.model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.1,
        "seed": i,
        "max_tokens": args.direct_max_tokens if mode == "direct" else args.deep_max_tokens,
    }
    if mode == "direct":
        system = DIRECT_SYSTEM
    else:
        system = DEEP_SYSTEM
        body["tools"] = [t.schema for t in TOOLS]
    body["messages"] = [
        {"role": "system", "content": system},
        {"role": "user", "content": f"Document 1:\n{docs}\n\nQuestion: {question}"},
    ]
    if args.thinking:
        body["chat_template_kwargs"] = {"enable_thinking": mode == "deep"}
    return body


async def one_request(
    client: httpx.AsyncClient, body: dict[str, Any], mode: str, level: int
) -> Sample:
    started = time.perf_counter()
    first: float | None = None
    usage: dict[str, Any] = {}
    async with client.stream("POST", "/chat/completions", json=body) as response:
        if response.status_code != 200:
            await response.aread()
            raise SystemExit(f"HTTP {response.status_code}: {response.text[:300]}")
        async for line in response.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices", []):
                delta = choice.get("delta", {})
                produced = any(
                    delta.get(k) for k in ("content", "reasoning_content", "reasoning")
                ) or delta.get("tool_calls")
                if produced and first is None:
                    first = time.perf_counter()
    done = time.perf_counter()
    details = usage.get("prompt_tokens_details") or {}
    return Sample(
        mode=mode,
        concurrency=level,
        ttft_s=(first or done) - started,
        latency_s=done - started,
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        cached_tokens=details.get("cached_tokens"),
    )


async def run_level(
    client: httpx.AsyncClient,
    mode: str,
    level: int,
    n: int,
    offset: int,
    corpus: str,
    args: argparse.Namespace,
) -> tuple[list[Sample], float]:
    """`n` requests, at most `level` in flight; returns the samples and the wall time."""
    gate = asyncio.Semaphore(level)

    async def gated(i: int) -> Sample:
        async with gate:
            return await one_request(client, build_request(mode, i, corpus, args), mode, level)

    started = time.perf_counter()
    samples = await asyncio.gather(*(gated(offset + i) for i in range(n)))
    return list(samples), time.perf_counter() - started


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def summarise(samples: list[Sample], wall_s: float) -> dict[str, Any]:
    ttft = [s.ttft_s for s in samples]
    latency = [s.latency_s for s in samples]
    decode = [
        (s.completion_tokens - 1) / (s.latency_s - s.ttft_s)
        for s in samples
        if s.completion_tokens > 1 and s.latency_s > s.ttft_s
    ]
    generated = sum(s.completion_tokens for s in samples)
    return {
        "requests": len(samples),
        "ttft_median_s": statistics.median(ttft),
        "ttft_p95_s": p95(ttft),
        "latency_median_s": statistics.median(latency),
        "latency_p95_s": p95(latency),
        "decode_tok_s_per_request_median": statistics.median(decode) if decode else None,
        "generated_tok_s_aggregate": generated / wall_s,
        "requests_per_s": len(samples) / wall_s,
        "prompt_tokens_median": statistics.median(s.prompt_tokens for s in samples),
        "completion_tokens_total": generated,
        "wall_s": wall_s,
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    corpus = handbook_text()
    levels = [int(x) for x in args.concurrency.split(",")]
    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else {}
    results: dict[str, Any] = {
        "config": {k: v for k, v in vars(args).items() if k != "api_key"},
        "levels": [],
        "samples": [],
    }
    timeout = httpx.Timeout(args.timeout_s)
    # A fresh connection per request: llama-server closes idle keep-alive connections after
    # a few seconds, and a pooled one it just closed fails with "Server disconnected".
    limits = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(
        base_url=args.base_url, headers=headers, timeout=timeout, limits=limits
    ) as c:
        offset = 0
        for mode in ("direct", "deep"):
            for level in levels:
                n = args.requests or 2 * level
                samples, wall = await run_level(c, mode, level, n, offset, corpus, args)
                offset += n
                results["levels"].append(
                    {"mode": mode, "concurrency": level, **summarise(samples, wall)}
                )
                results["samples"] += [asdict(s) for s in samples]
                Path(args.out).write_text(json.dumps(results, indent=2))
    return results


def render(results: dict[str, Any]) -> None:
    table = Table(title=f"LLM serving: {results['config']['base_url']}")
    for col in (
        "mode",
        "conc",
        "n",
        "prompt tok",
        "TTFT p50",
        "TTFT p95",
        "lat p50",
        "lat p95",
        "decode tok/s",
        "agg tok/s",
        "req/s",
    ):
        table.add_column(col, justify="right")
    for r in results["levels"]:
        decode = r["decode_tok_s_per_request_median"]
        table.add_row(
            r["mode"],
            str(r["concurrency"]),
            str(r["requests"]),
            f"{r['prompt_tokens_median']:.0f}",
            f"{r['ttft_median_s']:.2f}s",
            f"{r['ttft_p95_s']:.2f}s",
            f"{r['latency_median_s']:.2f}s",
            f"{r['latency_p95_s']:.2f}s",
            f"{decode:.1f}" if decode else "-",
            f"{r['generated_tok_s_aggregate']:.1f}",
            f"{r['requests_per_s']:.2f}",
        )
    Console().print(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--base-url", default="http://127.0.0.1:8765/v1")
    p.add_argument("--model", default="local", help="served model name")
    p.add_argument("--api-key", default=None)
    p.add_argument("--concurrency", default="1,2,4", help="comma-separated levels")
    p.add_argument("--requests", type=int, default=0, help="per level (default 2 x level)")
    p.add_argument("--thinking", action="store_true", help="send enable_thinking (Qwen3)")
    p.add_argument("--direct-chars", type=int, default=2000)
    p.add_argument("--deep-chars", type=int, default=4000)
    p.add_argument("--direct-max-tokens", type=int, default=64)
    p.add_argument("--deep-max-tokens", type=int, default=128)
    p.add_argument("--timeout-s", type=float, default=600.0)
    p.add_argument(
        "--start",
        type=int,
        default=int(time.time()) % 100_000,
        help="first document offset index (default: from the clock, so a rerun does not "
        "hit the server's prompt cache left by the previous run)",
    )
    p.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "llm_serving.json"))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    render(asyncio.run(main_async(args)))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
