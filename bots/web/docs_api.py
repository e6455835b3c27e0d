"""Documents for readers: `GET /api/docs/{key}` (an indexed document's text, for the page
behind citation links, `/docs/view/{key}`) and `GET /api/examples` (questions for an empty
chat). Both answer as the signed-in user, with the same ACL as search (bots/web/docview.py).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from bots.web.api import User, chat_service
from bots.web.docview import Document, ExampleQuestions, load_document
from bots.web.guards import ApiError
from bots.web.links import SourceLinks

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["documents"])


class DocumentChunk(BaseModel):
    id: str
    index: int
    section: str
    page: int | None
    text: str


class DocumentView(BaseModel):
    key: str
    title: str
    location: str = Field(description="The document's path within its source (no server path).")
    source_name: str = Field(description="The registry source it was indexed from, if any.")
    url: str | None = Field(description="Where the original lives, when it is on the web.")
    updated_at: str
    chunks: list[DocumentChunk]
    highlight: int | None = Field(description="Index in `chunks` of the requested chunk.")
    stale: bool = Field(
        description="A chunk was asked for that is no longer in the live version (the "
        "document changed since the answer cited it)."
    )


class Examples(BaseModel):
    questions: list[str]


@router.get(
    "/docs/{key}",
    response_model=DocumentView,
    summary="An indexed document you may read, as extracted at ingest",
    description="`key` comes from a citation's URL (/docs/view/{key}?chunk=...). Unknown "
    "keys and documents your groups may not read are both 404.",
)
async def document(key: str, user: User, request: Request, chunk: str = "") -> dict[str, Any]:
    index = chat_service(request).agent.deps.store
    doc = await asyncio.to_thread(load_document, index, key, user)
    if doc is None:
        raise ApiError(404, "document_not_found", f"no document {key!r} that you may read")
    return _view(doc, chunk, request.app.state.links)


def _view(doc: Document, chunk: str, links: SourceLinks) -> dict[str, Any]:
    ids = [c.id for c in doc.chunks]
    original = links.url(doc.record.source)
    external = None if original.startswith("/") else original  # not the view itself
    return {
        "key": doc.key,
        "title": doc.title,
        "location": doc.record.doc_id,
        "source_name": doc.record.source_name,
        "url": external,
        "updated_at": doc.updated_at,
        "chunks": [c.__dict__ for c in doc.chunks],
        "highlight": ids.index(chunk) if chunk in ids else None,
        "stale": bool(chunk) and chunk not in ids,
    }


@router.get(
    "/examples",
    response_model=Examples,
    summary="Example questions for an empty chat",
    description="The configured list (web.example_questions), else questions made from "
    "section headings of documents you may read. No model call.",
)
async def examples(user: User, request: Request) -> dict[str, Any]:
    maker: ExampleQuestions = request.app.state.examples
    try:
        questions = await asyncio.to_thread(maker.for_user, user)
    except Exception as exc:  # the index is down or empty: an empty chat still works
        log.warning("example questions unavailable: %s", exc)
        questions = []
    return {"questions": questions}
