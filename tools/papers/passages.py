"""A paper as citable passages, and the bookkeeping that keeps notes tied to them.

A `Passage` is a run of paragraphs of one section (or one table) with the `Cite` a reader
needs to find it. Everything the model reads is a passage headed by its bracketed cite, so
the model can copy cites; cites it writes are resolved back to real sections
(`resolve_cites`), invented ones are dropped, and points left without one are attributed to
the passage sharing most of their terms (`attribute`). `extract_points` quotes the paper
itself when the model gave nothing for a part of the notes.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from ingest.sparse import tokenize
from tools.papers.model import Cite, NoteField, Paper, Point, Section

MIN_SHARE = 0.4  # share of a point's terms a passage must hold to be cited for it
# A sentence ends at . ! ? before a capital, except after an initial ("A. Turing") or a
# common abbreviation; "0.93. On" ends one, "e.g. BM25" and "Fig. 3" do not.
_SENTENCE = re.compile(
    r"(?<=[.!?])(?<!\b[A-Z]\.)(?<!\be\.g\.)(?<!\bi\.e\.)(?<!\bal\.)(?<!\bFig\.)(?<!\bEq\.)"
    r"\s+(?=[A-Z(])"
)
_CITE = re.compile(r"\[([^\[\]]*(?:§|\bpp?\.)[^\[\]]*)\]")
_CITE_PARTS = re.compile(
    r"^(?:(P\d+)\s+)?(?:[^§]*§\s*)?([^,]*?)\s*(?:,\s*(?:Table\s+\S+,\s*)?pp?\.\s*(\d+)(?:\s*[-–]\s*(\d+))?)?$"
)


@dataclass(frozen=True)
class Passage:
    cite: Cite
    text: str

    def render(self, with_paper: bool = False) -> str:
        return f"{self.cite.render(with_paper)}\n{self.text}"


def paper_passages(paper: Paper, max_chars: int) -> list[Passage]:
    """Sections cut into passages of at most `max_chars`, then one passage per table."""
    out: list[Passage] = []
    for section in paper.sections:
        out.extend(_section_passages(paper.label, section, max_chars))
    for table in paper.tables:
        label = table.caption.split(":")[0].split(".")[0].strip()
        where = f"{table.section}, {label}" if table.section else f"§{label}"
        text = f"{table.caption}\n{table.text}"[:max_chars]
        out.append(Passage(Cite(paper=paper.label, section=where, page=table.page), text))
    return out


def _section_passages(label: str, section: Section, max_chars: int) -> list[Passage]:
    out: list[Passage] = []
    pages: list[int] = []
    texts: list[str] = []

    def flush() -> None:
        if texts:
            cite = Cite(paper=label, section=section.label, page=pages[0], page_end=pages[-1])
            out.append(Passage(cite, "\n\n".join(texts)))
            pages.clear()
            texts.clear()

    for paragraph in section.paragraphs:
        for piece in _cut(paragraph.text, max_chars):
            if texts and sum(len(t) + 2 for t in texts) + len(piece) > max_chars:
                flush()
            pages.append(paragraph.page)
            texts.append(piece)
    flush()
    return out


def _cut(text: str, max_chars: int) -> list[str]:
    """Split a long paragraph at sentence ends (at spaces for a run-on sentence)."""
    if len(text) <= max_chars:
        return [text]
    pieces: list[str] = []
    current = ""
    for sentence in _SENTENCE.split(text):
        while len(sentence) > max_chars:
            cut = sentence.rfind(" ", 0, max_chars)
            cut = cut if cut > 0 else max_chars
            pieces.append(sentence[:cut])
            sentence = sentence[cut:].lstrip()
        if current and len(current) + 1 + len(sentence) > max_chars:
            pieces.append(current)
            current = sentence
        else:
            current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return pieces


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.split(text) if s.strip()]


def pack(passages: list[Passage], max_chars: int, with_paper: bool = False) -> list[str]:
    """Consecutive passages joined into prompts of at most `max_chars` each."""
    batches: list[str] = []
    current: list[str] = []
    size = 0
    for passage in passages:
        text = passage.render(with_paper)
        if current and size + len(text) + 2 > max_chars:
            batches.append("\n\n".join(current))
            current, size = [], 0
        current.append(text)
        size += len(text) + 2
    if current:
        batches.append("\n\n".join(current))
    return batches


def shrink(passages: list[Passage], total_chars: int) -> list[Passage]:
    """At most `total_chars` of text, shared fairly between sections (a short section keeps
    all of its text, the others their opening): a paper too long for the call budget is
    read in part, but every section is seen."""
    sections: dict[str, list[Passage]] = {}
    for p in passages:
        sections.setdefault(p.cite.section, []).append(p)
    sizes = {name: sum(len(p.text) for p in group) for name, group in sections.items()}
    share, left = total_chars // max(1, len(sections)), total_chars
    for name in sorted(sizes, key=sizes.__getitem__):  # small sections first, leftovers on
        allowed = min(sizes[name], share)
        sizes[name] = allowed
        left -= allowed
        remaining = len([n for n in sizes if sizes[n] > share])
        share = max(share, left // max(1, remaining)) if remaining else share
    out = []
    for name, group in sections.items():
        budget = sizes[name]
        for i, p in enumerate(group):
            if i and budget < 120:
                break
            limit = max(budget, 120)
            text = p.text if len(p.text) <= limit else _cut(p.text, limit)[0]
            out.append(Passage(p.cite, text))
            budget -= len(text)
    return out


def resolve_cites(text: str, passages: list[Passage], tags: dict[str, str]) -> list[Cite]:
    """The cites written in `text` that name a real section (by label, number or title) of
    a paper in play; `tags` maps prompt tags (P1, P2) to paper labels."""
    cites: list[Cite] = []
    for raw in _CITE.findall(text):
        parts = _CITE_PARTS.match(raw.strip())
        if not parts:
            continue
        tag, name, page = parts.group(1), parts.group(2).strip().lower(), parts.group(3)
        paper = tags.get(tag or "", "")
        for p in passages:
            if paper and p.cite.paper != paper:
                continue
            if not _same_section(name, p.cite.section):
                continue
            if (
                page
                and p.cite.page
                and not (p.cite.page <= int(page) <= (p.cite.page_end or p.cite.page))
            ):
                continue
            cite = (
                p.cite.model_copy(update={"page": int(page), "page_end": None}) if page else p.cite
            )
            cites.append(cite)
            break
    return cites


def _same_section(written: str, label: str) -> bool:
    label = label.lower().lstrip("§")
    number, _, title = label.partition(" ")
    written = written.lstrip("§").strip()
    return bool(written) and written in {label, number, title, label.split(",")[0]}


def attribute(text: str, passages: list[Passage]) -> list[Cite]:
    """The passage holding most of `text`'s terms (numbers count double), if it holds at
    least MIN_SHARE of them."""
    terms = Counter(tokenize(text))
    if len(terms) < 2:
        return []
    best, best_share = None, 0.0
    for passage in passages:
        present = set(tokenize(passage.text))
        weight = sum((2 if t[0].isdigit() else 1) for t in terms)
        share = sum((2 if t[0].isdigit() else 1) for t in terms if t in present) / weight
        if share > best_share:
            best, best_share = passage, share
    return [best.cite] if best is not None and best_share >= MIN_SHARE else []


_PATTERNS: dict[NoteField, tuple[re.Pattern[str], re.Pattern[str], int]] = {
    # field: (sections to look in, sentences to take, how many)
    "problem": (re.compile(r"abstract|introduction|front"), re.compile(r"."), 2),
    "method": (
        re.compile(r"abstract|method|approach|model"),
        re.compile(r"\bwe (propose|present|introduce|develop|design|train|use)\b"
                   r"|\bour (method|approach|model|system)\b", re.I),
        2,
    ),
    "results": (
        re.compile(r"abstract|result|experiment|evaluation|analysis"),
        re.compile(r"\d"),
        3,
    ),
    "limitations": (
        re.compile(r"limitation|conclusion|discussion|future"),
        re.compile(r"limitation|\blimited\b|future work|\bdoes not\b|\bdo not\b|\bcannot\b"
                   r"|\bfails?\b|\bonly\b", re.I),
        2,
    ),
}  # fmt: skip


def extract_points(paper: Paper, field: NoteField) -> list[Point]:
    """Sentences quoted from the paper for `field` (e.g. results: sentences with numbers
    from the abstract and result sections), for when the model wrote nothing there."""
    where, wanted, count = _PATTERNS[field]
    points: list[Point] = []
    for section in paper.sections:
        if not where.search(section.title.lower()):
            continue
        for paragraph in section.paragraphs:
            for sentence in sentences(paragraph.text):
                if wanted.search(sentence) and 20 <= len(sentence) <= 400:
                    cite = Cite(paper=paper.label, section=section.label, page=paragraph.page)
                    points.append(Point(text=sentence.strip(), cites=[cite], extracted=True))
                if len(points) >= count:
                    return points
    return points


def relevant(passages: list[Passage], question: str, max_chars: int) -> list[Passage]:
    """Passages most related to `question` (BM25-like term overlap), best first, within
    `max_chars` in all, then put back in reading order."""
    query = set(tokenize(question))
    docs = [Counter(tokenize(p.text)) for p in passages]
    n = len(docs) or 1
    df = Counter(t for d in docs for t in set(d) if t in query)
    scored = []
    for i, doc in enumerate(docs):
        length = sum(doc.values()) or 1
        score = sum(
            math.log(1 + n / df[t]) * doc[t] * 2.2 / (doc[t] + 1.2 * (0.25 + 0.75 * length / 150))
            for t in query
            if doc[t]
        )
        scored.append((score, i))
    chosen, size = [], 0
    for _score, i in sorted(scored, key=lambda s: (-s[0], s[1])):
        cost = len(passages[i].text) + 60
        if size + cost > max_chars:
            continue
        chosen.append(i)
        size += cost
    return [passages[i] for i in sorted(chosen)]
