"""Index speed: hybrid + ACL-filtered query latency at 10k and 100k chunks, and ingest rate.

    .venv/bin/python benchmarks/index_bench.py [--sizes 10000 100000] [--queries 200]
        [--backends edge qdrant] [--ingest]

Latency: synthetic chunks (384-d unit vectors like MiniLM's, BM25 sparse vectors over a
Zipf-distributed vocabulary, 1-3 ACL groups out of 20) are written through `DocStore`, then
`DocStore.search` runs hybrid queries as a user of 3 groups, with the live-version check,
exactly as the agent does. qdrant-client local mode is measured at the smallest size only
(it scans in Python and takes seconds at 100k). Medians and p95 of per-query wall time.

`--ingest`: the real pipeline's throughput on this machine: PDF pages/s (a generated
40-page PDF, partition + chunk + embed) and markdown files/s (the sample handbook's .md
files), embedding included.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent

from ingest.sparse import SparseVector  # noqa: E402
from ingest.store import ChunkRecord, DocStore, FileRecord  # noqa: E402
from oncall.core.settings import IngestSettings, Settings, StoreSettings  # noqa: E402

DIM = 384
VOCAB = 30_000
GROUPS = [f"team-{i}" for i in range(20)]
CHUNKS_PER_FILE = 20


def sparse(rng: np.random.Generator, n: int) -> SparseVector:
    terms = np.unique(rng.zipf(1.3, size=n) % VOCAB)
    return SparseVector(terms.tolist(), np.ones(len(terms)).tolist())


def fill(store: DocStore, size: int, seed: int = 0) -> float:
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    store.ensure_collection(DIM)
    started = time.perf_counter()
    for f in range(size // CHUNKS_PER_FILE):
        vecs = rng.normal(size=(CHUNKS_PER_FILE, DIM)).astype(np.float32)
        vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        acl = tuple(sorted(pick.sample(GROUPS, pick.randint(1, 3))))
        source = f"/bench/doc{f}.md"
        records = [
            ChunkRecord(i, f"chunk {i} of doc {f}", vecs[i].tolist(), sparse(rng, 60), {})
            for i in range(CHUNKS_PER_FILE)
        ]
        store.replace_file(
            FileRecord(source, "v1", "h", acl, f"doc{f}", "", CHUNKS_PER_FILE), records
        )
    store.finish_batch()
    return time.perf_counter() - started


def measure(store: DocStore, queries: int, seed: int = 1) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    pick = random.Random(seed)
    times, cpu = [], []
    for i in range(queries + 10):
        q = rng.normal(size=DIM)
        q /= np.linalg.norm(q)
        groups = [*pick.sample(GROUPS, 3), "public"]
        started, started_cpu = time.perf_counter(), time.process_time()
        store.search(q.tolist(), sparse(rng, 6), groups, 5, 30)
        if i >= 10:  # warm-up excluded
            times.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    times.sort()
    cpu.sort()
    # CPU time (all threads of this process) next to wall time: on a shared box the wall
    # time's tail is mostly waiting for a core, the CPU time is what a query costs.
    return {
        "p50_ms": round(times[len(times) // 2], 2),
        "p95_ms": round(times[int(len(times) * 0.95)], 2),
        "cpu_p50_ms": round(cpu[len(cpu) // 2], 2),
        "cpu_p95_ms": round(cpu[int(len(cpu) * 0.95)], 2),
    }


def latency(sizes: list[int], backends: list[str], queries: int) -> dict[str, dict[str, object]]:
    out: dict[str, dict[str, object]] = {}
    for backend in backends:
        for size in sizes:
            if backend == "qdrant" and size > min(sizes):
                continue  # local mode: seconds per query at 100k (see module docstring)
            tmp = Path(tempfile.mkdtemp(prefix=f"bench-{backend}-"))
            try:
                with DocStore(StoreSettings(backend=backend), tmp) as store:  # type: ignore[arg-type]
                    fill_s = fill(store, size)
                    stats = measure(store, queries if backend == "edge" else min(queries, 30))
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
            key = f"{backend}@{size}"
            out[key] = {**stats, "fill_s": round(fill_s, 1), "chunks": size}
            load = os.getloadavg()[0]
            print(f"{key:14} p50 {stats['p50_ms']:7.2f} ms  p95 {stats['p95_ms']:7.2f} ms  "
                  f"cpu p50 {stats['cpu_p50_ms']:6.2f} p95 {stats['cpu_p95_ms']:6.2f} ms  "
                  f"(write {size} chunks: {fill_s:.1f} s; load {load:.1f})")  # fmt: skip
    return out


def ingest_rate() -> dict[str, float]:
    """PDF pages/s and md files/s: partitioning alone, and the whole pipeline (partition +
    chunk + embed + index). unstructured and the embedder are warmed up first: their
    one-off start-up (spaCy, torch) is a per-process cost, not a per-page one."""
    from fpdf import FPDF

    from ingest.embed import load_embedder
    from ingest.partition import partition_file
    from ingest.pipeline import ingest_paths

    embedder = load_embedder(Settings().embedding)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    try:
        pdf = FPDF()
        pdf.set_font("Helvetica", size=11)
        text = "The payments service retries failed captures three times with backoff. " * 8
        for page in range(40):
            pdf.add_page()
            pdf.multi_cell(0, 6, f"Section {page + 1}\n\n" + text * 4)
        (tmp / "pdf").mkdir()
        pdf.output(str(tmp / "pdf" / "manual.pdf"))
        md_dir = tmp / "md"
        md_dir.mkdir()
        for md in sorted((REPO / "examples" / "handbook").rglob("*.md")):
            shutil.copy(md, md_dir / f"{md.parent.name}-{md.name}")
        (tmp / "warm.md").write_text("# Warm-up\n\nText.\n")
        partition_file(tmp / "warm.md")
        embedder.embed_documents(["warm-up"])
        rates: dict[str, float] = {}
        for label, folder, pages in (("pdf", tmp / "pdf", 40), ("md", md_dir, None)):
            files = sorted(folder.iterdir())
            started = time.perf_counter()
            for f in files:
                partition_file(f)
            parse_s = time.perf_counter() - started
            with DocStore(StoreSettings(), tmp / f"data-{label}") as store:
                started = time.perf_counter()
                ingest_paths([folder], store, embedder, IngestSettings())
                total_s = time.perf_counter() - started
            count = pages or len(files)
            unit = "pages" if pages else "files"
            rates[f"{label}_parse_per_s"] = round(count / parse_s, 1)
            rates[f"{label}_pipeline_per_s"] = round(count / total_s, 1)
            print(f"ingest {label}: {count} {unit}: partition {count / parse_s:.1f}/s, "
                  f"whole pipeline {count / total_s:.1f}/s ({total_s:.1f} s; "
                  f"load {os.getloadavg()[0]:.1f})")  # fmt: skip
        return rates
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--backends", nargs="+", default=["edge", "qdrant"])
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--ingest", action="store_true")
    args = ap.parse_args()
    out: dict[str, object] = {"latency": latency(args.sizes, args.backends, args.queries)}
    if args.ingest:
        out["ingest"] = ingest_rate()
    target = REPO / "benchmarks" / "results" / "index.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2))
    print(f"written {target.relative_to(REPO)}")


if __name__ == "__main__":
    main()
