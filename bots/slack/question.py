"""A question asked in Slack: where it was asked and by whom."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Question:
    channel: str
    user: str
    text: str
    ts: str  # the message asked
    thread_ts: str  # its thread (the message itself when top-level)

    @property
    def thread_id(self) -> str:
        """The LangGraph thread: one Slack thread is one conversation."""
        return f"slack:{self.channel}:{self.thread_ts}"
