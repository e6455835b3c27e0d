"""Progress a node reports while it works, for streamed turns (agent/streaming.py turns it
into `search` / `retrieval` events). Imports nothing of ours, so any layer of the agent
can report."""

from __future__ import annotations

from typing import Any


def report_progress(event: str, **data: Any) -> None:
    """Tell a streaming front end what the current node is doing (`search` {query},
    `retrieval` {query, hits}). A no-op outside a streamed graph run, e.g. in `ask`, or in
    a worker thread a node started (no LangGraph context there)."""
    try:
        from langgraph.config import get_stream_writer

        writer = get_stream_writer()
    except (RuntimeError, LookupError):
        return
    writer({"event": event, **data})
