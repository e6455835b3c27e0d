"""Auto-think vs always-deep vs always-direct on a mixed question set.

For every question the agent runs three times (router decides / forced DEEP / forced
DIRECT) against the same index and model; reported per mode: generated tokens, wall time
and accuracy. A question with `answer_keywords` is correct when every keyword occurs in the
answer (case-insensitive); one without gold docs is correct when the agent abstains.

    .venv/bin/python benchmarks/autothink_bench.py [--questions examples/handbook_questions.jsonl]
        [--limit N] [--out benchmarks/results/autothink.json]

Needs an index (`oncall ingest examples/handbook`) and uses the configured LLM (the embedded
llama.cpp server is started if no ONCALL_LLM__BASE_URL is set). Slow on CPU: each DEEP
answer costs several model calls.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import track
from rich.table import Table

from agent.service import Agent, Answer
from oncall.cli.compose import llm_endpoint, running_agent
from oncall.core.settings import Settings

MODES: dict[str, Any] = {"auto": None, "always-deep": "deep", "always-direct": "direct"}


def is_correct(item: dict[str, Any], answer: Answer) -> bool:
    if not item.get("gold_doc_ids"):
        return answer.abstained
    text = answer.text.lower()
    return not answer.abstained and all(k.lower() in text for k in item["answer_keywords"])


def run(agent: Agent, items: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    per_mode: dict[str, list[dict[str, Any]]] = {m: [] for m in MODES}
    for item in track(items, description="questions"):
        # Partial results survive an interrupted run (DEEP answers are slow on CPU).
        out.write_text(json.dumps({"partial": True, "items": per_mode}, indent=2))
        for mode, route in MODES.items():
            started = time.perf_counter()
            answer = agent.ask(item["question"], route=route)
            per_mode[mode].append(
                {
                    "id": item["id"],
                    "route": answer.route,
                    "expected_route": item.get("expected_route"),
                    "correct": is_correct(item, answer),
                    "generated_tokens": answer.usage.get("completion_tokens", 0),
                    "prompt_tokens": answer.usage.get("prompt_tokens", 0),
                    "seconds": time.perf_counter() - started,
                }
            )
    summary = {}
    for mode, rows in per_mode.items():
        summary[mode] = {
            "accuracy": sum(r["correct"] for r in rows) / len(rows),
            "generated_tokens": sum(r["generated_tokens"] for r in rows),
            "prompt_tokens": sum(r["prompt_tokens"] for r in rows),
            "wall_s": sum(r["seconds"] for r in rows),
            "median_s": statistics.median(r["seconds"] for r in rows),
            "deep_share": sum(r["route"] == "deep" for r in rows) / len(rows),
        }
    deep = summary["always-deep"]
    auto = summary["auto"]
    summary["auto_vs_deep"] = {
        "generated_tokens_saved": 1 - auto["generated_tokens"] / max(1, deep["generated_tokens"]),
        "wall_time_saved": 1 - auto["wall_s"] / max(1e-9, deep["wall_s"]),
        "accuracy_points_lost": 100 * (deep["accuracy"] - auto["accuracy"]),
    }
    return {"summary": summary, "items": per_mode}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--questions", type=Path, default=Path("examples/handbook_questions.jsonl"))
    parser.add_argument("--limit", type=int, default=None, help="first N questions only")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/autothink.json"))
    args = parser.parse_args()
    items = [json.loads(line) for line in args.questions.read_text().splitlines() if line.strip()]
    items = items[: args.limit] if args.limit else items
    settings = Settings()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with llm_endpoint(settings) as url, running_agent(settings, url) as agent:
        result = run(agent, items, args.out)
    args.out.write_text(json.dumps(result, indent=2))
    table = Table("mode", "accuracy", "generated tok", "prompt tok", "wall s", "median s", "deep %")
    for mode in MODES:
        s = result["summary"][mode]
        table.add_row(
            mode, f"{s['accuracy']:.2f}", str(s["generated_tokens"]), str(s["prompt_tokens"]),
            f"{s['wall_s']:.0f}", f"{s['median_s']:.1f}", f"{100 * s['deep_share']:.0f}",
        )  # fmt: skip
    console = Console()
    console.print(table)
    console.print(result["summary"]["auto_vs_deep"])
    console.print(f"written to {args.out}")


if __name__ == "__main__":
    main()
