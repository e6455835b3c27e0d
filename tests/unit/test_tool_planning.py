"""Planned internal-tool calls: the schema, parsing a plan, and the DEEP seed step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage

from agent.service import Agent
from agent.state import Deps
from agent.tool_planning import parse_plan, plan_schema
from agent.tooling import tools_for
from oncall.core.identity import Principal
from oncall.core.settings import AgentSettings, RetrievalSettings
from oncall.testing.fakes import (
    FakeStore,
    HashEmbedder,
    ScriptedChatModel,
    answer_action,
    fake_catalogue,
    plan_reply,
)
from tests.unit.test_graph import CHUNKS


def deps_with_catalogue(
    tmp_path: Path, replies: list[str | AIMessage], plan: bool | None
) -> tuple[Deps, ScriptedChatModel, list[Any]]:
    calls: list[Any] = []
    embedder = HashEmbedder()
    model = ScriptedChatModel(replies=replies)
    deps = Deps(
        store=FakeStore(CHUNKS, embedder),  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=2, min_similarity=0.0),
        agent=AgentSettings(plan_internal_tools=plan),
        catalogue=fake_catalogue(tmp_path / "audit.jsonl", calls),
    )
    return deps, model, calls


def internal_tools(deps: Deps) -> list[Any]:
    return [t for t in tools_for(deps) if t.name in {"get_oncall", "create_ticket"}]


def test_schema_lists_each_tool_with_its_own_arguments(tmp_path: Path) -> None:
    deps, _, _ = deps_with_catalogue(tmp_path, [], True)
    schema = plan_schema(internal_tools(deps))
    variants = schema["properties"]["calls"]["items"]["anyOf"]
    assert [v["properties"]["tool"]["const"] for v in variants] == ["get_oncall"]
    assert variants[0]["properties"]["args"]["properties"]["team"]["type"] == "string"


def test_parse_keeps_valid_calls_and_drops_the_rest(tmp_path: Path) -> None:
    deps, _, _ = deps_with_catalogue(tmp_path, [], True)
    tools = [t for t in tools_for(deps) if t.name == "get_oncall"]
    plan = {
        "calls": [
            {"tool": "get_oncall", "args": {"team": "payments"}},
            {"tool": "get_oncall", "args": {"team": "payments"}},  # duplicate
            {"tool": "admin_reset", "args": {"target": "all"}},  # not offered
            {"tool": "get_oncall", "args": {"team": 7}},  # invalid
            "junk",
        ]
    }
    (call,) = parse_plan(json.dumps(plan), tools)
    assert call["name"] == "get_oncall" and call["args"] == {"team": "payments"}
    assert parse_plan("not json", tools) == [] and parse_plan("[1, 2]", tools) == []


def test_the_planner_sees_only_the_question_and_later_steps_never_offer_writes(
    tmp_path: Path,
) -> None:
    plan = plan_reply(("get_oncall", {"team": "payments"}))
    # Evidence: the two passages of the seed search, then the tool result as [3].
    final = answer_action((3, "", "get_oncall answered ok."))
    deps, model, executed = deps_with_catalogue(tmp_path, [plan, final], True)
    who = Principal("u1", frozenset({"oncall"}))
    answer = Agent(deps).ask("who is on call for payments?", route="deep", user=who)
    assert executed == [("get_oncall", {"team": "payments"}, "u1")]
    assert [c.name for c in answer.tool_calls].count("get_oncall") == 1
    planner_system, *planner_rest = model.calls[0]
    # The planner may choose a write the asker may use (it then waits for approval) ...
    assert "get_oncall" in str(planner_system.content)
    assert "create_ticket" in str(planner_system.content)
    # ... because it reads nothing but the question: no document can ask it for one.
    assert [m.content for m in planner_rest] == ["who is on call for payments?"]
    # The action step, which reads documents and tool output, is offered no write.
    action_system = str(model.calls[1][0].content)
    assert "search_docs" in action_system and "get_oncall" in action_system
    assert "create_ticket" not in action_system
    assert [c.hit.doc_id for c in answer.citations] == ["get_oncall"]
    assert answer.text == "get_oncall answered ok [1]."


def test_planning_off_makes_no_extra_call(tmp_path: Path) -> None:
    deps, model, executed = deps_with_catalogue(tmp_path, ["No tools needed [1]."], None)
    Agent(deps).ask("who is on call for payments?", route="deep")
    assert len(model.calls) == 1 and executed == []
