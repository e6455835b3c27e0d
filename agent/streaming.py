"""Live events of one agent turn, for front ends that show progress (web chat SSE, the
OpenAI-compatible endpoint).

`Agent.stream` runs the graph with LangGraph's `stream_mode=["updates", "messages"]`:
"updates" says which node finished (route decided, tools asked for, tools done), and
"messages" carries the chat model's tokens as they are generated. This module turns both
into a few plain events; it knows nothing about HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, AIMessageChunk

if TYPE_CHECKING:
    from agent.answer import Answer

# Nodes whose model output may be the answer the user reads.
ANSWER_NODES = frozenset({"answer_direct", "plan"})
# A DEEP step whose text starts like this is probably a tool call written as text (small
# models, oncall/llm/toolcalls.py): its tokens are held back instead of flashing JSON at users.
_TOOL_CALL_STARTS = ("{", "[", "`", "<")


@dataclass(frozen=True)
class AgentEvent:
    """One step of a turn.

    `type` is one of: `route` (data: route, reason, confidence), `retrieval` (data: hits),
    `tool_start` (data: calls [{id, name, args}]), `tool_end` (data: results [{name, ok,
    ms, results, files}]), `token` (data: text), `draft_reset` (the tokens shown so far
    were a tool request after all: clear them), `answer` (the final `Answer`, recorded
    like `Agent.ask` records it; `answer.pending` is set when a write waits for approval).
    """

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    answer: Answer | None = None


class TurnEvents:
    """Translates one turn's LangGraph stream parts into `AgentEvent`s (stateful: it
    tracks the draft being streamed and the tool calls already reported)."""

    def __init__(self) -> None:
        self._message_id: str | None = None
        self._held = ""  # DEEP-step text not yet shown (may be a tool call)
        self._holding = False
        self._streamed = False  # tokens of the current model call were emitted
        self._tools_reported = 0

    def feed(self, mode: str, chunk: Any) -> Iterator[AgentEvent]:
        if mode == "messages":
            message, meta = chunk
            yield from self._token(message, meta)
        elif mode == "updates" and isinstance(chunk, dict):
            for node, update in chunk.items():
                if isinstance(update, dict):
                    yield from self._update(node, update)

    def _token(self, message: Any, meta: dict[str, Any]) -> Iterator[AgentEvent]:
        node = meta.get("langgraph_node")
        if not isinstance(message, AIMessageChunk) or node not in ANSWER_NODES:
            return
        if message.id != self._message_id:  # a new model call
            self._message_id, self._held, self._streamed = message.id, "", False
            self._holding = node == "plan"
        text = message.content if isinstance(message.content, str) else ""
        if not text:
            return
        if self._holding:
            self._held += text
            start = self._held.lstrip()
            if not start or start.startswith(_TOOL_CALL_STARTS):
                return  # undecided, or looks like a tool call: keep holding
            text, self._held, self._holding = self._held, "", False
        self._streamed = True
        yield AgentEvent("token", {"text": text})

    def _update(self, node: str, update: dict[str, Any]) -> Iterator[AgentEvent]:
        if node == "route":
            self._tools_reported = 0
            yield AgentEvent(
                "route",
                {
                    "route": update.get("route"),
                    "reason": update.get("route_reason", ""),
                    "confidence": update.get("route_confidence", 1.0),
                },
            )
        elif node == "answer_direct":
            yield AgentEvent("retrieval", {"hits": len(update.get("hits", []))})
        elif node == "finalize" and not self._streamed and update.get("answer"):
            # Answers are checked before anyone sees them (agent/grounding.py): the model's
            # JSON is never streamed, and the checked text arrives here in one piece.
            self._streamed = True
            yield AgentEvent("token", {"text": update["answer"]})
        elif node == "plan":
            last = (update.get("messages") or [None])[-1]
            if isinstance(last, AIMessage) and last.tool_calls:
                if self._streamed:
                    self._streamed = False
                    yield AgentEvent("draft_reset")
                calls = [
                    {"id": c["id"], "name": c["name"], "args": c["args"]} for c in last.tool_calls
                ]
                yield AgentEvent("tool_start", {"calls": calls})
        elif node == "act":
            records = update.get("tool_calls", [])
            new = records[self._tools_reported :]
            self._tools_reported = len(records)
            results = [
                {"name": r.name, "ok": r.ok, "ms": round(r.ms, 1), "results": len(r.result_ids),
                 "files": len(r.files)}
                for r in new
            ]  # fmt: skip
            yield AgentEvent("tool_end", {"results": results})


def event_json(event: AgentEvent) -> dict[str, Any]:
    """An event without its `Answer` (front ends serialise the answer their own way)."""
    return {"type": event.type, **event.data}
