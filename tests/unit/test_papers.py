"""Paper notes with fakes only: papers built in code, a scripted model, httpx MockTransport
instead of sockets. PDFs, the loopback arXiv server and the CLI are in
tests/integration/test_papers.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.state import Deps
from agent.tooling import execute_tool_call, tools_for
from oncall.core.errors import ToolError
from oncall.core.settings import PapersSettings, RetrievalSettings
from oncall.testing.fakes import HashEmbedder, ScriptedChatModel
from tools.papers import PaperError, PaperReader, check_numbers
from tools.papers.fetch import Fetcher, arxiv_id, parse_atom_entry, require_pdf
from tools.papers.model import Paper, Paragraph, Section, Table
from tools.papers.notes import ContextBudget, make_notes
from tools.papers.passages import paper_passages, resolve_cites

REPLY = """**PROBLEM:**
- Every query visits every shard, so retrieval is slow [§1 Introduction, p. 1]
METHOD:
1. A 12-layer router picks 3 of 64 shards [§2 Method, p. 2]
KEY RESULTS:
- Latency drops 41.5% at 0.93 recall [§9 Nowhere, p. 1]
- Throughput is 4,000 queries per second [§3 Results, p. 3]
LIMITATIONS:
- None.
"""


def sec(title: str, number: str, page: int, text: str, *more: Paragraph) -> Section:
    paragraphs = [Paragraph(page=page, text=text), *more]
    return Section(title=title, number=number, page=page, paragraphs=paragraphs)


def sample_paper(filler_paragraphs: int = 0) -> Paper:
    filler = [
        Paragraph(
            page=3 + i // 4,
            text=f"Ablation {i} keeps recall at 0.9{i % 10} with {i + 2} shards. "
            + "The router stays small and fast. " * 25,
        )
        for i in range(filler_paragraphs)
    ]
    abstract = "We present SparseRoute. It cuts latency by 41.5% at 0.93 recall."
    table = "| a | b |\n|---|---|\n| BM25 | 0.81 |"
    return Paper(
        content_hash="c0ffee",
        source="arXiv:2401.01234",
        label="arXiv:2401.01234",
        title="Sparse Routing for Faster Retrieval Models",
        authors=["Ada Lovelace", "Alan Turing"],
        abstract=abstract,
        sections=[
            sec("Abstract", "", 1, abstract + " It indexes 1,200,000 documents."),
            sec("Introduction", "1", 1, "Every query visits every shard, which makes it slow."),
            sec("Method", "2", 2, "We train a router with 12 layers that picks 3 of 64 shards."),
            sec("Results", "3", 3, "SparseRoute serves 3,400 queries per second.", *filler),
            sec("Limitations", "4", 9, "We only evaluated on English text; future work next."),
        ],
        tables=[Table(caption="Table 1: Recall.", page=3, section="§3 Results", text=table)],
        pages=9,
    )


def test_numbers_normalised_and_unsupported_flagged() -> None:
    source = "Latency fell by 41.5% on 1,200,000 documents at 3,400 qps; recall 0.930; lr 3e-4."
    ok = "Latency -41.5 percent; 1.2M docs and 1200000 docs; 3.4k qps; recall 93%; lr 0.0003."
    assert check_numbers(ok, source).ok
    bad = check_numbers("1. Latency fell 45% [§3 Results, p. 12]; recall 0.93; 41%", source)
    assert bad.checked == ["45%", "0.93", "41%"]  # list marker and cite are not claims
    assert bad.unsupported == ["45%", "41%"]  # rounding is not forgiven


def test_single_pass_notes_are_structured_and_checked() -> None:
    paper = sample_paper()
    model = ScriptedChatModel(replies=[REPLY])
    notes = make_notes(paper, model, ContextBudget(4096, 200_000), PapersSettings())
    assert notes.mode == "single-pass" and notes.llm_calls == 1
    prompt = str(model.calls[0][1].content)
    assert "[§2 Method, p. 2]\nWe train a router" in prompt  # passages carry their cites
    assert notes.problem[0].cites[0].section == "§1 Introduction"
    assert notes.method[0].text.startswith("A 12-layer router")
    invented, unsupported = notes.results
    assert invented.cites[0].section == "§Abstract"  # bogus §9 dropped, re-attributed
    assert (
        unsupported.unsupported == ["4,000"] and "[check: 4,000 not found" in unsupported.render()
    )
    (limit,) = notes.limitations  # the model said "None.": quoted from the paper instead
    assert limit.extracted and "only evaluated on English" in limit.text
    assert limit.cites[0].page == 9


class ByPromptModel(ScriptedChatModel):
    """Map calls get one bullet note; the final notes call (four questions) gets REPLY."""

    def _generate(
        self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        final = "four questions" in str(messages[-1].content)
        self.replies = [REPLY if final else MAP_NOTE]
        return super()._generate(messages, stop, run_manager, **kw)


MAP_NOTE = "- Recall stays at 0.90 with 2 shards [§3 Results, p. 3]"


def test_long_paper_is_map_reduced_within_the_context() -> None:
    paper = sample_paper(filler_paragraphs=24)
    model = ByPromptModel()
    budget = ContextBudget(1200, 200_000)
    settings = PapersSettings(notes_max_tokens=200, map_max_tokens=64)
    notes = make_notes(paper, model, budget, settings)
    assert notes.mode == "map-reduce" and not notes.truncated
    assert notes.llm_calls == len(model.calls) > 3
    limit = budget.chars(64)
    assert all(len(str(c[1].content)) <= limit for c in model.calls[:-1])
    reduce_prompt = str(model.calls[-1][1].content)
    assert reduce_prompt.count(MAP_NOTE[2:]) == len(model.calls) - 1  # one per batch
    mapped = "".join(str(c[1].content) for c in model.calls[:-1])
    assert all(f"[{s.label}" in mapped for s in paper.sections)  # every section read once
    assert [p.text for p in notes.problem] == [
        "Every query visits every shard, so retrieval is slow"
    ]


def test_too_many_batches_are_shortened_not_skipped() -> None:
    paper = sample_paper(filler_paragraphs=40)
    model = ByPromptModel()
    settings = PapersSettings(notes_max_tokens=200, map_max_tokens=64, max_map_calls=3)
    notes = make_notes(paper, model, ContextBudget(1200, 200_000), settings)
    assert notes.truncated and notes.llm_calls == 4
    seen = "".join(str(c[1].content) for c in model.calls[:3])
    assert "§4 Limitations" in seen  # every section keeps its opening


def test_cites_resolve_to_real_sections_only() -> None:
    passages = paper_passages(sample_paper(), 1000)
    tags = {"P1": "arXiv:2401.01234"}
    text = "x [P1 §2, p. 2] y [§Results, p. 3] z [§3 Results, p. 40] w [§7 Made Up]"
    cites = resolve_cites(text, passages, tags)
    assert [(c.section, c.page) for c in cites] == [("§2 Method", 2), ("§3 Results", 3)]


def test_arxiv_references_and_atom() -> None:
    assert arxiv_id("2401.01234") == "2401.01234"
    assert arxiv_id("arXiv:2401.01234v2") == "2401.01234v2"
    assert arxiv_id("https://arxiv.org/pdf/2401.01234v1.pdf") == "2401.01234v1"
    assert arxiv_id("https://arxiv.org/abs/hep-th/9901001") == "hep-th/9901001"
    assert arxiv_id("https://example.com/abs/2401.01234") is None
    assert arxiv_id("attention is all you need") is None
    empty = (
        b'<feed xmlns="http://www.w3.org/2005/Atom" xmlns:o="http://a9.com/-/spec/opensearch/1.1/">'
        b"<o:totalResults>0</o:totalResults></feed>"
    )
    with pytest.raises(PaperError, match=r"no arXiv paper '2401\.99999'"):
        parse_atom_entry(empty, "2401.99999")
    with pytest.raises(PaperError, match="not Atom XML"):
        parse_atom_entry(b"<html>", "2401.1")


def test_non_pdf_bodies_are_refused_with_a_hint() -> None:
    require_pdf(b"\n%PDF-1.7 ...", "x")
    with pytest.raises(PaperError, match=r"not a PDF \(text/html.*link the PDF itself"):
        require_pdf(b"<!doctype html>", "https://x/abs/1", "text/html; charset=utf-8")


def raising(error: type[httpx.TransportError]) -> Any:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return handler


@pytest.mark.parametrize(
    ("handler", "code"),
    [
        (raising(httpx.ReadTimeout), "paper_timeout"),
        (raising(httpx.ConnectError), "paper_fetch_failed"),
        (lambda r: httpx.Response(200, content=b"%PDF-1.4" + b"0" * 2_000_000), "paper_too_large"),
        (lambda r: httpx.Response(503, text="busy"), "paper_fetch_failed"),
        (lambda r: httpx.Response(404), "paper_not_found"),
    ],
)  # fmt: skip
def test_download_failures_map_to_codes(handler: Any, code: str) -> None:
    settings = PapersSettings(allow_private_hosts=True, max_pdf_mb=1)
    fetcher = Fetcher(settings, transport=httpx.MockTransport(handler))
    with pytest.raises(PaperError) as err:
        fetcher.pdf_url("https://papers.example/x.pdf")
    assert err.value.code == code
    assert "papers.example" in err.value.detail or "x.pdf" in err.value.detail


def test_summarize_paper_tool(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    reader = PaperReader(PapersSettings(), tmp_path, context_tokens=4096)
    loaded: list[tuple[str, tuple[str, ...]]] = []

    def load(ref: str, groups: Any = (), allow_local: bool = False) -> Paper:
        loaded.append((ref, tuple(groups)))
        if ref == "2401.99999":
            raise PaperError("paper_not_found", "no arXiv paper '2401.99999'")
        assert not allow_local  # the model never gets to read arbitrary local files
        return sample_paper()

    monkeypatch.setattr(reader, "load", load)
    model = ScriptedChatModel(replies=[REPLY])
    deps = Deps(store=None, embedder=HashEmbedder(), chat_model=model,  # type: ignore[arg-type]
                retrieval=RetrievalSettings(), papers=reader)  # fmt: skip
    assert "summarize_paper" in [t.name for t in tools_for(deps)]
    out = execute_tool_call(deps, "summarize_paper", {"papers": ["2401.01234"]})
    (hit,) = out.hits
    assert hit.doc_id == "arXiv:2401.01234" and hit.section == "reading notes"
    assert "Key results" in hit.text and "[§1 Introduction, p. 1]" in hit.text
    assert "4,000" in out.text  # flagged for the model as well
    with pytest.raises(ToolError, match="paper_not_found"):
        execute_tool_call(deps, "summarize_paper", {"papers": ["2401.99999"]})
    deps.papers = None
    assert "summarize_paper" not in [t.name for t in tools_for(deps)]


def test_question_over_two_papers_cites_each_by_tag() -> None:
    from tools.papers.qa import answer_question

    first = sample_paper()
    second = sample_paper().model_copy(
        update={"label": "other.pdf", "title": "Shard Caching", "content_hash": "beef"}
    )
    settings = PapersSettings()
    notes = [make_notes(p, ScriptedChatModel(replies=[REPLY]), ContextBudget(4096, 9999), settings)
             for p in (first, second)]  # fmt: skip
    reply = "- Both cut latency; the second one serves 3,400 queries per second [P2 §3, p. 3]"
    model = ScriptedChatModel(replies=[reply])
    answer = answer_question("Which is faster?", [first, second], notes, model,
                             ContextBudget(4096, 200_000), settings)  # fmt: skip
    prompt = str(model.calls[0][1].content)
    assert "P1: Sparse Routing" in prompt and "P2: Shard Caching" in prompt
    assert "[P2 §3 Results, p. 3]" in prompt and "Question: Which is faster?" in prompt
    (point,) = answer.points
    assert [(c.paper, c.section, c.page) for c in point.cites] == [("other.pdf", "§3 Results", 3)]
    assert point.render(with_paper=True).endswith("[other.pdf §3 Results, p. 3]")


@pytest.mark.parametrize(
    ("question", "named"),
    [
        ("What does arXiv 2401.01234 do, and does it apply to our search service?", True),
        ("Summarize https://arxiv.org/abs/2401.01234", True),
        ("Notes on https://example.com/files/paper.pdf please", True),
        ("Is paper 2401.01234 relevant for us?", True),
        ("Why did p99 latency hit 2024.12345 ms?", False),  # a number, not a paper
        ("How do I rotate the kestrel certificate?", False),
    ],
)
def test_questions_naming_a_paper_route_deep(question: str, named: bool) -> None:
    from agent.router import Router, load_router_artefact, names_a_paper

    assert names_a_paper(question) is named
    if named:  # decided before any embedding is computed
        decision = Router(HashEmbedder(), load_router_artefact()).decide(question)
        assert (decision.route, decision.source) == ("deep", "rule")


def test_deep_loop_calls_summarize_paper_and_cites_the_notes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from langchain_core.messages import AIMessage

    from agent.service import Agent
    from oncall.testing.fakes import FakeStore

    reader = PaperReader(PapersSettings(), tmp_path, context_tokens=4096)
    monkeypatch.setattr(reader, "load", lambda ref, groups=(), allow_local=False: sample_paper())
    call = {"name": "summarize_paper", "args": {"papers": ["2401.01234"]}, "id": "p1"}
    final = "The router cuts retrieval latency by 41.5% at 0.93 recall."
    # The reader uses the same scripted model: tool call, then the notes, then the answer.
    model = ScriptedChatModel(replies=[AIMessage("", tool_calls=[call]), REPLY, final])
    embedder = HashEmbedder()
    deps = Deps(store=FakeStore([], embedder), embedder=embedder, chat_model=model,  # type: ignore[arg-type]
                retrieval=RetrievalSettings(), papers=reader)  # fmt: skip
    answer = Agent(deps).ask("What does arXiv 2401.01234 do?", route="deep")
    assert [c.name for c in answer.tool_calls][-1] == "summarize_paper"
    assert answer.tool_calls[-1].ok
    assert "Key results" in str(model.calls[-1])  # the notes reached the model
    assert answer.text.startswith(final.rstrip("."))
    assert [c.hit.doc_id for c in answer.citations] == ["arXiv:2401.01234"]


def test_numbered_and_paragraph_replies_are_sorted_into_fields() -> None:
    from tools.papers.replies import split_fields

    numbered = split_fields("1. Slow retrieval.\n2. A router.\n3. 41.5% faster.\n4. English only.")
    assert numbered == {
        "problem": ["Slow retrieval."],
        "method": ["A router."],
        "results": ["41.5% faster."],
        "limitations": ["English only."],
    }
    # What the 0.5B default model wrote for the sample paper: one paragraph.
    paragraph = (
        "The paper addresses the problem of predicting which shards hold the answer. It uses "
        "a classifier over the query embedding. The results show that SparseRoute is 41.5% "
        "faster. SparseRoute was only evaluated on English text."
    )
    fields = split_fields(paragraph)
    assert [len(fields[f]) for f in ("problem", "method", "results", "limitations")] == [1, 1, 1, 1]
    assert fields["results"][0].startswith("The results show")
