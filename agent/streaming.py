"""Live events of one agent turn, for front ends that show progress (web chat SSE, the
OpenAI-compatible endpoint).

`Agent.stream` runs the graph with LangGraph's `stream_mode=["tasks", "updates",
"messages", "custom"]`: "tasks" says which node starts, "updates" what a node decided
(route, tool calls asked for, tool results), "messages" carries the chat model's tokens as
they are generated, and "custom" the progress nodes report themselves
(`agent.progress.report_progress`, e.g. a doc search with its query). This module turns
all four into a few plain events; it knows nothing about HTTP, and nothing about
particular nodes except which ones may write the answer (`ANSWER_NODES`): steps come from
node names, tool-call messages and tool results, so they keep working when the graph
changes shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

if TYPE_CHECKING:
    from agent.answer import Answer

# Nodes whose model output may be the answer the user reads (tokens of other nodes, e.g.
# a paper summary made inside a tool, are never streamed as the answer).
ANSWER_NODES = frozenset({"answer_direct", "plan", "answer", "agent", "respond"})
# A DEEP step whose text starts like this is probably a tool call written as text (small
# models, oncall/llm/toolcalls.py): its tokens are held back instead of flashing JSON at users.
_TOOL_CALL_STARTS = ("{", "[", "`", "<")
_THINK_OPEN, _THINK_CLOSE = "<think>", "</think>"

# The event names, in the order a turn usually produces them (see `AgentEvent`).
EVENT_TYPES = (
    "route", "step", "search", "retrieval", "tool_start", "tool_end", "thinking", "token",
    "draft_reset", "cancelled", "answer",
)  # fmt: skip


@dataclass(frozen=True)
class AgentEvent:
    """One step of a turn.

    `type` is one of:
    - `route` (data: route, reason, confidence): DIRECT or DEEP was chosen;
    - `step` (data: node): a graph node started (`plan` of a DEEP turn reads as thinking);
    - `search` (data: query): a doc search started; `retrieval` (data: query, hits): done;
    - `tool_start` (data: calls [{id, name, args}]): the model asked for tools; they run
      next (a `search_docs` call is the DEEP loop's doc search, its query in `args`);
    - `tool_end` (data: results [{id, name, ok, ms, results, files}]);
    - `thinking` (data: text): the model's reasoning, when the model streams it;
    - `token` (data: text): answer text as it is written; `draft_reset`: the tokens shown
      so far were a tool request after all, clear them;
    - `cancelled`: the turn was stopped (`Agent.stream(cancel=...)`), nothing recorded;
    - `answer`: the final `Answer`, recorded like `Agent.ask` records it
      (`answer.pending` is set when a write waits for approval).
    """

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    answer: Answer | None = None


class TurnEvents:
    """Translates one turn's LangGraph stream parts into `AgentEvent`s (stateful: it
    tracks the draft being streamed, the route, and the tool calls in flight)."""

    def __init__(self) -> None:
        self._message_id: str | None = None
        self._held = ""  # DEEP-step text not yet shown (may be a tool call)
        self._holding = False
        self._thinking = False  # inside a <think> block
        self._streamed = False  # tokens of the current model call were emitted
        self._deep = False
        self._calls: dict[str, dict[str, Any]] = {}  # tool calls asked for, by id
        self._searches: set[str] = set()  # queries of search_docs calls in flight
        self._tools_reported = 0

    def feed(self, mode: str, chunk: Any) -> Iterator[AgentEvent]:
        if mode == "messages":
            message, meta = chunk
            yield from self._token(message, meta)
        elif mode == "updates" and isinstance(chunk, dict):
            for node, update in chunk.items():
                if isinstance(update, dict):
                    yield from self._update(node, update)
        elif mode == "tasks" and isinstance(chunk, dict) and "input" in chunk:
            name = str(chunk.get("name", ""))
            if name and not name.startswith("__"):
                yield AgentEvent("step", {"node": name})
        elif mode == "custom" and isinstance(chunk, dict):
            yield from self._custom(chunk)

    def _custom(self, chunk: dict[str, Any]) -> Iterator[AgentEvent]:
        kind = chunk.get("event")
        data = {k: v for k, v in chunk.items() if k != "event"}
        # A search that a reported search_docs call makes is already on screen.
        if kind in ("search", "retrieval") and data.get("query") not in self._searches:
            yield AgentEvent(str(kind), data)

    def _token(self, message: Any, meta: dict[str, Any]) -> Iterator[AgentEvent]:
        node = meta.get("langgraph_node")
        if not isinstance(message, AIMessageChunk) or node not in ANSWER_NODES:
            return
        if message.id != self._message_id:  # a new model call
            self._message_id, self._held, self._streamed = message.id, "", False
            self._holding, self._thinking = self._deep, False
        reasoning = _reasoning_text(message)
        if reasoning:
            yield AgentEvent("thinking", {"text": reasoning})
        text = message.content if isinstance(message.content, str) else ""
        if text:
            yield from self._text(text)

    def _text(self, text: str) -> Iterator[AgentEvent]:
        if self._thinking or self._holding:
            self._held += text
            start = self._held.lstrip()
            if self._thinking or start.startswith(_THINK_OPEN):
                yield from self._think()
                return
            if not start or _THINK_OPEN.startswith(start) or start.startswith(_TOOL_CALL_STARTS):
                return  # undecided, or looks like a tool call: keep holding
            text, self._held, self._holding = self._held, "", False
        self._streamed = True
        yield AgentEvent("token", {"text": text})

    def _think(self) -> Iterator[AgentEvent]:
        """Text inside <think>...</think> (a reasoning model without a reasoning parser)
        is shown as thinking; what follows the block is held or shown as usual."""
        held = self._held.lstrip() if not self._thinking else self._held
        if not self._thinking:
            held = held[len(_THINK_OPEN) :]
            self._thinking = True
        end = held.find(_THINK_CLOSE)
        if end < 0:
            keep = len(_THINK_CLOSE) - 1  # a closing tag may be split across tokens
            shown, self._held = held[:-keep] if len(held) > keep else "", held[-keep:]
            if shown:
                yield AgentEvent("thinking", {"text": shown})
            return
        if held[:end]:
            yield AgentEvent("thinking", {"text": held[:end]})
        self._thinking, self._held = False, ""
        rest = held[end + len(_THINK_CLOSE) :]
        if rest:
            yield from self._text(rest)

    def _update(self, node: str, update: dict[str, Any]) -> Iterator[AgentEvent]:
        if "route" in update and node not in ANSWER_NODES:
            self._deep = update.get("route") == "deep"
            self._calls, self._searches, self._tools_reported = {}, set(), 0
            yield AgentEvent(
                "route",
                {
                    "route": update.get("route"),
                    "reason": update.get("route_reason", ""),
                    "confidence": update.get("route_confidence", 1.0),
                },
            )
        if node == "finalize" and not self._streamed and update.get("answer"):
            # Answers are checked before anyone sees them (agent/grounding.py): the model's
            # JSON is never streamed, and the checked text arrives here in one piece.
            self._streamed = True
            yield AgentEvent("token", {"text": update["answer"]})
            return
        messages = [m for m in update.get("messages") or [] if m is not None]
        asked = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls]
        if asked:
            yield from self._tool_start(asked[-1])
        answered = [m for m in messages if isinstance(m, ToolMessage)]
        if answered:
            yield from self._tool_end(answered, update.get("tool_calls"))

    def _tool_start(self, message: AIMessage) -> Iterator[AgentEvent]:
        if self._streamed:
            self._streamed = False
            yield AgentEvent("draft_reset")
        calls = [{"id": c["id"], "name": c["name"], "args": c["args"]} for c in message.tool_calls]
        for call in calls:
            self._calls[str(call["id"])] = call
            if call["name"] == "search_docs" and isinstance(call["args"], dict):
                self._searches.add(str(call["args"].get("query", "")))
        yield AgentEvent("tool_start", {"calls": calls})

    def _tool_end(self, answered: list[ToolMessage], records: Any) -> Iterator[AgentEvent]:
        """One result per tool message; timings and result counts come from the node's
        `tool_calls` records when it keeps them (agent state), else only ok/failed."""
        new = list(records or [])[self._tools_reported :]
        self._tools_reported += len(new)
        results = []
        for i, message in enumerate(answered):
            call = self._calls.pop(str(message.tool_call_id), {})
            record = new[i] if len(new) == len(answered) else None
            ok = message.status != "error" and not str(message.content).startswith("Error:")
            result = {"id": message.tool_call_id, "name": call.get("name", message.name or "")}
            if record is not None:
                result.update(
                    ok=record.ok, ms=round(record.ms, 1), results=len(record.result_ids),
                    files=len(record.files),
                )  # fmt: skip
            else:
                result.update(ok=ok, ms=None, results=None, files=0)
            results.append(result)
        yield AgentEvent("tool_end", {"results": results})


def _reasoning_text(message: AIMessageChunk) -> str:
    """Reasoning a model streams beside its answer: `reasoning_content` (vLLM, DeepSeek
    style) or reasoning/thinking content blocks."""
    extra = message.additional_kwargs.get("reasoning_content")
    if isinstance(extra, str) and extra:
        return extra
    if isinstance(message.content, list):
        parts = [
            str(b.get("reasoning") or b.get("thinking") or b.get("text") or "")
            for b in message.content
            if isinstance(b, dict) and b.get("type") in ("reasoning", "thinking")
        ]
        return "".join(parts)
    return ""


def event_json(event: AgentEvent) -> dict[str, Any]:
    """An event without its `Answer` (front ends serialise the answer their own way)."""
    return {"type": event.type, **event.data}
