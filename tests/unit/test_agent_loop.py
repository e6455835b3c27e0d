"""The DEEP loop, escalation, memory and turn records, on fakes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from agent.deep import sub_questions
from agent.escalation import handover_text, wants_human
from agent.history import conversation_history, retrieval_query
from agent.memory import open_checkpointer
from agent.prompts import ANSWER_NOW, NOT_IN_DOCS
from agent.records import TurnRecorder
from agent.service import Agent
from agent.state import Deps
from oncall.core.settings import AgentSettings, RetrievalSettings
from oncall.testing.fakes import (
    FakeStore,
    HashEmbedder,
    ScriptedChatModel,
    answer_action,
    call_action,
)
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


ROLLBACK_QUOTE = "Roll back payments-api with lfctl rollback payments-api"


def test_deep_seeds_parallel_searches_for_each_part_of_the_question() -> None:
    model = ScriptedChatModel(
        replies=[answer_action((1, ROLLBACK_QUOTE, "Roll back with lfctl rollback payments-api."))]
    )
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
    assert len(model.calls) == 1, "one model call: the action step, with the evidence"
    assert str(model.calls[0][-1].content).endswith(f"Question: {question}")
    assert answer.citations and answer.citations[0].hit.doc_id == "runbooks/payments-api-5xx"
    assert answer.text == "Roll back with lfctl rollback payments-api [1]."


def search(query: str) -> str:
    return call_action(("search_docs", {"query": query}))


def test_loop_stops_at_max_steps_and_forces_an_answer() -> None:
    final = answer_action((1, ROLLBACK_QUOTE, "Use lfctl rollback payments-api."))
    model = ScriptedChatModel(replies=[search("query 0"), search("query 1"), final])
    answer = Agent(deps_for(model, max_steps=3)).ask("roll back payments-api", route="deep")

    assert len(model.calls) == 3  # steps 1-2 may call tools, step 3 must answer
    assert str(model.calls[-1][-1].content).endswith(ANSWER_NOW)
    assert [c.args["query"] for c in answer.tool_calls][1:] == ["query 0", "query 1"]
    assert answer.text == "Use lfctl rollback payments-api [1]."


def test_each_step_prompt_extends_the_previous_one_for_the_prompt_cache() -> None:
    final = answer_action((1, ROLLBACK_QUOTE, "Use lfctl rollback payments-api."))
    model = ScriptedChatModel(replies=[search("sev2 acknowledge"), final])
    Agent(deps_for(model)).ask("roll back payments-api", route="deep")
    first, second = model.calls
    assert [m.content for m in second[: len(first)]] == [m.content for m in first]


def test_token_budget_forces_the_answer_early() -> None:
    final = answer_action((1, ROLLBACK_QUOTE, "Roll back with lfctl."))
    model = ScriptedChatModel(replies=[search("more"), final], output_tokens=500)
    Agent(deps_for(model, max_steps=10, max_deep_tokens=400)).ask("roll back", route="deep")
    assert len(model.calls) == 2
    assert str(model.calls[-1][-1].content).endswith(ANSWER_NOW)


def test_a_call_action_runs_and_its_passage_becomes_citable_evidence() -> None:
    quote = "A SEV2 page must be acknowledged within 15 minutes"
    model = ScriptedChatModel(
        replies=[
            search("SEV2 acknowledge"),
            answer_action((2, quote, "A SEV2 page must be acknowledged within 15 minutes.")),
        ]
    )
    answer = Agent(deps_for(model)).ask("What is the SEV2 ack time?", route="deep")
    assert [c.args["query"] for c in answer.tool_calls][-1] == "SEV2 acknowledge"
    assert "15 minutes" in answer.text
    assert [c.hit.doc_id for c in answer.citations] == ["oncall/severity-levels"]


def test_calls_to_tools_not_offered_or_with_bad_arguments_never_run() -> None:
    bad = AIMessage(
        "",
        tool_calls=[
            {"name": "delete_prod", "args": {}, "id": "x1"},
            {"name": "search_docs", "args": {"query": ""}, "id": "x2"},
        ],
    )
    model = ScriptedChatModel(replies=[bad])
    answer = Agent(deps_for(model)).ask("do something odd please", route="deep")
    assert [c.name for c in answer.tool_calls] == ["search_docs"], "only the seed search ran"
    assert answer.abstained and len(model.calls) == 1


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


def test_a_repeated_call_is_refused_and_ends_the_loop() -> None:
    quote = "SEV2 page must be acknowledged within 15 minutes"
    final = answer_action((2, quote, "Within 15 minutes."))
    model = ScriptedChatModel(replies=[search("sev2"), search("sev2"), final])
    store = FakeStore(CHUNKS, HashEmbedder())
    answer = Agent(deps_for(model, store=store, max_steps=10)).ask("SEV2 ack time?", route="deep")
    assert [c.ok for c in answer.tool_calls] == [True, True, False]
    assert len(store.queries) == 2, "the repeat never reached the store"
    assert len(model.calls) == 3, "stopped at the repeat, not at max_steps"
    assert str(model.calls[-1][-1].content).endswith(ANSWER_NOW)
    assert "15 minutes" in answer.text


def test_deep_evidence_respects_the_context_budget() -> None:
    model = ScriptedChatModel(replies=[answer_action((1, ROLLBACK_QUOTE, "Use lfctl rollback."))])
    answer = Agent(deps_for(model, max_passages=1)).ask(
        "How do I roll back payments-api?", route="deep"
    )
    assert len(answer.hits) == 1, "only the chunk that fits is shown (and citable)"
    assert str(model.calls[0][-1].content).count("<document") == 1
