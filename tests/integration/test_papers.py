"""summarize_paper end to end: PDFs generated here, parsed by pdfminer, fetched over a
loopback server speaking the arXiv protocol, notes from a scripted model, the papers
collection in a real embedded Qdrant, and the `oncall paper` command."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ingest.pipeline import ingest_paths
from ingest.store import DocStore
from oncall.cli.main import app
from oncall.core.settings import IngestSettings, PapersSettings, StoreSettings
from oncall.testing.fake_arxiv import ArxivPaper, FakeArxiv, Route, fake_arxiv
from oncall.testing.fakes import HashEmbedder, ScriptedChatModel
from oncall.testing.paper_pdfs import ABSTRACT, AUTHORS, TITLE, write_paper
from tools.papers import PaperError, PaperReader, check_numbers
from tools.papers.parse import parse_pdf

ARXIV_ID = "2401.01234"
NOTES_REPLY = """PROBLEM:
- Dense retrieval is slow because every query visits every shard [§1 Introduction, p. 1]
METHOD:
- A router with 12 layers picks 3 of 64 shards per query [§2.1 Router, p. 1]
KEY RESULTS:
- Latency falls by 41.5% with recall at 0.93 [§Abstract, p. 1]
LIMITATIONS:
- Only evaluated on English text [§4 Limitations, p. 1]
"""
MAP_REPLY = "- The router reaches 0.93 recall at 18 ms per query [§3 Experiments, p. 1]"


@pytest.fixture(scope="module")
def pdfs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("papers")
    return {
        "short": write_paper(root / "sparse-route.pdf"),
        "long": write_paper(root / "sparse-route-long.pdf", pages=6),
        "locked": write_paper(root / "locked.pdf", user_password="s3cret"),
    }


@pytest.fixture
def arxiv(pdfs: dict[str, Path]) -> Iterator[FakeArxiv]:
    paper = ArxivPaper(pdfs["short"].read_bytes(), TITLE, AUTHORS, ABSTRACT)
    web_page = ArxivPaper(Route(b"<html>x</html>", 200, "text/html"), "Web", [], "")
    state = FakeArxiv(
        papers={ARXIV_ID: paper, "2401.00002": web_page},
        routes={
            "/files/paper.pdf": Route(pdfs["short"].read_bytes()),
            "/files/page.html": Route(b"<!doctype html><html>login</html>", 200, "text/html"),
            "/files/slow.pdf": Route(pdfs["short"].read_bytes(), delay_s=3.0),
            "/files/big.pdf": Route(b"%PDF-1.4\n" + b"0" * 3_000_000, chunked=True),
            "/files/big-declared.pdf": Route(b"%PDF-1.4\n" + b"0" * 3_000_000),
        },
    )  # fmt: skip
    with fake_arxiv(state) as server:
        yield server


def reader(tmp_path: Path, server: FakeArxiv | None = None, **overrides: object) -> PaperReader:
    settings = PapersSettings(
        arxiv_base_url=server.base_url if server else "http://127.0.0.1:9",
        allow_private_hosts=True,
        timeout_s=1.0,
        max_pdf_mb=1.0,
        **overrides,
    )
    return PaperReader(settings, tmp_path / "data", context_tokens=4096)


def test_parse_finds_structure_pages_table_and_references(pdfs: dict[str, Path]) -> None:
    paper = parse_pdf(pdfs["short"], "hash", "local", "sparse-route.pdf", max_pages=50)
    assert paper.title == TITLE
    assert paper.authors == AUTHORS  # the affiliation line is not an author
    assert paper.abstract.startswith("We present SparseRoute")
    labels = [s.label for s in paper.sections]
    assert labels[:6] == ["§Abstract", "§1 Introduction", "§2 Method", "§2.1 Router",
                          "§2.2 Training", "§3 Experiments"]  # fmt: skip
    assert "§4 Limitations" in labels and "§5 Conclusion" in labels
    router = next(s for s in paper.sections if s.number == "2.1")
    assert router.level == 2 and "12 layers" in router.text
    (table,) = paper.tables
    assert table.caption.startswith("Table 1") and table.section == "§3 Experiments"
    assert "| SparseRoute | 0.93 | 18 |" in table.text
    assert len(paper.references) == 3 and paper.references[1].startswith("[2] V. Karpukhin")
    assert paper.pages == 2  # the bibliography runs onto page 2


def test_long_paper_sections_carry_their_pages(pdfs: dict[str, Path]) -> None:
    paper = parse_pdf(pdfs["long"], "hash", "local", "long.pdf", max_pages=50)
    assert paper.pages == 6
    ablations = [s for s in paper.sections if s.title.startswith("Ablation")]
    assert len(ablations) >= 5
    assert ablations[-1].page_end > ablations[0].page  # spans pages, tracked per paragraph
    assert paper.sections[-1].label == "§5 Conclusion" and paper.sections[-1].page == 6


def test_arxiv_id_is_fetched_over_the_api_and_summarised(tmp_path: Path, arxiv: FakeArxiv) -> None:
    answer = "- It applies: 0.93 recall at 18 ms [P1 §3 Experiments, p. 1]"
    model = ScriptedChatModel(replies=[NOTES_REPLY, answer])
    r = reader(tmp_path, arxiv)
    report = r.read([f"https://arxiv.org/abs/{ARXIV_ID}"], model, "Is it faster than BM25?")
    (notes,) = report.notes
    assert notes.paper == f"arXiv:{ARXIV_ID}" and notes.title == TITLE
    assert notes.mode == "single-pass" and notes.llm_calls == 1
    assert [c.section for c in notes.method[0].cites] == ["§2.1 Router"]
    assert report.answer is not None
    assert report.answer.points[0].cites[0].section == "§3 Experiments"
    assert any(p.startswith("/api/query?id_list=2401.01234") for p in arxiv.requests)
    assert f"/pdf/{ARXIV_ID}" in arxiv.requests
    # Same PDF again (now by its bare id): parse and notes come from the cache.
    again = r.read([ARXIV_ID], ScriptedChatModel(replies=[]))
    assert again.notes[0].cached and again.notes[0].results == notes.results


class ByPromptModel(ScriptedChatModel):
    """Map and collapse calls get a bullet note; the final notes call gets NOTES_REPLY."""

    def _generate(
        self, messages: list[Any], stop: Any = None, run_manager: Any = None, **kw: Any
    ) -> Any:
        final = "four questions" in str(messages[-1].content)
        self.replies = [NOTES_REPLY if final else MAP_REPLY]
        return super()._generate(messages, stop, run_manager, **kw)


def test_map_reduce_with_a_small_context(tmp_path: Path, pdfs: dict[str, Path]) -> None:
    model = ByPromptModel()
    r = reader(tmp_path, context_tokens=1400, notes_max_tokens=256, map_max_tokens=96)
    paper = r.load(str(pdfs["long"]), allow_local=True)
    notes = r.notes(paper, model)
    assert notes.mode == "map-reduce" and notes.llm_calls > 3
    final_prompt = str(model.calls[-1][1].content)
    assert "Notes taken section by section" in final_prompt
    assert all(len(str(call[1].content)) < 3500 for call in model.calls)  # within the budget
    assert check_numbers("\n".join(p.text for p in notes.points()), paper.full_text()).ok


@pytest.mark.parametrize(
    ("ref", "code", "words"),
    [
        ("2401.99999", "paper_not_found", "no arXiv paper '2401.99999'"),
        ("arXiv:2401.00002", "paper_not_pdf", "is not a PDF (text/html"),
        ("/files/page.html", "paper_not_pdf", "link the PDF itself"),
        ("/files/missing.pdf", "paper_not_found", "answered 404"),
        ("/files/slow.pdf", "paper_timeout", "did not answer in time"),
        ("/files/big.pdf", "paper_too_large", "over the 1 MB cap (papers.max_pdf_mb)"),
        ("/files/big-declared.pdf", "paper_too_large", "3.0 MB, over the 1 MB cap"),
    ],
)
def test_fetch_errors_are_clear(
    tmp_path: Path, arxiv: FakeArxiv, ref: str, code: str, words: str
) -> None:
    if ref.startswith("/"):
        ref = arxiv.base_url + ref
    with pytest.raises(PaperError) as err:
        reader(tmp_path, arxiv).load(ref)
    assert err.value.code == code
    assert words in err.value.detail


def test_pdf_url_on_a_private_host_is_refused_by_default(tmp_path: Path, arxiv: FakeArxiv) -> None:
    strict = PaperReader(PapersSettings(arxiv_base_url=arxiv.base_url), tmp_path / "data")
    with pytest.raises(PaperError) as err:
        strict.load(f"{arxiv.base_url}/files/paper.pdf")
    assert err.value.code == "paper_refused" and "papers.allow_private_hosts" in err.value.detail
    paper = reader(tmp_path, arxiv).load(f"{arxiv.base_url}/files/paper.pdf")
    assert paper.title == TITLE and paper.label == "paper.pdf"


def test_password_protected_pdf(tmp_path: Path, pdfs: dict[str, Path]) -> None:
    with pytest.raises(PaperError) as err:
        reader(tmp_path).load(str(pdfs["locked"]), allow_local=True)
    assert err.value.code == "paper_encrypted" and "password-protected" in err.value.detail


def test_local_paths_need_permission_from_the_agent(tmp_path: Path, pdfs: dict[str, Path]) -> None:
    with pytest.raises(PaperError) as err:
        reader(tmp_path).load(str(pdfs["short"]))  # the model asked: not under local_dirs
    assert err.value.code == "paper_refused" and "papers.local_dirs" in err.value.detail
    allowed = reader(tmp_path, local_dirs=[pdfs["short"].parent])
    assert allowed.load(str(pdfs["short"])).title == TITLE


def test_paths_outside_local_dirs_get_one_answer_whether_or_not_they_exist(
    tmp_path: Path, pdfs: dict[str, Path]
) -> None:
    """No existence oracle: the tool answers the same for a host file that exists and one
    that does not, outside papers.local_dirs (also through a symlink or `..` from inside)."""
    inside = tmp_path / "library"
    inside.mkdir()
    (inside / "escape.pdf").symlink_to(pdfs["short"])  # a link out of the allowed folder
    r = reader(tmp_path, local_dirs=[inside])
    outside = pdfs["short"].parent
    refs = {
        "existing PDF": str(pdfs["short"]),
        "missing PDF": str(outside / "no-such-paper.pdf"),
        "existing host file": "/etc/hostname",
        "missing host file": "/etc/no-such-file-here",
        "existing PDF via ..": f"{inside}/{os.path.relpath(pdfs['short'], inside)}",
        "symlink out": str(inside / "escape.pdf"),
    }
    answers = {}
    for what, ref in refs.items():
        with pytest.raises(PaperError) as err:
            r.load(ref)
        answers[what] = (err.value.code, err.value.detail.replace(ref, "REF"))
    assert len(set(answers.values())) == 1, answers
    assert answers["missing PDF"][0] == "paper_refused"
    assert "papers.local_dirs" in answers["missing PDF"][1]


def test_papers_collection_lookup_respects_acls(tmp_path: Path, pdfs: dict[str, Path]) -> None:
    data, library = tmp_path / "data", tmp_path / "library"
    library.mkdir()
    copy = library / "sparse-route.pdf"
    copy.write_bytes(pdfs["short"].read_bytes())
    with DocStore(StoreSettings(collection="papers"), data) as store:
        ingest_paths([library], store, HashEmbedder(), IngestSettings(), acl=["research"])
    r = PaperReader(PapersSettings(), data)
    with pytest.raises(PaperError) as err:
        r.load("sparse-route", groups=["public"])  # indexed, but not readable by this asker
    assert err.value.code == "paper_not_found"
    paper = r.load("sparse-route", groups=["research"])  # by file name: the PDF is re-read
    assert paper.title == TITLE and [t.caption[:7] for t in paper.tables] == ["Table 1"]
    copy.unlink()  # gone from disk: rebuilt from the indexed chunks, found by title words
    rebuilt = r.load("faster retrieval models", groups=["research"])
    assert rebuilt.content_hash == paper.content_hash
    assert rebuilt.sections and "41.5%" in rebuilt.full_text()


def test_cli_parse_only_and_errors(pdfs: dict[str, Path]) -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["paper", str(pdfs["short"]), "--parse-only"])
    assert result.exit_code == 0, result.output
    assert TITLE in result.output and "§2.1 Router" in result.output
    assert "Table 1: Recall and median latency" in result.output
    locked = runner.invoke(app, ["paper", str(pdfs["locked"]), "--parse-only"])
    assert locked.exit_code == 2 and "paper_encrypted" in locked.output


@pytest.mark.parametrize(("n_ctx", "mode"), [(32768, "single-pass"), (2048, "map-reduce")])
def test_cli_reads_the_server_context_and_caps_generation(
    monkeypatch: pytest.MonkeyPatch, pdfs: dict[str, Path], n_ctx: int, mode: str
) -> None:
    """Against an OpenAI-compatible server (the vLLM contract fake): the context length it
    reports picks single pass or map-reduce, and each call carries its own token cap."""
    from oncall.testing.fake_vllm import FakeVLLM

    with FakeVLLM(max_model_len=n_ctx) as server:
        server.enqueue(*[NOTES_REPLY] * 40)
        monkeypatch.setenv("ONCALL_LLM__BASE_URL", server.base_url)
        monkeypatch.setenv("ONCALL_PAPERS__MAP_MAX_TOKENS", "64")
        result = CliRunner().invoke(app, ["paper", str(pdfs["long"])])
        calls = server.requests
    assert result.exit_code == 0, result.output
    assert "Key results" in result.output and f"_{mode}, {len(calls)} LLM call" in result.output
    assert "[§2.1 Router, p. 1]" in result.output
    caps = [r.max_completion_tokens or r.max_tokens for r in calls]
    assert caps[-1] == 512  # papers.notes_max_tokens
    if mode == "map-reduce":
        assert len(calls) > 2 and set(caps[:-1]) == {64}  # papers.map_max_tokens
    else:
        assert len(calls) == 1
