"""Answers an engineer can act on: the embedded models side by side on the dev sets.

For each model (started in turn on this machine), with the demo platform running and the
sample handbook indexed, every item goes through `Agent.ask` and is scored by the eval
suite's rubric (evals/answer_checks.py): correct, false answer, false abstention, and wall
time per route. Sets (examples/): the handbook questions, table facts, traps, DEEP tool
questions and computation questions.

    .venv/bin/python benchmarks/answers_bench.py                       # both models, dev
    .venv/bin/python benchmarks/answers_bench.py --models qwen2.5-coder-1.5b --split holdout
    .venv/bin/python benchmarks/answers_bench.py --route direct --route deep --route auto

`--route` forces the route (auto: the router decides) to compare auto-think with
always-direct and always-deep on the same items. Results: benchmarks/results/answers-*.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.service import Agent
from evals.dataset import load_dataset, select
from evals.evaluators import FullEvaluator
from ingest.embed import load_embedder
from oncall.cli.compose import running_agent
from oncall.cli.demo import DEMO_CATALOGUE, demo_platform
from oncall.core.settings import Settings
from oncall.llm.embedded import embedded_server

REPO = Path(__file__).resolve().parent.parent
SETS = {
    "handbook": REPO / "examples/handbook_questions.jsonl",
    "tables": REPO / "examples/evals/handbook_tables.jsonl",
    "traps": REPO / "examples/evals/handbook_traps.jsonl",
    "deep": REPO / "examples/evals/handbook_deep.jsonl",
    "compute": REPO / "examples/evals/compute.jsonl",
}


@contextlib.contextmanager
def model_agent(settings: Settings, model: str) -> Iterator[Agent]:
    """The real agent over the embedded `model`, the demo platform and the handbook."""
    settings.llm.embedded.model = model  # type: ignore[assignment]
    settings.tools.catalogue_path = DEMO_CATALOGUE
    with (
        demo_platform(settings.tools.demo_port, settings.data_dir / "logs") as platform,
        embedded_server(settings.llm.embedded, settings.data_dir) as server,
    ):
        os.environ.update(platform.env())
        with running_agent(settings, server.base_url) as agent:
            yield agent


def score(rows: list[dict[str, Any]]) -> dict[str, Any]:
    def rate(key: str) -> float | None:
        values = [r["scores"][key] for r in rows if key in r.get("scores", {})]
        return round(sum(values) / len(values), 3) if values else None

    walls: dict[str, list[float]] = defaultdict(list)
    for r in rows:
        walls[f"{r.get('mode_path', 'docs')}:{r['route']}"].append(r["latency_ms"]["wall"] / 1000)
    return {
        "n": len(rows),
        "correct": rate("correct"),
        "false_answer": rate("false_answer"),
        "false_abstention": rate("false_abstention"),
        "calls_made": rate("calls_made"),
        "completion_tokens": sum(r["tokens"]["completion"] for r in rows),
        "wall_s": {
            path: {
                "n": len(v),
                "p50": round(statistics.median(v), 1),
                "p95": round(sorted(v)[max(0, int(0.95 * len(v)) - 1)], 1),
            }
            for path, v in sorted(walls.items())
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", default=["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"])
    ap.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    ap.add_argument("--split", choices=["dev", "holdout"], default="dev")
    ap.add_argument("--limit", type=int, default=None, help="First N items of each set.")
    ap.add_argument("--route", action="append", choices=["auto", "direct", "deep"])
    ap.add_argument("--data-dir", type=Path, default=REPO / "benchmarks/results/answers-data")
    args = ap.parse_args()
    routes = args.route or ["auto"]
    settings = Settings(data_dir=args.data_dir)
    embedder = load_embedder(settings.embedding)
    _ensure_index(settings)
    report: dict[str, Any] = {"split": args.split, "machine": os.uname().nodename}
    for model in args.models:
        with model_agent(settings.model_copy(deep=True), model) as agent:
            for route in routes:
                for name in args.sets:
                    items = select(load_dataset(SETS[name]), args.limit, None, 0, args.split)
                    forced = None if route == "auto" else route
                    evaluate = FullEvaluator(agent, embedder, route=forced)
                    rows = []
                    for item in items:
                        started = time.perf_counter()
                        row = {"id": item.id, **evaluate(item)}
                        rows.append(row)
                        ok = row["scores"].get("correct")
                        print(
                            f"{model} {route} {name} {item.id} correct={ok} "
                            f"{time.perf_counter() - started:.1f}s :: {row['answer'][:100]!r}",
                            flush=True,
                        )
                    key = f"{model}|{route}|{name}"
                    report[key] = {**score(rows), "rows": rows}
                    out = REPO / "benchmarks/results/answers.json"
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_text(json.dumps(report, indent=2, default=str))
    table = {k: {kk: vv for kk, vv in v.items() if kk != "rows"} for k, v in report.items()
             if isinstance(v, dict)}  # fmt: skip
    print(json.dumps(table, indent=2))


def _ensure_index(settings: Settings) -> None:
    from ingest.pipeline import ingest_paths
    from ingest.store import DocStore

    embedder = load_embedder(settings.embedding)
    with DocStore(settings.store, settings.data_dir) as store:
        ingest_paths([REPO / "examples/handbook"], store, embedder, settings.ingest)


if __name__ == "__main__":
    main()
