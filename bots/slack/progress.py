"""What a user sees while the agent works, and when it fails.

One status message is posted in the thread as soon as a question is taken and edited
(`chat.update`) as the turn progresses: the route, each tool call, then the draft answer as
it is generated. Edits are throttled, since chat.update is rate-limited (Tier 3, about 50 a
minute per channel) and a 429 would only slow the final answer. The final answer replaces
the status message in place, so the thread reads question -> answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from agent.streaming import AgentEvent
from bots.slack.formatting import SECTION_CHARS, escape, to_mrkdwn
from bots.slack.messages import Message, context, section, status_message
from oncall.core.errors import OncallError

log = logging.getLogger(__name__)

STATUS_EVERY_S = 1.0  # least time between two status edits
DRAFT_EVERY_S = 2.0  # least time between two draft edits


class StatusMessage:
    """The thread's live status message; `post` is a `chat.postMessage`/`chat.update`
    wrapper returning the message ts (None when Slack refused)."""

    def __init__(
        self,
        send: Callable[[Message, str | None], str | None],
        clock: Callable[[], float] = time.monotonic,
    ):
        self._send = send
        self._clock = clock
        self.ts: str | None = None
        self._shown_at = float("-inf")
        self._draft = ""

    def show(self, text: str, force: bool = False) -> None:
        """Post (first time) or edit the status line, at most once per STATUS_EVERY_S."""
        self._edit(status_message(text), STATUS_EVERY_S, force)

    def on_event(self, event: AgentEvent) -> None:
        """Turn one `Agent.stream` event into a status edit (or nothing)."""
        if event.type == "route":
            deep = event.data.get("route") == "deep"
            self.show("Thinking it through…" if deep else "Looking it up in the docs…", True)
        elif event.type == "tool_start":
            self.show("Running " + ", ".join(_call_label(c) for c in event.data["calls"]), True)
        elif event.type == "token":
            self._draft += str(event.data.get("text", ""))
            self._edit(_draft_message(self._draft), DRAFT_EVERY_S, False)
        elif event.type == "draft_reset":
            self._draft = ""

    def _edit(self, message: Message, every_s: float, force: bool) -> None:
        now = self._clock()
        if self.ts is not None and not force and now - self._shown_at < every_s:
            return
        self._shown_at = now
        ts = self._send(message, self.ts)
        self.ts = self.ts or ts


def _call_label(call: dict[str, Any]) -> str:
    query = call.get("args", {}).get("query")  # model-written: escaped, so it cannot ping
    name = f"`{escape(str(call.get('name', '?')))}`"
    return f"{name} ({escape(str(query)[:80])})" if query else name


def _draft_message(draft: str) -> Message:
    text = to_mrkdwn(draft)
    if len(text) > SECTION_CHARS - 50:
        text = "…" + text[-(SECTION_CHARS - 50) :]
    return {"text": text, "blocks": [section(text), context(":pencil2: writing…")]}


# code -> (what went wrong, what to do), in words for the person who asked.
_PROBLEMS = {
    "llm_timeout": (
        "the language model is overloaded and did not answer in time.",
        "Try again in a minute or two.",
    ),
    "llm_unreachable": (
        "the language model server is not reachable right now.",
        "The operators can see why in the bot's log; try again later.",
    ),
    "llm_error": (
        "the language model server returned an error.",
        "Try again; if it keeps failing, the operators can see why in the bot's log.",
    ),
    "store_unavailable": (
        "the document index is unavailable right now.",
        "Try again in a few minutes.",
    ),
    "store_busy": (
        "the document index is busy (being rebuilt or opened by another process).",
        "Try again in a minute.",
    ),
    "index_empty": (
        "no documents have been indexed yet.",
        "Ask the bot's operators to run `oncall ingest` or `oncall sync`.",
    ),
}


def explain_failure(exc: Exception) -> tuple[str, str]:
    """(problem, what to do) for a failed turn, without internal URLs or settings names,
    which go to the log instead."""
    if isinstance(exc, OncallError):
        log.error("turn failed (%s): %s", exc.code, exc.detail)
        if exc.code in _PROBLEMS:
            return _PROBLEMS[exc.code]
        if exc.code.startswith("sandbox"):
            return ("the code sandbox failed.", "Ask again without needing to run code.")
        return (f"an internal error ({exc.code}).", "Try again in a few minutes.")
    log.exception("turn failed unexpectedly", exc_info=exc)
    return (
        f"an unexpected error ({type(exc).__name__}).",
        "Try again; the operators can see the details in the bot's log.",
    )
