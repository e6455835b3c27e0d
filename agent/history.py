"""Conversation memory as the model sees it: earlier questions and final answers only."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage

FOLLOW_UP_WORDS = 8  # a question this short after earlier turns is read with the last one


def conversation_history(messages: list[AnyMessage], turns: int) -> list[AnyMessage]:
    """Earlier questions and final answers (no tool traffic), at most `turns` pairs; the
    current question (the last human message) is excluded."""
    earlier = messages[: last_human_index(messages)]
    pairs: list[AnyMessage] = [
        m
        for m in earlier
        if isinstance(m, HumanMessage)
        or (isinstance(m, AIMessage) and not m.tool_calls and str(m.content).strip())
    ]
    return pairs[-2 * turns :] if turns else []


def retrieval_query(question: str, history: list[AnyMessage]) -> str:
    """A short follow-up ("and how long does it take?") is searched together with the
    previous question, which names what "it" is."""
    previous = [m for m in history if isinstance(m, HumanMessage)]
    if previous and len(question.split()) <= FOLLOW_UP_WORDS:
        return f"{previous[-1].content} {question}"
    return question


def current_turn(messages: list[AnyMessage]) -> list[AnyMessage]:
    return messages[last_human_index(messages) :]


def last_human_index(messages: list[AnyMessage]) -> int:
    for i in range(len(messages) - 1, -1, -1):
        if isinstance(messages[i], HumanMessage):
            return i
    return 0
