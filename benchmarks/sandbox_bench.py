"""Benchmark run_python's sandbox: cold start, warm latency, concurrent executions.

    .venv/bin/python benchmarks/sandbox_bench.py [--rounds 3] [--warm 200] [--out PATH]

Measured on real bubblewrap-isolated Jupyter kernels (needs root and bubblewrap, like the
agent itself), each phase repeated `--rounds` times; the report gives the median over rounds:

- cold: a new conversation with no spare kernel (sandbox + kernel start + first
  `print(1+1)`), and with a warm spare (what the pool normally hands out);
- warm: `print(1+1)` in a live kernel, p50/p95 over `--warm` runs (target <= 100 ms);
- concurrent: 20 conversations each running `sum(range(10**6))` at once, from warm
  spares disabled (so kernel starts are included) and wall time until all finished.

JSON goes to `--out` (default benchmarks/results/sandbox.json) with the load average:
other jobs on a shared 2-core box move these numbers; measure on an idle one.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent

from oncall.core.settings import SandboxSettings  # noqa: E402
from tools.sandbox import KernelPool, build_executor  # noqa: E402


def _pool(data: Path, warm: int, uid_base: int) -> KernelPool:
    settings = SandboxSettings(warm_kernels=warm, max_kernels=24, uid_base=uid_base)
    pool = build_executor(settings, data)
    assert pool is not None
    return pool


def _timed(pool: KernelPool, conversation: str, code: str) -> float:
    started = time.perf_counter()
    result = pool.run(conversation, code)
    if not result.ok:
        raise RuntimeError(f"benchmark code failed: {result.for_model()}")
    return (time.perf_counter() - started) * 1000


def cold_start(data: Path) -> dict[str, float]:
    with _pool(data, warm=0, uid_base=250_000) as pool:
        no_spare = _timed(pool, "cold", "print(1+1)")
    with _pool(data, warm=1, uid_base=250_100) as pool:
        pool.prewarm()
        while pool.stats()["spares"] < 1:
            time.sleep(0.05)
        with_spare = _timed(pool, "spare", "print(1+1)")
    return {"cold_no_spare_ms": no_spare, "cold_with_spare_ms": with_spare}


def warm_latency(data: Path, runs: int) -> dict[str, float]:
    with _pool(data, warm=0, uid_base=250_200) as pool:
        pool.run("warm", "print(1+1)")
        samples = sorted(_timed(pool, "warm", "print(1+1)") for _ in range(runs))
    return {
        "warm_p50_ms": statistics.median(samples),
        "warm_p95_ms": samples[int(0.95 * (len(samples) - 1))],
    }


def concurrent(data: Path, n: int = 20) -> dict[str, float]:
    with _pool(data, warm=0, uid_base=250_300) as pool:
        started = time.perf_counter()
        with ThreadPoolExecutor(n) as threads:
            per_call = list(
                threads.map(lambda i: _timed(pool, f"c{i}", "sum(range(10**6))"), range(n))
            )
        wall = (time.perf_counter() - started) * 1000
        again = time.perf_counter()
        with ThreadPoolExecutor(n) as threads:
            warm_calls = list(
                threads.map(lambda i: _timed(pool, f"c{i}", "sum(range(10**6))"), range(n))
            )
        warm_wall = (time.perf_counter() - again) * 1000
    return {
        "concurrent20_cold_wall_ms": wall,
        "concurrent20_cold_p50_call_ms": statistics.median(per_call),
        "concurrent20_warm_wall_ms": warm_wall,
        "concurrent20_warm_p50_call_ms": statistics.median(warm_calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warm", type=int, default=200, help="print(1+1) runs per round")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/sandbox.json")
    args = parser.parse_args()
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        for i in range(args.rounds):
            data = Path(tmp) / f"round{i}"
            row = {**cold_start(data), **warm_latency(data, args.warm), **concurrent(data)}
            rounds.append(row)
            print(f"round {i + 1}: " + ", ".join(f"{k}={v:.1f}" for k, v in row.items()))
    medians = {k: statistics.median(r[k] for r in rounds) for k in rounds[0]}
    report: dict[str, Any] = {
        "medians": medians,
        "rounds": rounds,
        "loadavg_before_after": os.getloadavg(),
        "cpus": os.cpu_count(),
        "target_warm_p50_ms": 100,
    }
    print("\nmedian over rounds:")
    for key, value in medians.items():
        print(f"  {key:32s} {value:9.1f}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"written to {args.out}")


if __name__ == "__main__":
    main()
