"""Questions about live platform state go DEEP when the asker has internal tools."""

from __future__ import annotations

import pytest

from agent.live_state import asks_live_state
from agent.service import Agent
from oncall.testing.fakes import ScriptedChatModel, claims_reply
from tests.unit.test_agent_loop import deps_for


@pytest.mark.parametrize(
    "question",
    [
        "who's on call for auth tonight?",
        "Is ledger-exporter healthy?",
        "is billing-api down?",
        "What was the latest deploy of auth-gateway and who pushed it?",
        "Any open incidents on shipment-tracker?",
        "Please open a ticket for the flaky build agent",
        "who is the secondary for tracking this week",
        "现在谁在值班？",
        "payments-api 目前健康吗？",
    ],
)
def test_live_state_questions_are_recognised(question: str) -> None:
    assert asks_live_state(question)


@pytest.mark.parametrize(
    "question",
    [
        "How does the weekly on-call handover work?",
        "What is the on-call allowance?",
        "How do I deploy payments-api?",
        "What does SEV2 mean for incident response?",
        "Which port does the gRPC API listen on?",
        "值班交接在什么时候？",
    ],
)
def test_how_to_questions_are_not(question: str) -> None:
    assert not asks_live_state(question)


def test_without_internal_tools_a_live_question_stays_direct() -> None:
    """Nothing could answer it with tools: DEEP would only cost time."""
    model = ScriptedChatModel(replies=[claims_reply()])
    answer = Agent(deps_for(model)).ask("Is payments-api healthy right now?")
    assert answer.route == "direct"
