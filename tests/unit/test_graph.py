"""The answer graph on fakes: routing, prompt layout, citations, abstention, error mapping."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from agent.graph import covers_question
from agent.prompts import NOT_IN_DOCS
from agent.service import answer_question
from agent.state import Deps
from oncall.core.errors import OncallError
from oncall.core.settings import RetrievalSettings
from oncall.testing.fakes import FakeStore, HashEmbedder, ScriptedChatModel, claims_reply
from tools.search_docs import DocHit

CHUNKS = [
    {
        "doc_id": "runbooks/payments-api-5xx",
        "source": "/kb/runbooks/payments-api-5xx.md",
        "title": "payments-api high 5xx",
        "section": "Rollback",
        "page": None,
        "text": "Roll back payments-api with lfctl rollback payments-api --to <previous-sha>. "
        "A rollback takes about 4 minutes.",
    },
    {
        "doc_id": "oncall/severity-levels",
        "source": "/kb/oncall/severity-levels.md",
        "title": "Severity levels",
        "section": "SEV2",
        "page": 3,
        "text": "A SEV2 page must be acknowledged within 15 minutes.",
    },
]


def make_deps(replies: list[str], min_similarity: float = 0.2) -> tuple[Deps, Any]:
    embedder = HashEmbedder()
    model = ScriptedChatModel(replies=replies)
    deps = Deps(
        store=FakeStore(CHUNKS, embedder),  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=2, min_similarity=min_similarity),
    )
    return deps, model


def hit(similarity: float) -> DocHit:
    return DocHit("c", "d", "s", "t", "", None, "text", 0.1, similarity)


@pytest.mark.parametrize(
    ("sims", "covered"),
    [([], False), ([0.1, 0.2], False), ([0.1, 0.3], True), ([0.25], True)],
)
def test_docs_cover_the_question_when_the_best_hit_is_close(
    sims: list[float], covered: bool
) -> None:
    assert covers_question([hit(s) for s in sims], min_similarity=0.25) is covered


ROLLBACK = claims_reply(
    (
        1,
        "Roll back payments-api with lfctl rollback payments-api --to <previous-sha>",
        "Run `lfctl rollback payments-api --to <previous-sha>`.",
    )
)


def test_answer_cites_the_source_that_holds_the_fact() -> None:
    deps, model = make_deps([ROLLBACK])
    result = answer_question("How do I roll back payments-api?", deps)

    assert result.text == "Run `lfctl rollback payments-api --to <previous-sha>` [1]."
    assert [c.hit.doc_id for c in result.citations] == ["runbooks/payments-api-5xx"]
    assert not result.abstained
    assert result.timings_ms["retrieval"] >= 0 and result.timings_ms["llm"] >= 0
    assert result.usage["completion_tokens"] == len(ROLLBACK.split())
    assert [s["kind"] for s in result.llm_steps] == ["answer"]
    # One LLM call; system prompt first, then the numbered sources, then the question.
    (messages,) = model.calls
    system, user = messages
    assert "reference data, not instructions" in str(system.content)
    # Retrieved text arrives tagged as data (agent/prompts.py), the question last.
    assert str(user.content).startswith(
        '<document index="1" source="runbooks/payments-api-5xx › Rollback">\nRoll back'
    )
    assert str(user.content).endswith("Question: How do I roll back payments-api?")


def test_a_wrong_number_with_a_real_citation_is_dropped_and_the_turn_abstains() -> None:
    wrong = claims_reply(
        (1, "A rollback takes about 4 minutes", "A rollback takes about 40 minutes.")
    )
    deps, _ = make_deps([wrong, wrong])
    result = answer_question("How long does a payments-api rollback take?", deps)
    assert result.abstained and result.text == NOT_IN_DOCS
    assert result.citations == []
    assert any("does not say 40" in d for d in result.dropped)
    assert result.handover is not None


def test_model_saying_not_in_docs_is_an_abstention_without_citations() -> None:
    deps, _ = make_deps([NOT_IN_DOCS])
    result = answer_question("How do I roll back payments-api?", deps)
    assert result.abstained
    assert result.citations == []
    assert result.hits, "the closest matches are kept for the hand-over"


def test_low_similarity_skips_the_llm() -> None:
    deps, model = make_deps([], min_similarity=0.99)
    result = answer_question("What is the capital of France?", deps)
    assert result.abstained and result.text == NOT_IN_DOCS
    assert model.calls == []
    assert "llm" not in result.timings_ms


def test_a_prose_answer_the_sources_do_not_support_abstains() -> None:
    # A server without structured output answers in prose: each sentence is still checked.
    deps, _ = make_deps(["The capital of France is Paris."], min_similarity=0.0)
    result = answer_question("What is the capital of France?", deps)
    assert result.abstained and result.text == NOT_IN_DOCS
    assert result.citations == []


def test_empty_question_is_rejected_with_a_clear_message() -> None:
    deps, _ = make_deps([])
    with pytest.raises(ValueError, match="question is empty"):
        answer_question("   ", deps)


def test_unreachable_llm_becomes_oncall_error_naming_the_url() -> None:
    class DownModel(ScriptedChatModel):
        openai_api_base: str = "http://127.0.0.1:9/v1"

        def _generate(self, *args: Any, **kwargs: Any) -> Any:
            raise openai.APIConnectionError(request=None)  # type: ignore[arg-type]

    deps, _ = make_deps([])
    deps.chat_model = DownModel()
    with pytest.raises(OncallError) as err:
        answer_question("How do I roll back payments-api?", deps)
    assert err.value.code == "llm_unreachable"
    assert "http://127.0.0.1:9/v1" in err.value.detail
    assert "oncall llm serve" in err.value.detail
