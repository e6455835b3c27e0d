"""Papers already ingested into the `papers` collection (`papers.collection`).

A team's reading list is ingested like any doc set, into its own collection:
`ONCALL_STORE__COLLECTION=papers oncall ingest ~/papers --acl research`. Such a paper is
named by its path, file name or (part of) its title, and only found by askers whose
groups may read it. When its file is still on disk with the indexed content hash, the PDF
is re-read for the full structure; otherwise the paper is rebuilt from its indexed chunks
(section path, page and text survive ingest; authors and table layout do not).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ingest.store import DocStore, FileRecord
from oncall.core.settings import StoreSettings
from tools.papers.model import Paper, PaperError, Paragraph, Section

_LOOKUP_FIELDS = ("source", "version", "title", "chunk_index")


@dataclass(frozen=True)
class IndexedPaper:
    record: FileRecord
    title: str
    data: bytes | None  # the PDF, when its file is on disk unchanged
    paper: Paper | None  # rebuilt from chunks, when it is not


def find_indexed(
    ref: str, store_settings: StoreSettings, data_dir: Path, groups: Sequence[str]
) -> IndexedPaper | None:
    """The indexed paper `ref` names that `groups` may read; None if no such paper.
    Several matching titles raise `paper_ambiguous` with the candidates."""
    with DocStore(store_settings, data_dir) as store:
        if not store.exists():
            return None
        readable = {
            source: rec
            for source, rec in store.indexed_files().items()
            if set(rec.acl) & set(groups)
        }
        if not readable:
            return None
        titles = _titles(store, readable)
        matches = _match(ref, readable, titles)
        if len(matches) > 1:
            names = "; ".join(f"{titles.get(s, s)} ({readable[s].doc_id})" for s in matches[:5])
            raise PaperError(
                "paper_ambiguous",
                f"{ref!r} matches several indexed papers: {names}. Be more specific",
            )
        if not matches:
            return None
        record = readable[matches[0]]
        title = titles.get(record.source, Path(record.source).stem)
        data = _unchanged_file(record)
        if data is not None:
            return IndexedPaper(record, title, data, None)
        return IndexedPaper(record, title, None, _rebuild(store, record, title))


def _titles(store: DocStore, readable: dict[str, FileRecord]) -> dict[str, str]:
    titles: dict[str, str] = {}
    for payload in store.chunk_payloads(_LOOKUP_FIELDS):
        source = payload.get("source", "")
        rec = readable.get(source)
        if rec is not None and payload.get("version") == rec.version and payload.get("title"):
            titles.setdefault(source, str(payload["title"]))
    return titles


def _match(ref: str, readable: dict[str, FileRecord], titles: dict[str, str]) -> list[str]:
    wanted = ref.strip().lower()
    exact = [
        s
        for s, rec in readable.items()
        if wanted in {s.lower(), rec.doc_id.lower(), Path(s).name.lower(), Path(s).stem.lower()}
    ]
    if exact or len(wanted) < 4:
        return exact
    return [s for s in readable if wanted in titles.get(s, "").lower()]


def _unchanged_file(record: FileRecord) -> bytes | None:
    path = Path(record.source)
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if hashlib.sha256(data).hexdigest() == record.content_hash else None


def _rebuild(store: DocStore, record: FileRecord, title: str) -> Paper:
    """A paper from the live version's chunks: sections from their section paths."""
    chunks = sorted(
        (
            p
            for p in store.chunk_payloads(
                ("source", "version", "chunk_index", "section", "page", "text")
            )
            if p.get("source") == record.source and p.get("version") == record.version
        ),
        key=lambda p: int(p.get("chunk_index", 0)),
    )
    sections: list[Section] = []
    for chunk in chunks:
        name = str(chunk.get("section") or "Text").split(" > ")[-1]
        page = int(chunk.get("page") or 1)
        if not sections or sections[-1].title != name:
            sections.append(Section(title=name, page=page))
        sections[-1].paragraphs.append(Paragraph(page=page, text=str(chunk.get("text", ""))))
    if not sections:
        raise PaperError(
            "paper_unreadable",
            f"{record.doc_id}: indexed without text; re-ingest it into the papers collection",
        )
    abstract = next((s.text for s in sections if s.title.lower() == "abstract"), "")
    return Paper(
        content_hash=record.content_hash,
        source=record.source,
        label=record.doc_id,
        title=title,
        abstract=abstract,
        sections=sections,
        pages=max(s.page_end for s in sections),
        url=record.source,
    )
