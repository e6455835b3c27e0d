"""Test doubles shared by the test tiers: a scripted chat model, a fake embedder, a fake store.

Unit tests use only these; nothing here opens a socket or loads a model.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field

from ingest.sparse import SparseVector, tokenize
from ingest.store import CHUNK, FILE, FileRecord, Hit, chunk_point_id, file_point_id


class ScriptedChatModel(BaseChatModel):
    """Replies with queued texts (or whole AIMessages, e.g. with tool calls) in order and
    records every prompt it was sent and the tools it was offered."""

    replies: list[str | AIMessage] = Field(default_factory=list)
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    tools_offered: list[list[Any]] = Field(default_factory=list)
    output_tokens: int | None = None  # fixed usage per reply, to test token budgets

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:
        self.tools_offered.append(list(tools))
        return self

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(list(messages))
        if not self.replies:
            raise AssertionError("ScriptedChatModel ran out of replies")
        reply = self.replies.pop(0)
        message = reply if isinstance(reply, AIMessage) else AIMessage(content=reply)
        text = str(message.content)
        message.usage_metadata = {
            "input_tokens": sum(len(str(m.content).split()) for m in messages),
            "output_tokens": self.output_tokens
            if self.output_tokens is not None
            else len(text.split()),
            "total_tokens": 0,
        }
        return ChatResult(generations=[ChatGeneration(message=message)])


class HashEmbedder:
    """Bag-of-words vectors hashed into 64 dims: similar wording gives similar vectors."""

    dim = 64
    name = "hash-64 (test fake)"

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_queries(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for term in tokenize(text):
            vec[hashlib.md5(term.encode()).digest()[0] % self.dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]


class FakeStore:
    """Returns preset chunks, scored by the fake embedder's cosine to the query.

    Laid out like `DocStore`: chunks of one `source` are one file (version "v1", chunk
    indexes in list order), ids are the real derived ids, and `get`/`indexed_files` answer
    for chunk and file records, so the document view and example questions work on it.
    """

    VERSION = "v1"

    def __init__(self, chunks: Sequence[dict[str, Any]], embedder: HashEmbedder):
        self.chunks = list(chunks)
        self.embedder = embedder
        self.queries: list[list[float]] = []
        self.groups_seen: list[list[str]] = []
        self._points: dict[str, dict[str, Any]] = {}
        self._ids: list[str] = []
        files: dict[str, list[dict[str, Any]]] = {}
        for payload in self.chunks:
            files.setdefault(str(payload.get("source", "")), []).append(payload)
        for source, members in files.items():
            acl = tuple(members[0].get("acl", ["public"]))
            first = members[0]
            doc_id, name = str(first.get("doc_id", "")), str(first.get("source_name", ""))
            record = FileRecord(source, self.VERSION, "fake", acl, doc_id, name, len(members))
            self._points[file_point_id(source)] = record.payload()
            for index, payload in enumerate(members):
                point = {**payload, "kind": CHUNK, "source": source, "version": self.VERSION,
                         "chunk_index": index, "acl": list(acl)}  # fmt: skip
                self._points[chunk_point_id(source, self.VERSION, index)] = point
        by_payload = {id(p): i for i, p in enumerate(self.chunks)}
        self._ids = [""] * len(self.chunks)
        for point_id, point in self._points.items():
            if point.get("kind") == CHUNK:
                members = files[point["source"]]
                self._ids[by_payload[id(members[point["chunk_index"]])]] = point_id

    def search(
        self,
        dense: list[float],
        sparse: SparseVector,
        groups: Sequence[str],
        limit: int,
        prefetch_limit: int,
        mode: str = "hybrid",
        **_: Any,  # embedder name, fusion constant: one fake embedder, no fusion here
    ) -> list[Hit]:
        """Chunks without an `acl` payload are public; others need a shared group."""
        self.queries.append(dense)
        self.groups_seen.append(list(groups))
        scored = []
        for i, payload in enumerate(self.chunks):
            if not set(payload.get("acl", ["public"])) & set(groups):
                continue
            vec = self.embedder.embed_query(payload["text"])
            sim = sum(a * b for a, b in zip(dense, vec, strict=True))
            scored.append(Hit(self._ids[i], sim, sim, self._points[self._ids[i]]))
        return sorted(scored, key=lambda h: -h.score)[:limit]

    def get(self, ids: Sequence[str]) -> list[Hit]:
        """Chunk or file records by id (no ACL filtering, like `DocStore.get`)."""
        return [Hit(i, 0.0, 0.0, self._points[i]) for i in ids if i in self._points]

    def indexed_files(self) -> dict[str, FileRecord]:
        return {
            p["source"]: FileRecord.from_payload(p)
            for p in self._points.values()
            if p.get("kind") == FILE
        }


def fake_catalogue(
    audit_path: Path, calls: list[tuple[str, dict[str, Any], str]], state: Any = None
) -> Any:
    """An internal-tool catalogue over in-process fakes (no sockets): `get_oncall` (read,
    everyone), `create_ticket` (write, groups oncall/sre) and `admin_reset` (write, admins).
    Every executed call is appended to `calls` as (tool, args, user_id). With `state` (an
    `oncall.appstate.AppState`), audit entries and rate limits go there, not `audit_path`."""
    from tools.internal.audit import AuditLog
    from tools.internal.catalogue import Catalogue, InternalTool
    from tools.internal.policy import RateLimiter
    from tools.internal.schema import SchemaConverter

    def invoker(name: str) -> Any:
        def invoke(args: dict[str, Any], principal: Any, timeout_s: float) -> str:
            calls.append((name, args, principal.user_id))
            return f'{{"tool": "{name}", "ok": true}}'

        return invoke

    convert = SchemaConverter({}, "fake catalogue")
    specs: list[tuple[str, str, list[str], dict[str, Any], str]] = [
        ("get_oncall", "read", ["public"], {"team": {"type": "string"}}, "Who is on call."),
        ("create_ticket", "write", ["oncall", "sre"],
         {"title": {"type": "string", "minLength": 5},
          "severity": {"type": "string", "enum": ["sev1", "sev2", "sev3"]}},
         "Open an incident ticket."),
        ("admin_reset", "write", ["admins"], {"target": {"type": "string"}}, "Reset things."),
    ]  # fmt: skip
    tools = []
    for name, access, groups, props, doc in specs:
        schema = {"type": "object", "properties": props, "required": list(props)[:1]}
        model = convert.model(name, schema, doc=doc)
        limiter = RateLimiter(100, limits=state.rate_limits() if state else None)
        tool = InternalTool(name, "fake", doc, model, access, groups, 5.0, limiter, invoker(name))  # type: ignore[arg-type]
        tools.append(tool)
    sink = state.audit() if state else None
    return Catalogue(tools, AuditLog(audit_path, secrets=["s3cr3t-api-key"], sink=sink))


class StreamingScriptedChatModel(ScriptedChatModel):
    """A `ScriptedChatModel` that also streams: each reply arrives word by word (with
    `token_delay_s` between words, standing in for generation time), so LangGraph's
    "messages" stream sees tokens. With `default_reply`, an empty queue repeats it
    (load tests) instead of failing."""

    token_delay_s: float = 0.0
    default_reply: str | None = None

    def _next_reply(self, messages: list[BaseMessage]) -> AIMessage:
        self.calls.append(list(messages))
        if not self.replies and self.default_reply is not None:
            return AIMessage(content=self.default_reply)
        if not self.replies:
            raise AssertionError("StreamingScriptedChatModel ran out of replies")
        reply = self.replies.pop(0)
        return reply if isinstance(reply, AIMessage) else AIMessage(content=reply)

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        chunks = list(self._stream(messages, stop, run_manager, **kwargs))
        message = chunks[0].message
        for chunk in chunks[1:]:
            message = message + chunk.message
        return ChatResult(generations=[ChatGeneration(message=message)])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        import time

        reply = self._next_reply(messages)
        text = str(reply.content)
        words = re.findall(r"\S+\s*|\s+", text) or [""]
        usage = {
            "input_tokens": sum(len(str(m.content).split()) for m in messages),
            "output_tokens": len(text.split()),
            "total_tokens": 0,
        }
        for i, word in enumerate(words):
            if i and self.token_delay_s:
                time.sleep(self.token_delay_s)
            last = i == len(words) - 1
            chunk = AIMessageChunk(
                content=word,
                tool_call_chunks=_tool_call_chunks(reply) if last else [],
                usage_metadata=usage if last else None,
            )
            yield ChatGenerationChunk(message=chunk)  # the base class reports the token


def _tool_call_chunks(reply: AIMessage) -> list[Any]:
    return [
        {"name": c["name"], "args": json.dumps(c["args"]), "id": c["id"], "index": i}
        for i, c in enumerate(reply.tool_calls)
    ]


def claims_reply(*claims: tuple[int, str, str]) -> str:
    """A DIRECT answer as the schema-constrained model writes it: (source, quote, text)."""
    items = [{"source": s, "quote": q, "text": t} for s, q, t in claims]
    return json.dumps({"claims": items})


def answer_action(*claims: tuple[int, str, str]) -> str:
    """A DEEP step that answers (agent/actions.py), claims as in `claims_reply`."""
    items = [{"source": s, "quote": q, "text": t} for s, q, t in claims]
    return json.dumps({"action": "answer", "claims": items})


def call_action(*calls: tuple[str, dict[str, Any]]) -> str:
    """A DEEP step that calls tools: (tool name, arguments) pairs."""
    return json.dumps({"action": "call", "calls": [{"tool": n, "args": a} for n, a in calls]})


def plan_reply(*calls: tuple[str, dict[str, Any]]) -> str:
    """The seed planner's reply (agent/tool_planning.py): (tool name, arguments) pairs."""
    return json.dumps({"calls": [{"tool": n, "args": a} for n, a in calls]})


def code_reply(code: str) -> str:
    """The computation path's program (agent/compute.py)."""
    return json.dumps({"code": code})
