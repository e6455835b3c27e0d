"""Tool-call suite: the DEEP planner's single decision "which internal tools, with which
arguments", over the demo platform's OpenAPI and MCP tools (examples/evals/toolcalls.jsonl).

For each case the asker's permitted tools (catalogue groups) are offered to the planner
(agent/tool_planning.py: one schema-constrained reply from the question alone) and the
planned calls are compared with the expected ones:

- schema-valid: the reply parses and every call it names validates against its tool's
  argument schema (the server's grammar should make this 100%);
- exact: the set of (tool, arguments) equals the expected set, `optional_args` ignored;
- forbidden: no tool of `forbidden_tools` was called.

    .venv/bin/python benchmarks/toolcall_bench.py --base-url http://127.0.0.1:8765/v1
    .venv/bin/python benchmarks/toolcall_bench.py --model qwen2.5-coder-1.5b --split holdout

Without --base-url the embedded model (--model) is started for the run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from agent.actions import valid_calls
from agent.deep import planner_tools
from agent.state import Deps
from agent.tool_planning import plan_tool_calls
from evals.answer_checks import calls_match
from oncall.cli.demo import DEMO_CATALOGUE
from oncall.core.identity import Principal
from oncall.core.settings import RetrievalSettings, Settings
from oncall.llm.client import build_chat_model
from oncall.llm.embedded import embedded_server
from oncall.testing.fakes import FakeStore, HashEmbedder
from tools.internal import load_catalogue

REPO = Path(__file__).resolve().parent.parent
CASES = REPO / "examples" / "evals" / "toolcalls.jsonl"


def schema_valid(reply: str, tools: list[Any]) -> bool:
    """The reply parses and every call in it is to an offered tool with valid arguments."""
    try:
        raw = json.loads(reply).get("calls", [])
    except (ValueError, AttributeError):
        return False
    return isinstance(raw, list) and all(len(valid_calls([item], tools)) == 1 for item in raw)


def run(base_url: str, settings: Settings, cases: list[dict[str, Any]]) -> dict[str, Any]:
    data = Path(tempfile.mkdtemp(prefix="toolcall-bench-"))
    # Planning never calls a tool: the platform need not run, its key need not be real.
    env = {
        **os.environ,
        "DEMO_PLATFORM_URL": "http://127.0.0.1:9",
        "DEMO_PLATFORM_API_KEY": "unused",
        "PYTHON": sys.executable,
    }
    catalogue = load_catalogue(DEMO_CATALOGUE, env, data)
    model = build_chat_model(settings.llm, base_url, thinking=False)
    embedder = HashEmbedder()
    rows = []
    try:
        for case in cases:
            who = Principal("bench", frozenset(case.get("user_groups") or ["public"]))
            deps = Deps(
                store=FakeStore([], embedder),  # type: ignore[arg-type]
                embedder=embedder,
                chat_model=model,
                retrieval=RetrievalSettings(),
                catalogue=catalogue,
                principal=who,
            )
            tools = planner_tools(deps)
            started = time.perf_counter()
            calls, reply = plan_tool_calls(model, case["question"], tools)
            ms = (time.perf_counter() - started) * 1000
            text = str(reply.content) if reply is not None else ""
            made = [(c["name"], c["args"]) for c in calls]
            forbidden = set(case.get("forbidden_tools") or [])
            rows.append(
                {
                    "id": case["id"],
                    "category": case.get("category", ""),
                    "split": case.get("split", "dev"),
                    "valid": schema_valid(text, tools),
                    "exact": calls_match(
                        made, case["expected_calls"], case.get("optional_args", [])
                    ),
                    "forbidden_ok": not any(name in forbidden for name, _ in made),
                    "made": made,
                    "expected": case["expected_calls"],
                    "ms": round(ms, 1),
                }
            )
            print(f"{case['id']} {'ok ' if rows[-1]['exact'] else 'MISS'} {made}", flush=True)
    finally:
        catalogue.close()
    return summarise(rows)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def rate(key: str, subset: list[dict[str, Any]]) -> float:
        return round(sum(r[key] for r in subset) / len(subset), 3) if subset else 0.0

    by_category = {}
    for category in sorted(Counter(r["category"] for r in rows)):
        subset = [r for r in rows if r["category"] == category]
        by_category[category] = {"n": len(subset), "exact": rate("exact", subset)}
    return {
        "n": len(rows),
        "schema_valid": rate("valid", rows),
        "exact": rate("exact", rows),
        "forbidden_avoided": rate("forbidden_ok", rows),
        "p50_ms": round(statistics.median(r["ms"] for r in rows), 1) if rows else None,
        "by_category": by_category,
        "rows": rows,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", help="An OpenAI-compatible server (default: start one).")
    ap.add_argument("--model", default=None, help="Embedded model to start (no --base-url).")
    ap.add_argument("--split", choices=["dev", "holdout"], default=None)
    ap.add_argument("--cases", type=Path, default=CASES)
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks/results/toolcalls.json")
    args = ap.parse_args()
    cases = [json.loads(line) for line in args.cases.read_text().splitlines() if line.strip()]
    if args.split:
        cases = [c for c in cases if c.get("split", "dev") == args.split]
    settings = Settings()
    if args.model:
        settings.llm.embedded.model = args.model
    with contextlib.ExitStack() as stack:
        url = (
            args.base_url
            or stack.enter_context(
                embedded_server(settings.llm.embedded, settings.data_dir)
            ).base_url
        )
        result = run(url, settings, cases)
    result["model"] = args.base_url or settings.llm.embedded.model
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    summary = {k: v for k, v in result.items() if k != "rows"}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
