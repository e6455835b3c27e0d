"""Reading notes on a paper: one pass when it fits the model's context, map-reduce when not.

The budget comes from the server's context length (`ContextBudget`): what is left after
the generated tokens and the fixed prompt, at oncall/llm/context_budget.py's conservative
characters-per-token rate. A paper whose passages fit is read in one call. A longer one is
read section by section (map: a few bullet notes per batch of passages, each with its
cite), the notes merged again while they exceed the budget (collapse), then turned into
the final notes (reduce). A paper needing more than `papers.max_map_calls` batches keeps
the opening of every passage (marked `truncated`).

Whatever the model writes is then checked: cites must name real sections (others are
dropped), uncited points get the passage they come from, numbers the paper does not hold
are flagged, and a part left empty is filled with sentences quoted from the paper.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage

from oncall.core.settings import PapersSettings
from oncall.llm.client import invoke_chat
from oncall.llm.context_budget import CHARS_PER_TOKEN
from tools.papers.model import Paper, PaperNotes
from tools.papers.passages import Passage, pack, paper_passages, shrink
from tools.papers.replies import parse_notes, to_points

PROMPT_VERSION = "2"  # part of the notes cache key: bump when prompts change
PROMPT_OVERHEAD_TOKENS = 400  # system prompt, headings and chat template
MAX_COLLAPSE_ROUNDS = 3

NOTES_SYSTEM = (
    "You write reading notes on a research paper for a senior engineer. Use only the text "
    "given; never add facts or numbers it does not contain, and copy numbers exactly as "
    "written. Where you can, end a point with the bracketed location it comes from, e.g. "
    "[§3 Results, p. 4]."
)
# At the end of the user message: small models follow a task placed after the text far
# better than a format given before it (the 0.5B default only echoed headings otherwise).
NOTES_TASK = (
    "Answer these four questions about the paper above, one or two sentences each, "
    "numbered 1-4, with numbers copied exactly:\n"
    "1. What problem does the paper address?\n"
    "2. What method do the authors use?\n"
    "3. What are the key results, with their numbers?\n"
    "4. What are the limitations?"
)
MAP_SYSTEM = (
    "You take notes on part of a research paper. Use only the text given and copy numbers exactly."
)
MAP_TASK = (
    "Write 2-5 short notes on the text above: the problem, what the authors do, results "
    "with their numbers, limitations. One note per line, each starting with '- '."
)
COLLAPSE_SYSTEM = (
    "Merge these notes on a research paper into at most 8 lines starting with '- '. Keep "
    "every number exactly as written and keep the bracketed locations."
)


@dataclass(frozen=True)
class ContextBudget:
    """Characters of paper text one call may carry in an `n_ctx`-token context."""

    n_ctx: int
    max_prompt_chars: int

    def chars(self, max_tokens: int) -> int:
        usable = self.n_ctx - max_tokens - PROMPT_OVERHEAD_TOKENS
        return max(400, min(self.max_prompt_chars, int(usable * CHARS_PER_TOKEN)))


@dataclass
class LLMCalls:
    """Calls one notes/answer job makes, counted across worker threads."""

    model: Any
    calls: int = 0
    output_tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, system: str, user: str, max_tokens: int) -> str:
        # max_tokens (not max_completion_tokens): ChatOpenAI maps it onto the request field.
        bound = self.model.bind(max_tokens=max_tokens)
        reply = invoke_chat(bound, [SystemMessage(system), HumanMessage(user)])
        with self._lock:
            self.calls += 1
            usage = reply.usage_metadata
            self.output_tokens += usage["output_tokens"] if usage else 0
        return str(reply.content)


def make_notes(
    paper: Paper, model: Any, budget: ContextBudget, settings: PapersSettings
) -> PaperNotes:
    """Notes on `paper` (see the module docstring for how its length is handled)."""
    llm = LLMCalls(model)
    single = budget.chars(settings.notes_max_tokens)
    header = _header(paper)
    passages = paper_passages(paper, max(400, budget.chars(settings.map_max_tokens) // 2))
    text = "\n\n".join(p.render() for p in passages)
    truncated = False
    if len(header) + len(text) <= single:
        reply = llm(NOTES_SYSTEM, f"{header}\n\n{text}\n\n{NOTES_TASK}", settings.notes_max_tokens)
        mode = "single-pass"
    else:
        mode = "map-reduce"
        batch_chars = budget.chars(settings.map_max_tokens) - len(header)
        batches = pack(passages, batch_chars)
        allowed = settings.max_map_calls * batch_chars
        while len(batches) > settings.max_map_calls and allowed > batch_chars // 4:
            # Cites and packing slack take room too: shrink until the batches fit the calls.
            allowed = int(allowed * 0.75)
            batches = pack(shrink(passages, allowed), batch_chars)
            truncated = True
        batches = batches[: settings.max_map_calls]
        mapped = _map(llm, header, batches, passages, settings)
        merged = _collapse(llm, mapped, single - len(header), settings)
        prompt = f"{header}\n\nNotes taken section by section:\n{merged}\n\n{NOTES_TASK}"
        reply = llm(NOTES_SYSTEM, prompt, settings.notes_max_tokens)
    notes = PaperNotes(
        paper=paper.label,
        title=paper.title,
        authors=paper.authors,
        url=paper.url,
        pages=paper.pages,
        mode=mode,
        truncated=truncated,
        **parse_notes(reply, paper, passages),
    )
    notes.llm_calls = llm.calls
    return notes


def _header(paper: Paper) -> str:
    authors = ", ".join(paper.authors[:8])
    return f"Paper: {paper.title}" + (f"\nAuthors: {authors}" if authors else "")


def _map(
    llm: LLMCalls,
    header: str,
    batches: list[str],
    passages: list[Passage],
    settings: PapersSettings,
) -> list[str]:
    """Bullet notes per batch, each bullet carrying a real cite (attributed if missing)."""

    def one(batch: str) -> str:
        reply = llm(MAP_SYSTEM, f"{header}\n\n{batch}\n\n{MAP_TASK}", settings.map_max_tokens)
        return "\n".join(f"- {p.render()}" for p in to_points(reply, passages, {}))

    with ThreadPoolExecutor(max_workers=settings.map_concurrency) as pool:
        return [notes for notes in pool.map(one, batches) if notes]


def _collapse(llm: LLMCalls, mapped: list[str], budget: int, settings: PapersSettings) -> str:
    """Merge map notes until they fit `budget` characters (at most a few rounds, then cut)."""
    merged = "\n".join(mapped)
    for _ in range(MAX_COLLAPSE_ROUNDS):
        if len(merged) <= budget:
            return merged
        groups = _group_lines(merged.splitlines(), budget)
        merged = "\n".join(llm(COLLAPSE_SYSTEM, g, settings.map_max_tokens) for g in groups)
    return merged[:budget]


def _group_lines(lines: list[str], budget: int) -> list[str]:
    groups: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + len(line) + 1 > budget:
            groups.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        groups.append(current)
    return groups
