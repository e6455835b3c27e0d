"""Reading indexed documents back for people: the document view behind citation links,
and example questions for an empty chat.

Both read only the index (the text extracted at ingest), never the filesystem, and apply
the same ACL as search: a document is shown to a principal whose read groups meet its
file record's groups, and a document they may not read looks exactly like one that does
not exist. Documents are looked up by their index key (the file record's id, a UUID), so
no path from a URL is ever resolved.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ingest.store import FILE, FileRecord, Hit, chunk_point_id
from oncall.core.identity import Principal

MAX_CHUNKS = 5000  # a document view shows at most this many chunks
EXAMPLES = 4
_EXAMPLE_FILES = 24  # files sampled for example questions
_EXAMPLE_TTL_S = 300.0
# Headings that say nothing a question could be about.
_GENERIC = re.compile(
    r"^(what it does|at a glance|overview|introduction|summary|contents|table of contents|"
    r"about|notes?|references?|see also|appendix.*|\d+)$",
    re.IGNORECASE,
)


class ReadableIndex(Protocol):
    """What the views need from the index (`ingest.store.DocStore` has it)."""

    def get(self, ids: Sequence[str]) -> list[Hit]: ...

    def indexed_files(self) -> dict[str, FileRecord]: ...


@dataclass(frozen=True)
class DocChunk:
    id: str
    index: int
    section: str
    page: int | None
    text: str


@dataclass
class Document:
    key: str
    record: FileRecord
    title: str
    chunks: list[DocChunk] = field(default_factory=list)
    updated_at: str = ""


def may_read(principal: Principal, acl: Sequence[str]) -> bool:
    """The search filter's rule: any shared group (everyone is in `public`)."""
    return bool(set(acl) & set(principal.read_groups))


def load_document(index: ReadableIndex, key: str, principal: Principal) -> Document | None:
    """The live version of the document `key`, or None when there is no such document or
    `principal` may not read it (the caller answers both with the same 404)."""
    try:
        key = str(uuid.UUID(key))
    except ValueError:
        return None
    found = index.get([key])
    if not found or found[0].payload.get("kind") != FILE:
        return None
    record = FileRecord.from_payload(found[0].payload)
    if not may_read(principal, record.acl):
        return None
    ids = [chunk_point_id(record.source, record.version, i) for i in range(record.chunks)]
    hits = sorted(index.get(ids[:MAX_CHUNKS]), key=lambda h: h.payload.get("chunk_index", 0))
    first = hits[0].payload if hits else {}
    chunks = [
        DocChunk(h.id, int(h.payload.get("chunk_index", 0)), str(h.payload.get("section", "")),
                 h.payload.get("page"), h.text)
        for h in hits
    ]  # fmt: skip
    title = str(first.get("title") or record.doc_id)
    return Document(key, record, title, chunks, str(first.get("updated_at", "")))


class ExampleQuestions:
    """A few questions for an empty chat, made from section headings of documents the
    asker may read (or the configured list), cached per set of read groups."""

    def __init__(self, index: ReadableIndex, configured: Sequence[str] = ()):
        self.index = index
        self.configured = list(configured)
        self._cache: dict[tuple[str, ...], tuple[float, list[str]]] = {}
        self._lock = threading.Lock()

    def for_user(self, principal: Principal) -> list[str]:
        if self.configured:
            return self.configured[:EXAMPLES]
        groups = tuple(principal.read_groups)
        with self._lock:
            cached = self._cache.get(groups)
        if cached and time.monotonic() - cached[0] < _EXAMPLE_TTL_S:
            return cached[1]
        questions = self._from_index(principal)
        with self._lock:
            self._cache[groups] = (time.monotonic(), questions)
        return questions

    def _from_index(self, principal: Principal) -> list[str]:
        files = [f for f in self.index.indexed_files().values() if may_read(principal, f.acl)]
        # A stable spread over the corpus, not the first files alphabetically.
        files.sort(key=lambda f: hashlib.sha1(f.source.encode()).hexdigest())
        files = files[:_EXAMPLE_FILES]
        ids = [
            chunk_point_id(f.source, f.version, i) for f in files for i in range(min(f.chunks, 4))
        ]
        by_source: dict[str, list[dict[str, Any]]] = {}
        for hit in self.index.get(ids):
            by_source.setdefault(str(hit.payload.get("source", "")), []).append(hit.payload)
        questions: list[str] = []
        for f in files:
            question = _question(by_source.get(f.source, []))
            if question and question not in questions:
                questions.append(question)
            if len(questions) == EXAMPLES:
                break
        return questions


def _question(chunks: list[dict[str, Any]]) -> str | None:
    """A question about one document: a heading that is a question already, else the
    first specific section ("Tell me about rate limits in auth-gateway"), else its title."""
    chunks = sorted(chunks, key=lambda p: p.get("chunk_index", 0))
    title = next((str(p["title"]).strip() for p in chunks if p.get("title")), "")
    sections = [str(p.get("section", "")).split(" > ")[-1].strip() for p in chunks]
    for section in sections:
        if section.endswith("?") and 3 <= len(section.split()) <= 16:
            return section
    if not title or len(title) > 80:
        return None
    for section in sections:
        if section and not _GENERIC.match(section) and len(section) <= 60:
            topic = section[0].lower() + section[1:] if not section[:2].isupper() else section
            return f"Tell me about {topic} in {title}"
    return f"What is {title}?"
