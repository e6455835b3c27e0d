"""`Agent.stream` on fakes: the same answer and record as `ask`, tokens as they come, live
steps (nodes, the search and its query, tool calls and results), a held-back tool call
written as text, thinking, Stop, and an approval pause; plus the pure web payloads built
from the answers (links, never server paths)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, AIMessageChunk, ToolMessage

from agent.streaming import EVENT_TYPES, TurnEvents
from bots.web.links import SourceLinks, view_url
from bots.web.payloads import answer_payload, public_turn, sources_footer
from oncall.core.identity import Principal
from oncall.testing.web_support import (
    SERVER_PATH,
    SEV2_ANSWER,
    TICKET,
    build_agent,
    ticket_call,
)

ALICE = Principal("alice", frozenset({"oncall"}), "Alice")
QUESTION = "How fast must SEV2 pages be acknowledged?"


def kinds(events: list[Any]) -> list[str]:
    return [e.type for e in events]


def test_stream_yields_tokens_then_the_same_recorded_answer_as_ask(tmp_path: Path) -> None:
    agent, *_ = build_agent(tmp_path, [SEV2_ANSWER, SEV2_ANSWER])
    events = list(agent.stream(QUESTION, user=ALICE))
    asked = agent.ask(QUESTION, user=ALICE)
    assert set(kinds(events)) <= set(EVENT_TYPES)
    steps = [e for e in events if e.type != "token"]
    assert [(e.type, e.data.get("node") or e.data.get("query")) for e in steps] == [
        ("step", "route"), ("route", None), ("step", "answer_direct"), ("search", QUESTION),
        ("retrieval", QUESTION), ("step", "finalize"), ("answer", None),
    ], "the search and its query are reported before the answer is written"  # fmt: skip
    first_token = kinds(events).index("token")
    assert kinds(events).index("retrieval") < first_token
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
    list(events.feed("updates", {"route": {"route": "deep", "route_reason": "r"}}))
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


def test_tool_results_come_from_tool_messages_of_any_node() -> None:
    """Steps do not depend on node names: a renamed tool node reports the same."""
    events = TurnEvents()
    call = AIMessage("", tool_calls=[{"name": "get_oncall", "args": {"team": "x"}, "id": "c1"}])
    assert kinds(list(events.feed("updates", {"decide": {"messages": [call]}}))) == ["tool_start"]
    failed = ToolMessage("Error: no such team", tool_call_id="c1")
    (end,) = events.feed("updates", {"tools": {"messages": [failed]}})
    assert end.data["results"] == [
        {"id": "c1", "name": "get_oncall", "ok": False, "ms": None, "results": None, "files": 0}
    ]
    assert list(events.feed("tasks", {"id": "t", "name": "tools", "input": {}})) == [
        type(end)("step", {"node": "tools"})
    ]
    assert list(events.feed("tasks", {"id": "t", "name": "tools", "result": {}})) == []


def test_thinking_is_reported_apart_from_the_answer() -> None:
    events = TurnEvents()
    list(events.feed("updates", {"route": {"route": "deep"}}))
    meta = {"langgraph_node": "plan"}
    out = []
    for piece in ["<thi", "nk>check the ", "runbook</th", "ink>\n\nRestart ", "it."]:
        out += list(events.feed("messages", (_chunk(piece), meta)))
    thinking = "".join(e.data["text"] for e in out if e.type == "thinking")
    answer = "".join(e.data["text"] for e in out if e.type == "token")
    assert thinking == "check the runbook" and answer.strip() == "Restart it."
    reasoning = AIMessageChunk(content="", id="m9", additional_kwargs={"reasoning_content": "hm"})
    assert [e.data for e in events.feed("messages", (reasoning, meta))] == [{"text": "hm"}]


def test_stop_cancels_the_turn_mid_answer_and_the_thread_goes_on(tmp_path: Path) -> None:
    long_answer = " ".join(["word"] * 200) + " [1]."
    agent, model, *_ = build_agent(tmp_path, [long_answer, SEV2_ANSWER], token_delay_s=0.01)
    cancel = threading.Event()
    seen = []

    def stop_soon() -> None:  # the user clicks Stop while the model is writing
        time.sleep(0.3)
        cancel.set()

    threading.Thread(target=stop_soon).start()
    started = time.perf_counter()
    for event in agent.stream(QUESTION, "t1", user=ALICE, cancel=cancel):
        seen.append(event.type)
    assert seen[-1] == "cancelled" and "answer" not in seen
    assert time.perf_counter() - started < 1.5, "the model stream was closed, not finished"
    assert agent.recorder is not None and agent.recorder.turns() == [], "nothing recorded"
    answer = agent.ask(QUESTION, "t1", user=ALICE)
    assert answer.text.startswith("SEV2 pages") and len(model.calls) == 2


def test_payload_links_sources_and_carries_no_server_path(tmp_path: Path) -> None:
    agent, *_ = build_agent(tmp_path, [SEV2_ANSWER, "At most 120 stops per route [1]."])
    payload = answer_payload(agent.ask(QUESTION, user=ALICE))
    (cite,) = payload["citations"]
    assert cite["url"].startswith("https://wiki.example.internal/runbooks/paging#:~:text=")
    assert cite["external"] and "source" not in cite
    assert payload["leads"] == [] and payload["tools_used"] == []
    footer = sources_footer(payload)
    assert footer == "\n\nSources:\n[1] [runbooks/paging.md › SEV2](" + cite["url"] + ")"

    folder = answer_payload(agent.ask("How many stops per route may the optimizer plan?"))
    (cite,) = folder["citations"]
    assert cite["url"].startswith(view_url(SERVER_PATH) + "?chunk=") and not cite["external"]
    assert SERVER_PATH not in json.dumps(folder) and "/srv/" not in json.dumps(folder)
    footer = sources_footer(folder, "https://chat.example.com/")
    assert f"(https://chat.example.com{cite['url']})" in footer and "/srv/" not in footer


def test_git_sources_link_to_their_web_ui_and_old_turns_lose_their_paths() -> None:
    from ingest.sources import Registry

    registry = Registry.model_validate(
        {"sources": [{"name": "repo", "type": "git", "path": "/srv/repo",
                      "web_url": "https://git.example.com/org/repo/blob/main/{path}"}]}
    )  # fmt: skip
    links = SourceLinks.from_registry(registry)
    url = links.url("/srv/repo/docs/run book.md", "c1", "Restart the consumer group first")
    assert url == (
        "https://git.example.com/org/repo/blob/main/docs/run%20book.md"
        "#:~:text=Restart%20the%20consumer%20group%20first"
    )
    assert links.url("/srv/other/a.md", "c1").startswith("/docs/view/")
    old = {"citations": [{"n": 1, "location": "a", "url": None, "source": "/srv/other/a.md"}]}
    assert public_turn(old, links)["citations"] == [
        {"n": 1, "location": "a", "url": view_url("/srv/other/a.md")}
    ]
