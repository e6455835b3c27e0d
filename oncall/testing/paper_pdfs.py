"""Research-paper PDFs generated with fpdf2, for the paper tests and benchmarks/paper_bench.py.

`write_paper` lays a paper out the way conference papers look: a large bold title, author
and affiliation lines, an "Abstract" heading, numbered bold section headings (with
sub-sections), body text with numbers, a captioned table, and a numbered bibliography.
`pages=N` pads the experiments with generated ablation sub-sections until the PDF has N
pages, with deterministic text (seeded), so timings compare across runs.
"""

from __future__ import annotations

import random
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import EncryptionMethod

TITLE = "Sparse Routing for Faster Retrieval Models"
AUTHORS = ["Ada Lovelace", "Alan Turing", "Grace Hopper"]
ABSTRACT = (
    "We present SparseRoute, a learned router that sends each query to a few index shards. "
    "It cuts retrieval latency by 41.5% while keeping recall at 0.93. On a corpus of "
    "1,200,000 documents it serves 3,400 queries per second on one machine."
)
SECTIONS: list[tuple[str, str]] = [
    ("1 Introduction", "Dense retrieval over large corpora is slow because every query "
     "visits every shard. Production systems answer 50 to 200 queries per second per node. "
     "We ask whether a small model can predict which shards hold the answer."),
    ("2 Method", "SparseRoute is a classifier over the query embedding."),
    ("2.1 Router", "The router has 12 layers and 8 attention heads and picks 3 of 64 shards "
     "for each query. It adds 0.4 ms of latency per query."),
    ("2.2 Training", "We train with a learning rate of 0.0003 for 20,000 steps on 2 GPUs, "
     "using shard labels mined from 5,000,000 past queries."),
    ("3 Experiments", "We compare SparseRoute with BM25 and exhaustive dense search on the "
     "MS MARCO passage benchmark. Table 1 shows recall at 10 and median latency."),
    ("4 Limitations", "SparseRoute was only evaluated on English text. Its recall drops to "
     "0.71 when the corpus changes by more than 30% without retraining the router."),
    ("5 Conclusion", "Routing queries to a few shards makes dense retrieval 41.5% faster "
     "at a small recall cost. Future work will study multilingual corpora."),
]  # fmt: skip
TABLE = [
    ("System", "Recall@10", "Latency (ms)"),
    ("BM25", "0.81", "31"),
    ("Dense (all shards)", "0.95", "42"),
    ("SparseRoute", "0.93", "18"),
]
REFERENCES = [
    "[1] S. Robertson and H. Zaragoza. The probabilistic relevance framework: BM25 and "
    "beyond. Foundations and Trends in IR, 2009.",
    "[2] V. Karpukhin et al. Dense passage retrieval for open-domain question answering. "
    "In Proc. EMNLP, 2020.",
    "[3] W. Fedus, B. Zoph and N. Shazeer. Switch transformers. JMLR, 2022.",
]
NUMBERS_IN_PAPER = ["41.5%", "0.93", "1,200,000", "3,400", "12", "0.0003", "0.71", "18"]

_WORDS = ["shard", "router", "query", "index", "recall", "latency", "corpus", "embedding",
          "batch", "cache", "replica", "throughput", "budget", "partition", "cluster"]  # fmt: skip


def write_paper(
    path: Path,
    pages: int | None = None,
    user_password: str | None = None,
    seed: int = 7,
) -> Path:
    """The sample paper (2 pages), or padded to `pages` pages; see the module docstring."""
    pdf = FPDF()
    pdf.set_auto_page_break(True, margin=20)
    pdf.add_page()
    _front(pdf)
    for heading, body in SECTIONS[:5]:
        _section(pdf, heading, body)
    _table(pdf)
    if pages:
        rng = random.Random(seed)
        n = 1
        while pdf.page_no() < pages:
            _section(pdf, f"3.{n} Ablation {n}", _filler(rng, 6))
            n += 1
    for heading, body in SECTIONS[5:]:
        _section(pdf, heading, body)
    _heading(pdf, "References")
    for ref in REFERENCES:
        pdf.multi_cell(0, 5, ref, new_x="LMARGIN", new_y="NEXT")
    if user_password is not None:
        pdf.set_encryption(
            owner_password="owner-secret",
            user_password=user_password,
            encryption_method=EncryptionMethod.RC4,
        )
    pdf.output(str(path))
    return path


def _front(pdf: FPDF) -> None:
    pdf.set_font("Helvetica", "B", 18)
    pdf.multi_cell(0, 9, TITLE, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 11)
    pdf.multi_cell(0, 6, ", ".join(AUTHORS), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(0, 6, "Example Research Lab", align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    _section(pdf, "Abstract", ABSTRACT)


def _heading(pdf: FPDF, text: str) -> None:
    pdf.set_font("Helvetica", "B", 12)
    pdf.ln(2)
    pdf.cell(0, 8, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)


def _section(pdf: FPDF, heading: str, body: str) -> None:
    _heading(pdf, heading)
    for paragraph in body.split("\n\n"):
        pdf.multi_cell(0, 5, paragraph, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)


def _table(pdf: FPDF) -> None:
    pdf.multi_cell(0, 6, "Table 1: Recall and median latency on MS MARCO.",
                   new_x="LMARGIN", new_y="NEXT")  # fmt: skip
    with pdf.table() as table:
        for values in TABLE:
            row = table.row()
            for value in values:
                row.cell(value)
    pdf.ln(3)


def _filler(rng: random.Random, paragraphs: int) -> str:
    """Paragraphs of plausible experiment prose, each sentence with its own numbers."""
    out = []
    for _ in range(paragraphs):
        sentences = []
        for _ in range(5):
            a, b = rng.sample(_WORDS, 2)
            sentences.append(
                f"With {rng.randint(2, 64)} {a} groups the {b} recall is "
                f"{rng.uniform(0.6, 0.99):.2f} at {rng.randint(5, 90)} ms per query, "
                f"and throughput reaches {rng.randint(1, 9)},{rng.randint(100, 999)} queries "
                "per second."
            )
        out.append(" ".join(sentences))
    return "\n\n".join(out)
