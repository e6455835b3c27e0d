"""Answer an engineer's question from one or several papers, with cites.

Each paper contributes its abstract and the passages that share most terms with the
question, so the prompt stays within the context budget however long the papers are; the
notes already made for each paper (problem, method, results) go in too, as a map of the
whole paper. Papers are tagged P1, P2... in the prompt to keep cites short; the tags are
mapped back to paper labels when the answer is checked like the notes are.
"""

from __future__ import annotations

from typing import Any

from oncall.core.settings import PapersSettings
from tools.papers.model import Paper, PaperAnswer, PaperNotes
from tools.papers.notes import ContextBudget, LLMCalls
from tools.papers.numbers import SourceNumbers
from tools.papers.passages import Passage, paper_passages, relevant
from tools.papers.replies import to_points

ANSWER_SYSTEM = (
    "You answer an engineer's question about research papers from the excerpts given. Use "
    "only the excerpts and copy numbers exactly; if they do not answer the question, say "
    "so. Where you can, end a point with the bracketed location of the excerpt it uses, "
    "e.g. [P1 §3 Results, p. 4]."
)
ANSWER_TASK = (
    "Answer the question in 2-5 sentences from the excerpts above, and say how the work "
    "relates to it: does it apply, what would it take."
)


def answer_question(
    question: str,
    papers: list[Paper],
    notes: list[PaperNotes],
    model: Any,
    budget: ContextBudget,
    settings: PapersSettings,
) -> PaperAnswer:
    """One LLM call over the question-relevant passages of every paper."""
    llm = LLMCalls(model)
    tags = {f"P{i}": p.label for i, p in enumerate(papers, start=1)}
    total = budget.chars(settings.answer_max_tokens) - len(question) - 200
    share = max(400, total // max(1, len(papers)))
    blocks: list[str] = []
    every: list[Passage] = []
    for tag, paper, paper_notes in zip(tags, papers, notes, strict=True):
        passages = paper_passages(paper, max(300, min(1500, share // 3)))
        every.extend(passages)
        summary = _notes_digest(paper_notes, tag)
        chosen = relevant(passages, question, max(0, share - len(summary) - 100))
        body = "\n\n".join(_tagged(p, tag) for p in chosen)
        blocks.append(f"{tag}: {paper.title}\n{summary}\n\n{body}".strip())
    prompt = "\n\n---\n\n".join(blocks) + f"\n\nQuestion: {question}\n\n{ANSWER_TASK}"
    reply = llm(ANSWER_SYSTEM, prompt, settings.answer_max_tokens)
    numbers = SourceNumbers("\n\n".join(p.full_text() for p in papers))
    points = to_points(reply, every, tags, numbers)
    return PaperAnswer(
        question=question, papers=[p.label for p in papers], points=points, llm_calls=llm.calls
    )


def _tagged(passage: Passage, tag: str) -> str:
    cite = passage.cite.render().replace("[", f"[{tag} ", 1)
    return f"{cite}\n{passage.text}"


def _notes_digest(notes: PaperNotes, tag: str) -> str:
    """The notes in a few lines: the model sees the whole paper's gist, not just excerpts.
    Points with numbers the paper lacks are left out."""
    lines = []
    for point in [*notes.problem[:1], *notes.method[:2], *notes.results[:3]]:
        if point.unsupported:
            continue
        cites = " ".join(c.render().replace("[", f"[{tag} ", 1) for c in point.cites)
        lines.append(f"- {point.text} {cites}".rstrip())
    return "Notes:\n" + "\n".join(lines) if lines else ""
