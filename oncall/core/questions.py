"""What makes a question acceptable, checked by every front end before anything expensive
(the CLI before a model server starts, the web schema, Slack, the agent itself)."""

from __future__ import annotations

from oncall.core.redact import redact_text

MAX_QUESTION_CHARS = 4000


def validate_question(question: str) -> str:
    """The question, stripped, with any secret pasted into it cut (oncall/core/redact.py) before
    it is sent to the model or stored; empty and over-long questions raise `ValueError`."""
    question = question.strip()
    if not question:
        raise ValueError("the question is empty: ask something, e.g. oncall ask 'how do I ...'")
    if len(question) > MAX_QUESTION_CHARS:
        raise ValueError(
            f"the question is {len(question)} characters; the limit is {MAX_QUESTION_CHARS}. "
            "Shorten it, or put long logs in a file and ask about the relevant part"
        )
    return redact_text(question)
