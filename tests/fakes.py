"""Test doubles shared by the test tiers: a scripted chat model, a fake embedder, a fake store.

Unit tests use only these; nothing here opens a socket or loads a model.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from ingest.sparse import SparseVector, tokenize
from ingest.store import Hit


class ScriptedChatModel(BaseChatModel):
    """Replies with queued texts (or whole AIMessages, e.g. with tool calls) in order and
    records every prompt it was sent and the tools it was offered."""

    replies: list[str | AIMessage] = Field(default_factory=list)
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    tools_offered: list[list[Any]] = Field(default_factory=list)
    output_tokens: int | None = None  # fixed usage per reply, to test token budgets

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ScriptedChatModel:  # type: ignore[override]
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

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        vec = [0.0] * self.dim
        for term in tokenize(text):
            vec[hashlib.md5(term.encode()).digest()[0] % self.dim] += 1.0
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        return [v / norm for v in vec]


class FakeStore:
    """Returns preset chunks, scored by the fake embedder's cosine to the query."""

    def __init__(self, chunks: Sequence[dict[str, Any]], embedder: HashEmbedder):
        self.chunks = list(chunks)
        self.embedder = embedder
        self.queries: list[list[float]] = []

    def hybrid_search(
        self, dense: list[float], sparse: SparseVector, limit: int, prefetch_limit: int
    ) -> list[Hit]:
        self.queries.append(dense)
        scored = []
        for i, payload in enumerate(self.chunks):
            vec = self.embedder.embed_query(payload["text"])
            sim = sum(a * b for a, b in zip(dense, vec, strict=True))
            scored.append(Hit(f"chunk-{i}", sim, sim, payload))
        return sorted(scored, key=lambda h: -h.score)[:limit]
