"""Document permissions through the agent: every search runs as the asker, on every path."""

from __future__ import annotations

from langchain_core.messages import AIMessage

from agent.service import Agent
from agent.state import Deps
from oncall.core.identity import Principal
from oncall.core.settings import RetrievalSettings
from oncall.testing.fakes import FakeStore, HashEmbedder, ScriptedChatModel

SECRET = {
    "doc_id": "hr/payroll",
    "source": "/kb/hr/payroll.md",
    "title": "Payroll",
    "section": "Access",
    "page": None,
    "acl": ["hr"],
    "text": "The payroll export runs nightly; the vault path is secret/payroll/export.",
}
PUBLIC = {
    "doc_id": "faq",
    "source": "/kb/faq.md",
    "title": "FAQ",
    "section": "Payroll",
    "page": None,
    "text": "Questions about payroll go to the people team channel.",
}


def deps(replies: list[str | AIMessage]) -> tuple[Deps, FakeStore, ScriptedChatModel]:
    embedder = HashEmbedder()
    store = FakeStore([SECRET, PUBLIC], embedder)
    model = ScriptedChatModel(replies=replies)
    d = Deps(
        store=store,  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=2, min_similarity=0.0),
    )
    return d, store, model


def prompt_text(model: ScriptedChatModel) -> str:
    return "\n".join(str(m.content) for call in model.calls for m in call)


def test_direct_answer_never_sees_docs_outside_the_askers_groups() -> None:
    d, store, model = deps(["Ask the people team [1]."])
    answer = Agent(d).ask("where does the payroll export go?", route="direct")
    assert store.groups_seen == [["public"]]  # the local default: public only
    assert "secret/payroll" not in prompt_text(model)
    assert all(h.doc_id != "hr/payroll" for h in answer.hits)
    assert all(c.hit.doc_id != "hr/payroll" for c in answer.citations)


def test_deep_tool_calls_search_as_the_asker_too() -> None:
    call = AIMessage(
        "", tool_calls=[{"name": "search_docs", "args": {"query": "payroll vault"}, "id": "t1"}]
    )
    d, store, model = deps([call, "It goes to the people team [1]."])
    answer = Agent(d).ask("payroll export vault path?", route="deep")
    assert store.groups_seen and all(g == ["public"] for g in store.groups_seen)
    assert "secret/payroll" not in prompt_text(model)
    assert all(h.doc_id != "hr/payroll" for h in answer.hits)


def test_a_member_of_the_group_gets_the_doc_and_identity_is_per_call() -> None:
    d, store, _model = deps(["The vault path is secret/payroll/export [1].", "People team [1]."])
    agent = Agent(d)
    hr = Principal("u1", frozenset({"hr"}), "Hana")
    first = agent.ask("payroll export vault path?", route="direct", user=hr)
    assert store.groups_seen[-1] == ["hr", "public"]
    assert any(h.doc_id == "hr/payroll" for h in first.hits)
    # The same Agent serving the next (public) user must not carry Hana's groups over.
    second = agent.ask("payroll export vault path?", route="direct")
    assert store.groups_seen[-1] == ["public"]
    assert all(h.doc_id != "hr/payroll" for h in second.hits)
    assert d.principal == Principal.local()  # the shared Deps was never mutated


def test_read_groups_always_include_public_and_are_sorted() -> None:
    assert Principal("u", frozenset({"sre", "eng"})).read_groups == ["eng", "public", "sre"]
    assert Principal.local().read_groups == ["public"]
