"""A question asked in Slack: where it was asked and by whom."""

from __future__ import annotations

from dataclasses import dataclass

from bots.slack.files import SharedFile


@dataclass(frozen=True)
class Question:
    channel: str
    user: str
    text: str
    ts: str  # the message asked
    thread_ts: str  # its thread (the message itself when top-level)
    files: tuple[SharedFile, ...] = ()  # shared with the message: data for a computation

    @property
    def thread_id(self) -> str:
        """The LangGraph thread: one Slack thread is one conversation."""
        return f"slack:{self.channel}:{self.thread_ts}"
