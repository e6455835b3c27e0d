"""`PaperReader`: look a paper up, parse it, and make notes and answers, all cached.

One reader is built per entry point (oncall/cli/compose.py for the agent's `summarize_paper` tool,
the `oncall paper` command); the model is passed per call so the same reader serves any
chat model. A reference is tried as, in order: an arXiv id or URL, another URL, a local
PDF path, then a paper in the `papers` collection readable by the asker.
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

from oncall.core.settings import PapersSettings, StoreSettings
from tools.papers.cache import PaperCache, cache_key, content_hash
from tools.papers.fetch import Fetched, Fetcher, arxiv_id, is_url, require_pdf
from tools.papers.library import find_indexed
from tools.papers.model import Paper, PaperAnswer, PaperError, PaperNotes, PaperReport
from tools.papers.notes import PROMPT_VERSION, ContextBudget, make_notes
from tools.papers.parse import PARSER_VERSION, parse_pdf
from tools.papers.qa import answer_question

ContextTokens = int | Callable[[], int]


class PaperReader:
    """See the module docstring. `context_tokens` is the model's context length, or a
    function asked once, on first use (e.g. the server's /v1/models)."""

    def __init__(
        self,
        settings: PapersSettings,
        data_dir: Path,
        store: StoreSettings | None = None,
        context_tokens: ContextTokens = 4096,
        transport: httpx.BaseTransport | None = None,
    ):
        self.settings = settings
        self.data_dir = data_dir
        self.store = (store or StoreSettings()).model_copy(
            update={"collection": settings.collection}
        )
        self.cache = PaperCache(settings.cache_dir or data_dir / "papers")
        self.fetcher = Fetcher(settings, transport)
        self._context_tokens = context_tokens
        self._lock = threading.Lock()
        self._library_lock = threading.Lock()

    def close(self) -> None:
        self.fetcher.close()

    @property
    def budget(self) -> ContextBudget:
        with self._lock:
            if callable(self._context_tokens):
                self._context_tokens = self._context_tokens()
            n_ctx = self.settings.context_tokens or self._context_tokens
        return ContextBudget(n_ctx, self.settings.max_prompt_chars)

    def read(
        self,
        refs: Sequence[str],
        model: Any,
        question: str = "",
        groups: Sequence[str] = ("public",),
        allow_local: bool = False,
    ) -> PaperReport:
        """Notes on every paper in `refs`, and an answer to `question` if one is given."""
        if not refs:
            raise PaperError("paper_not_found", "no paper given: pass an arXiv id, URL or path")
        if len(refs) > self.settings.max_papers:
            raise PaperError(
                "paper_refused",
                f"{len(refs)} papers asked for, at most {self.settings.max_papers} at once "
                "(papers.max_papers)",
            )
        timings: dict[str, float] = {}
        started = time.perf_counter()
        papers = [self.load(ref, groups=groups, allow_local=allow_local) for ref in refs]
        timings["parse"] = _ms(started)
        started = time.perf_counter()
        notes = [self.notes(p, model) for p in papers]
        timings["notes"] = _ms(started)
        answer = None
        if question.strip():
            started = time.perf_counter()
            answer = self.answer(question.strip(), papers, notes, model)
            timings["answer"] = _ms(started)
        return PaperReport(notes=notes, answer=answer, timings_ms=timings)

    def load(
        self, ref: str, groups: Sequence[str] = ("public",), allow_local: bool = False
    ) -> Paper:
        """The parsed paper `ref` names (cached by content hash)."""
        ref = ref.strip()
        paper_id = arxiv_id(ref)
        if paper_id:
            return self._parsed(self.fetcher.arxiv(paper_id))
        if is_url(ref):
            return self._parsed(self.fetcher.pdf_url(ref))
        local = self._local(ref, allow_local)
        if local is not None:
            return self._parsed(local)
        with self._library_lock:  # one open of the collection at a time (parallel calls)
            indexed = find_indexed(ref, self.store, self.data_dir, groups)
        if indexed is not None:
            if indexed.paper is not None:
                return indexed.paper
            source = indexed.record.source
            fetched = Fetched(indexed.data or b"", source, indexed.record.doc_id, source)
            return self._parsed(fetched)
        if _looks_like_path(ref) and not allow_local:
            # Outside papers.local_dirs: the same answer whether or not the file exists, so
            # the tool cannot be used to learn which files the host has.
            raise PaperError(
                "paper_refused",
                f"{ref}: the agent reads local files only under papers.local_dirs, and no "
                "paper in the collection has this name; give an arXiv id or a URL, or ask an "
                "admin to add the folder",
            )
        raise PaperError(
            "paper_not_found",
            f"{ref!r} is not an arXiv id (e.g. 2401.01234), a PDF URL, a readable PDF path, "
            f"or a paper in the {self.settings.collection!r} collection you may read",
        )

    def notes(self, paper: Paper, model: Any) -> PaperNotes:
        """Notes on `paper`, made once per content, model and context budget."""
        s, budget = self.settings, self.budget
        key = cache_key(paper.title, PROMPT_VERSION, PARSER_VERSION, _model_id(model),
                        budget, s.notes_max_tokens, s.map_max_tokens, s.max_map_calls)  # fmt: skip
        name = f"{paper.content_hash}-{key}"
        cached = self.cache.get("notes", name, PaperNotes)
        if cached is not None:
            return cached.model_copy(
                update={"cached": True, "paper": paper.label, "url": paper.url}
            )
        notes = make_notes(paper, model, budget, s)
        self.cache.put("notes", name, notes)
        return notes

    def answer(
        self, question: str, papers: list[Paper], notes: list[PaperNotes], model: Any
    ) -> PaperAnswer:
        key = cache_key(question, [p.content_hash for p in papers], [p.label for p in papers],
                        PROMPT_VERSION, _model_id(model), self.budget)  # fmt: skip
        cached = self.cache.get("answers", key, PaperAnswer)
        if cached is not None:
            return cached.model_copy(update={"cached": True})
        answer = answer_question(question, papers, notes, model, self.budget, self.settings)
        self.cache.put("answers", key, answer)
        return answer

    def _local(self, ref: str, allow_local: bool) -> Fetched | None:
        """The PDF at path `ref`, if it is one this call may read; None to look elsewhere.

        The operator (`allow_local`) reads any path. The agent's tool reads only under
        `papers.local_dirs`, judged on the resolved path (so no symlink or `..` leads out),
        and learns nothing about paths outside them: what it is told does not depend on
        whether they exist."""
        path = Path(ref).expanduser()
        if not allow_local:
            path = path.resolve()
            if not self._in_local_dirs(path):
                return None
        if not path.is_file():
            if _looks_like_path(ref):
                raise PaperError("paper_not_found", f"no file {ref!r}: check the path")
            return None
        cap = self.settings.max_pdf_mb * 1024 * 1024
        size = path.stat().st_size
        if size > cap:
            raise PaperError(
                "paper_too_large",
                f"{ref} is {size / 1e6:.1f} MB, over the "
                f"{self.settings.max_pdf_mb:g} MB cap (papers.max_pdf_mb)",
            )
        data = path.read_bytes()
        require_pdf(data, ref)
        return Fetched(data, str(path.resolve()), path.name, str(path.resolve()))

    def _in_local_dirs(self, resolved: Path) -> bool:
        return any(
            resolved.is_relative_to(d.expanduser().resolve()) for d in self.settings.local_dirs
        )

    def _parsed(self, fetched: Fetched) -> Paper:
        digest = content_hash(fetched.data)
        name = f"{digest}-p{PARSER_VERSION}"
        paper = self.cache.get("parsed", name, Paper)
        if paper is None:
            with tempfile.TemporaryDirectory(prefix="oncall-paper-") as tmp:
                path = Path(tmp) / "paper.pdf"
                path.write_bytes(fetched.data)
                paper = parse_pdf(
                    path, digest, fetched.source, fetched.label, self.settings.max_pages
                )
            self.cache.put("parsed", name, paper)
        # The same PDF may arrive by another route: source, label and metadata are per call.
        update: dict[str, Any] = {
            "source": fetched.source,
            "label": fetched.label,
            "url": fetched.url,
        }
        if fetched.title:
            update["title"] = fetched.title
        if fetched.authors:
            update["authors"] = fetched.authors
        if fetched.abstract:
            update["abstract"] = fetched.abstract
        if fetched.published:
            update["published"] = fetched.published
        return paper.model_copy(update=update)


def _looks_like_path(ref: str) -> bool:
    return Path(ref).suffix.lower() == ".pdf" or "/" in ref


def _model_id(model: Any) -> str:
    name = getattr(model, "model_name", None) or type(model).__name__
    return f"{name}@{getattr(model, 'openai_api_base', '')}"


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
