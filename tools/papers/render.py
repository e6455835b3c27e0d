"""Notes and answers as text: for people (CLI, chat) and for the model (tool results).

Pure functions of the report, so the same wording reaches the terminal, Slack and the DEEP
loop. Each paper's notes are also offered as a `DocHit`, the agent's unit of citable
evidence: the final answer's [n] markers then point at "arXiv:2401.01234 › reading notes".
"""

from __future__ import annotations

from oncall.core.text import printable
from tools.papers.model import NOTE_HEADINGS, PaperAnswer, PaperNotes, PaperReport
from tools.search_docs import DocHit


def render_notes(notes: PaperNotes) -> str:
    lines = [f"## {notes.title} ({notes.paper}, {notes.pages} pages)"]
    if notes.authors:
        lines.append(", ".join(notes.authors[:12]) + (" et al." if len(notes.authors) > 12 else ""))
    if notes.url:
        lines.append(notes.url)
    for field, heading in NOTE_HEADINGS.items():
        points = getattr(notes, field)
        lines.append(f"\n{heading}")
        lines += [f"- {p.render()}" for p in points] or ["- (nothing found in the paper)"]
    how = f"{notes.mode}, {notes.llm_calls} LLM call{'s' if notes.llm_calls != 1 else ''}"
    if notes.cached:
        how = f"from cache ({notes.mode})"
    if notes.truncated:
        how += "; paper longer than papers.max_map_calls allows: each passage shortened"
    lines.append(f"\n_{how}_")
    return "\n".join(lines)


def render_answer(answer: PaperAnswer) -> str:
    several = len(answer.papers) > 1
    lines = [f"## {answer.question}"]
    lines += [f"- {p.render(with_paper=several)}" for p in answer.points] or [
        "- The model gave no usable answer; see the notes above."
    ]
    return "\n".join(lines)


def render_report(report: PaperReport) -> str:
    """The report for a person (`oncall paper`): titles and authors come from the PDF, so
    control characters are replaced (oncall/core/text.py) before a terminal sees them."""
    parts = [render_notes(n) for n in report.notes]
    if report.answer is not None:
        parts.append(render_answer(report.answer))
    return printable("\n\n".join(parts), multiline=True)


def unsupported_numbers(report: PaperReport) -> list[str]:
    """Numbers in the notes/answer that the papers do not contain (to flag to a reader)."""
    points = [p for n in report.notes for p in n.points()]
    if report.answer is not None:
        points += report.answer.points
    return list(dict.fromkeys(x for p in points for x in p.unsupported))


def report_hits(report: PaperReport) -> list[DocHit]:
    """The report as citable evidence for the agent: notes per paper, then the answer."""
    hits = [
        DocHit(
            chunk_id=f"paper:{n.paper}:notes",
            doc_id=n.paper,
            source=n.url or n.paper,
            title=n.title,
            section="reading notes",
            page=None,
            text=render_notes(n),
            score=1.0,
            similarity=1.0,
        )
        for n in report.notes
    ]
    if report.answer is not None:
        a = report.answer
        hits.append(
            DocHit(
                chunk_id=f"paper:{'+'.join(a.papers)}:answer",
                doc_id=", ".join(a.papers),
                source=report.notes[0].url if len(report.notes) == 1 else "",
                title=report.notes[0].title if len(report.notes) == 1 else "papers",
                section=f"answer to: {a.question[:80]}",
                page=None,
                text=render_answer(a),
                score=1.0,
                similarity=1.0,
            )
        )
    return hits
