"""Benchmark the auto-think router on the routing dev sets (en and zh separately).

    .venv/bin/python benchmarks/router_bench.py [--data DIR] [--embedder NAME] [--out PATH]

Reports accuracy and DEEP precision/recall of the shipped router, the two trivial baselines
(always-direct, always-deep), and the per-question latency of `Router.decide` (p50/p95 in
ms, the real embedder on CPU without its query cache, measured after a warm-up; `--embedder`
picks it and the artefact trained on it), as a table and as JSON
(`--out`, default `benchmarks/results/router.json`). Latency depends on what else runs on
the machine: the JSON records the load average; measure on an idle box. On a busy 2-core
box `--threads 1` is much steadier (two threads fight the other jobs).

Caveat: the shipped artefact was trained on these same dev files, so its accuracy here is
optimistic (it has seen every question). The honest estimate is the cross-validated one the
training script stored in the artefact; it is printed beside the dev-set numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

from agent.router import Router, load_router_artefact  # noqa: E402
from ingest.embed import load_embedder  # noqa: E402
from oncall.core.settings import EmbeddingSettings, Settings  # noqa: E402

SETS = {"en": "routing_dev_en.jsonl", "zh": "routing_dev_zh.jsonl"}
WARMUP = 10


def scores(pred: list[bool], gold: list[bool]) -> dict[str, float]:
    tp = sum(p and g for p, g in zip(pred, gold, strict=True))
    return {
        "accuracy": round(sum(p == g for p, g in zip(pred, gold, strict=True)) / len(gold), 4),
        "deep_precision": round(tp / max(sum(pred), 1), 4),
        "deep_recall": round(tp / max(sum(gold), 1), 4),
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_set(router: Router, rows: list[dict[str, Any]]) -> dict[str, Any]:
    for row in rows[:WARMUP]:
        router.decide(row["question"])
    pred, latency_ms = [], []
    for row in rows:
        start = time.perf_counter()
        decision = router.decide(row["question"])
        latency_ms.append((time.perf_counter() - start) * 1000)
        pred.append(decision.route == "deep")
    gold = [bool(r["needs_deep_reasoning"]) for r in rows]
    return {
        "n": len(rows),
        "router": scores(pred, gold),
        "always_direct": scores([False] * len(gold), gold)["accuracy"],
        "always_deep": scores([True] * len(gold), gold)["accuracy"],
        "routed_deep_share": round(sum(pred) / len(pred), 4),
        "latency_ms": {
            "p50": round(statistics.median(latency_ms), 2),
            "p95": round(percentile(latency_ms, 0.95), 2),
            "mean": round(statistics.fmean(latency_ms), 2),
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "routing")
    ap.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "router.json")
    ap.add_argument("--embedder", default=Settings().embedding.model, help="embedding.model")
    ap.add_argument("--threads", type=int, help="embedder CPU threads (default: the library's)")
    args = ap.parse_args()

    settings = EmbeddingSettings(model=args.embedder, threads=args.threads, query_cache=0)
    embedder = load_embedder(settings)
    artefact = load_router_artefact(embedder=embedder.name)
    router = Router(embedder, artefact)
    print(f"embedder: {embedder.name}")
    cv = artefact.metadata.get("cv", {})
    results: dict[str, Any] = {"threshold": artefact.threshold, "sets": {}}
    header = f"{'set':4} {'n':>4} {'acc':>6} {'CV acc':>7} {'deepP':>6} {'deepR':>6} "
    header += f"{'all-dir':>8} {'all-deep':>8} {'p50 ms':>7} {'p95 ms':>7}"
    print(header)
    for name, filename in SETS.items():
        path = args.data / filename
        if not path.is_file():
            sys.exit(f"error: {path} not found (pass --data DIR)")
        with path.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        res = run_set(router, rows)
        res["cv"] = cv.get(name)
        results["sets"][name] = res
        r, lat = res["router"], res["latency_ms"]
        cv_acc = f"{res['cv']['accuracy']:.3f}" if res["cv"] else "-"
        print(
            f"{name:4} {res['n']:4d} {r['accuracy']:6.3f} {cv_acc:>7} {r['deep_precision']:6.3f} "
            f"{r['deep_recall']:6.3f} {res['always_direct']:8.3f} {res['always_deep']:8.3f} "
            f"{lat['p50']:7.1f} {lat['p95']:7.1f}"
        )
    print(
        "acc = dev-set accuracy of a router trained on these files (optimistic); "
        "CV acc = cross-validated estimate from the artefact"
    )
    results["cv_overall"] = cv.get("dev_overall")
    results["machine"] = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "embedder": embedder.name,
        "embedder_threads": args.threads or "default",
        # other jobs on a shared box inflate the latency; this says how busy it was
        "load_avg_1min_after": round(os.getloadavg()[0], 2),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
