"""`Agent.stream` on fakes: the same answer and record as `ask`, tokens as they come, tool
steps, a held-back tool call written as text, and an approval pause; plus the pure web
payloads built from the answers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk

from agent.streaming import TurnEvents
from bots.web.payloads import answer_payload, sources_footer
from oncall.core.identity import Principal
from oncall.testing.web_support import SEV2_ANSWER, TICKET, build_agent, ticket_call

ALICE = Principal("alice", frozenset({"oncall"}), "Alice")
QUESTION = "How fast must SEV2 pages be acknowledged?"


def kinds(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def test_stream_yields_tokens_then_the_same_recorded_answer_as_ask(tmp_path: Path) -> None:
    agent, *_ = build_agent(tmp_path, [SEV2_ANSWER, SEV2_ANSWER])
    events = list(agent.stream(QUESTION, user=ALICE))
    asked = agent.ask(QUESTION, user=ALICE)
    assert kinds(events)[0] == "route" and kinds(events)[-1] == "answer"
    tokens = "".join(e.data["text"] for e in events if e.type == "token")
    streamed = events[-1].answer
    assert streamed is not None and tokens == streamed.text == asked.text
    assert [c.number for c in streamed.citations] == [c.number for c in asked.citations]
    assert agent.recorder is not None and len(agent.recorder.turns()) == 2
    assert streamed.turn_id == agent.recorder.turns()[0]["id"]


def test_deep_stream_reports_tool_steps_and_pauses_for_approval(tmp_path: Path) -> None:
    agent, _, _, calls = build_agent(tmp_path, [ticket_call()])
    events = list(agent.stream("open a ticket for the 5xx", route="deep", user=ALICE))
    starts = [c["name"] for e in events if e.type == "tool_start" for c in e.data["calls"]]
    assert starts == ["search_docs", "create_ticket"]
    ends = [r["name"] for e in events if e.type == "tool_end" for r in e.data["results"]]
    assert ends == ["search_docs"], "the write has not run"
    final = events[-1].answer
    assert final is not None and final.pending is not None and final.pending.args == TICKET
    assert final.turn_id is None and calls == []
    payload = answer_payload(final)
    assert payload["pending"]["tool"] == "create_ticket" and payload["answer"] == ""
    assert "needs approval" in sources_footer(payload)


def _chunk(text: str, message_id: str = "m1") -> AIMessageChunk:
    return AIMessageChunk(content=text, id=message_id)


def test_text_that_looks_like_a_tool_call_is_held_back() -> None:
    events = TurnEvents()
    meta = {"langgraph_node": "plan"}
    out = []
    for piece in ['  {"name": ', '"search_docs"', "}"]:
        out += list(events.feed("messages", (_chunk(piece), meta)))
    assert out == [], "JSON-looking DEEP output is not shown as it streams"
    out = [e for p in ["The ", "answer"] for e in events.feed("messages", (_chunk(p, "m2"), meta))]
    assert [e.data["text"] for e in out] == ["The ", "answer"]
    call = AIMessage("", tool_calls=[{"name": "search_docs", "args": {"query": "q"}, "id": "c"}])
    after = list(events.feed("updates", {"plan": {"messages": [call]}}))
    assert kinds(after) == ["draft_reset", "tool_start"], "shown text turned out to be a call"
    # Tokens of other nodes (or ToolMessages) never reach the user.
    assert list(events.feed("messages", (_chunk("x", "m3"), {"langgraph_node": "act"}))) == []


def test_payload_links_url_sources_and_lists_file_sources(tmp_path: Path) -> None:
    agent, *_ = build_agent(tmp_path, [SEV2_ANSWER])
    payload = answer_payload(agent.ask(QUESTION, user=ALICE))
    (cite,) = payload["citations"]
    assert cite["url"] == cite["source"] and cite["url"].startswith("https://")
    assert payload["leads"] == [] and payload["tools_used"] == []
    footer = sources_footer(payload)
    assert footer == "\n\nSources:\n[1] [runbooks/paging.md › SEV2](" + cite["url"] + ")"
    file_source = {**payload, "citations": [{**cite, "url": None, "source": "/docs/a.md"}]}
    assert sources_footer(file_source).endswith("[1] runbooks/paging.md › SEV2 (/docs/a.md)")
