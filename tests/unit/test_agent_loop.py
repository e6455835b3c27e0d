"""The DEEP loop, escalation, memory and turn records, on fakes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agent.escalation import handover_text, wants_human
from agent.graph import conversation_history, retrieval_query, sub_questions
from agent.memory import open_checkpointer
from agent.prompts import ANSWER_NOW, NOT_IN_DOCS
from agent.records import TurnRecorder
from agent.service import Agent
from agent.state import Deps
from oncall.core.settings import AgentSettings, RetrievalSettings
from oncall.testing.fakes import FakeStore, HashEmbedder, ScriptedChatModel
from tests.unit.test_graph import CHUNKS


class SlowStore(FakeStore):
    def search(self, *args: Any, **kwargs: Any) -> Any:
        time.sleep(0.3)
        return super().search(*args, **kwargs)


def deps_for(model: ScriptedChatModel, store: Any = None, **agent: Any) -> Deps:
    embedder = HashEmbedder()
    return Deps(
        store=store or FakeStore(CHUNKS, embedder),
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=2, min_similarity=0.2),
        agent=AgentSettings(**agent),
    )


def tool_call(query: str, name: str = "search_docs", call_id: str = "c1") -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": {"query": query}, "id": call_id}])


def test_deep_seeds_parallel_searches_for_each_part_of_the_question() -> None:
    model = ScriptedChatModel(replies=["Roll back with lfctl rollback payments-api."])
    embedder = HashEmbedder()
    deps = deps_for(model, store=SlowStore(CHUNKS, embedder))
    question = "How do I roll back payments-api? And who acknowledges a SEV2 page?"

    answer = Agent(deps).ask(question, route="deep")

    assert answer.route == "deep" and answer.route_reason == "user override"
    assert [c.args["query"] for c in answer.tool_calls] == [
        question,
        "How do I roll back payments-api?",
        "And who acknowledges a SEV2 page?",
    ]
    assert answer.timings_ms["tools"] < 3 * 300, "the three searches ran in parallel"
    assert {h.doc_id for h in answer.hits} == {
        "runbooks/payments-api-5xx",
        "oncall/severity-levels",
    }
    assert len(model.calls) == 1 and model.tools_offered, "one model call, with tools offered"
    assert answer.citations and answer.citations[0].hit.doc_id == "runbooks/payments-api-5xx"


def test_loop_stops_at_max_steps_and_forces_an_answer() -> None:
    replies: list[str | AIMessage] = [tool_call(f"query {i}", call_id=f"c{i}") for i in range(10)]
    model = ScriptedChatModel(replies=[*replies[:2], "Use lfctl rollback payments-api."])
    answer = Agent(deps_for(model, max_steps=3)).ask("roll back payments-api", route="deep")

    assert len(model.calls) == 3  # steps 1-2 with tools, step 3 must answer
    assert len(model.tools_offered) == 2
    assert str(model.calls[-1][-1].content) == ANSWER_NOW
    assert [c.args["query"] for c in answer.tool_calls][1:] == ["query 0", "query 1"]
    assert answer.text.startswith("Use lfctl rollback payments-api")


def test_token_budget_forces_the_answer_early() -> None:
    model = ScriptedChatModel(
        replies=[tool_call("more"), "Roll back with lfctl."], output_tokens=500
    )
    Agent(deps_for(model, max_steps=10, max_deep_tokens=400)).ask("roll back", route="deep")
    assert len(model.calls) == 2
    assert str(model.calls[-1][-1].content) == ANSWER_NOW


def test_json_tool_call_in_content_is_executed() -> None:
    json_call = '```json\n{"name": "search_docs", "arguments": {"query": "SEV2 acknowledge"}}\n```'
    model = ScriptedChatModel(
        replies=[json_call, "A SEV2 page must be acknowledged within 15 minutes."]
    )
    answer = Agent(deps_for(model)).ask("What is the SEV2 ack time?", route="deep")
    assert [c.args["query"] for c in answer.tool_calls][-1] == "SEV2 acknowledge"
    assert "15 minutes" in answer.text and answer.citations


def test_bad_tool_calls_go_back_to_the_model_as_errors() -> None:
    bad = AIMessage(
        "",
        tool_calls=[
            {"name": "delete_prod", "args": {}, "id": "x1"},
            {"name": "search_docs", "args": {"query": ""}, "id": "x2"},
        ],
    )
    model = ScriptedChatModel(replies=[bad, NOT_IN_DOCS])
    answer = Agent(deps_for(model)).ask("do something odd please", route="deep")
    errors = [
        m for m in model.calls[-1] if isinstance(m, ToolMessage) and m.content.startswith("Error")
    ]
    assert len(errors) == 2
    assert "unknown tool 'delete_prod'" in str(errors[0].content)
    assert "query" in str(errors[1].content)
    assert [c.ok for c in answer.tool_calls] == [True, False, False]


def test_abstention_escalates_with_what_was_searched_and_best_leads() -> None:
    model = ScriptedChatModel(replies=[NOT_IN_DOCS])
    answer = Agent(deps_for(model, escalation_contact="@payments-oncall")).ask(
        "Which Kubernetes version runs payments-api?", route="deep"
    )
    assert answer.abstained and answer.handover is not None
    handover = answer.handover
    assert handover.reason == "the docs I can search do not answer this"
    assert handover.searched == ["Which Kubernetes version runs payments-api?"]
    assert handover.leads[0].startswith("runbooks/payments-api-5xx")
    text = handover_text(handover)
    assert text.startswith("Hand-over to @payments-oncall: the docs I can search")


def test_user_asking_for_a_human_escalates_even_with_an_answer() -> None:
    model = ScriptedChatModel(replies=["Run lfctl rollback payments-api --to <previous-sha>."])
    answer = Agent(deps_for(model)).ask(
        "roll back payments-api, or escalate to a human", route="direct"
    )
    assert answer.citations and answer.handover is not None
    assert answer.handover.reason == "the user asked for a human"


def test_supported_answer_does_not_escalate() -> None:
    model = ScriptedChatModel(replies=["Run lfctl rollback payments-api --to <previous-sha>."])
    answer = Agent(deps_for(model)).ask("How do I roll back payments-api?", route="direct")
    assert answer.handover is None


def test_thread_resumes_after_a_restart_with_history(tmp_path: Path) -> None:
    first_model = ScriptedChatModel(
        replies=["Run lfctl rollback payments-api --to <previous-sha>."]
    )
    with open_checkpointer(tmp_path) as saver:
        Agent(deps_for(first_model), checkpointer=saver).ask(
            "How do I roll back payments-api?", thread_id="t-1", route="direct"
        )
    # A new process: new checkpointer on the same file, new agent.
    second_model = ScriptedChatModel(replies=["It takes about 4 minutes."])
    store = FakeStore(CHUNKS, HashEmbedder())
    with open_checkpointer(tmp_path) as saver:
        agent = Agent(deps_for(second_model, store=store), checkpointer=saver)
        answer = agent.ask("how long does it take?", thread_id="t-1", route="direct")
    prompt = second_model.calls[0]
    assert [type(m).__name__ for m in prompt] == [
        "SystemMessage", "HumanMessage", "AIMessage", "HumanMessage"
    ]  # fmt: skip
    assert prompt[1].content == "How do I roll back payments-api?"
    assert "lfctl rollback" in str(prompt[2].content)
    assert answer.text.startswith("It takes about 4 minutes")
    # the short follow-up was searched together with the previous question
    assert store.queries[0] == HashEmbedder().embed_query(
        "How do I roll back payments-api? how long does it take?"
    )


def test_turns_are_recorded(tmp_path: Path) -> None:
    recorder = TurnRecorder(tmp_path / "turns.sqlite")
    model = ScriptedChatModel(replies=["Run lfctl rollback payments-api --to <previous-sha>."])
    answer = Agent(deps_for(model), recorder=recorder).ask(
        "How do I roll back payments-api?", thread_id="t-9", route="direct"
    )
    (row,) = recorder.turns("t-9")
    assert row["id"] == answer.turn_id
    assert row["route"] == "direct" and row["abstained"] == 0 and row["escalated"] == 0
    assert row["completion_tokens"] > 0 and '"retrieval"' in row["timings_ms"]
    assert answer.citations[0].hit.chunk_id in row["cited_ids"]


def test_history_and_query_helpers() -> None:
    msgs = [
        HumanMessage("q1"),
        tool_call("x"),
        ToolMessage("docs", tool_call_id="c1"),
        AIMessage("a1"),
        HumanMessage("q2"),
        AIMessage("a2"),
        HumanMessage("q3"),
    ]
    assert [m.content for m in conversation_history(msgs, 1)] == ["q2", "a2"]
    assert [m.content for m in conversation_history(msgs, 5)] == ["q1", "a1", "q2", "a2"]
    assert conversation_history(msgs, 0) == []
    history = [HumanMessage("How do I roll back payments-api?"), AIMessage("...")]
    assert retrieval_query("and how long?", history).startswith("How do I roll back")
    assert retrieval_query("a much longer question that stands on its own words", history) == (
        "a much longer question that stands on its own words"
    )
    assert sub_questions("How do I roll back?") == ["How do I roll back?"]
    assert wants_human("please escalate this") and wants_human("转人工")
    assert not wants_human("what is the escalation policy?")


def test_a_repeated_identical_call_is_refused_not_rerun() -> None:
    model = ScriptedChatModel(
        replies=[tool_call("sev2"), tool_call("sev2", call_id="c2"), "Within 15 minutes."]
    )
    store = FakeStore(CHUNKS, HashEmbedder())
    answer = Agent(deps_for(model, store=store)).ask("SEV2 ack time?", route="deep")
    assert [c.ok for c in answer.tool_calls] == [True, True, False]
    assert len(store.queries) == 2, "the repeat never reached the store"
    last_tool = [m for m in model.calls[-1] if isinstance(m, ToolMessage)][-1]
    assert "already made" in str(last_tool.content)


def test_deep_tool_results_respect_the_context_budget() -> None:
    model = ScriptedChatModel(replies=["Roll back with lfctl rollback payments-api."])
    answer = Agent(deps_for(model, context_chars=200)).ask(
        "How do I roll back payments-api?", route="deep"
    )
    shown = [m for m in model.calls[0] if isinstance(m, ToolMessage)]
    assert sum(len(str(m.content)) for m in shown) <= 200
    assert len(answer.hits) == 1, "only the chunk that fits is shown (and citable)"
