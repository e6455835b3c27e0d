"""One replica for benchmarks/replicas_bench.py (not run by hand).

    python benchmarks/replica_app.py web|slack

The real web app (`oncall serve`: bots.web.server.serve) or the real Slack HTTP worker
(`oncall slack --http`: bots.slack.run.serve), composed the way `oncall` composes them
(oncall.cli.compose.agent_over: the app state from ONCALL_APPSTATE__URL, the Postgres
checkpointer it implies, turn records, audit and rate limits in the shared database). Only
the model, the embedder and the index are fakes, so no replica loads torch or a GGUF:

- the model answers each question by its `case-N` tag ("Answer for case-N: ..."), word by
  word (`BENCH_TOKEN_DELAY` s apart; `BENCH_SLOW_DELAY` for questions that say "slow"), asks
  for `create_ticket` first when the question says "ticket" (DEEP), so approvals happen;
- a keyword router sends "ticket" questions DEEP and the rest DIRECT.

Everything else comes from the environment the benchmark sets (ONCALL_*).
"""

from __future__ import annotations

import logging
import os
import re
import sys
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from agent.router import Route, RouteDecision
from agent.state import Deps
from bots.slack.run import serve as serve_slack
from bots.web.server import serve as serve_web
from oncall.appstate import AppState
from oncall.cli.compose import agent_over
from oncall.core.settings import AgentSettings, RetrievalSettings, Settings
from oncall.testing.fakes import FakeStore, HashEmbedder, StreamingScriptedChatModel, fake_catalogue
from oncall.testing.web_support import DOCS, TICKET

CASE = re.compile(r"case-[A-Za-z0-9]+")


class CaseModel(StreamingScriptedChatModel):
    """Deterministic per question, whatever the interleaving of concurrent turns."""

    def _next_reply(self, messages: list[BaseMessage]) -> AIMessage:
        asked = [i for i, m in enumerate(messages) if isinstance(m, HumanMessage)]
        question = str(messages[asked[-1]].content) if asked else ""
        tags = CASE.findall(question)
        tag = tags[-1] if tags else "case-none"
        call_id = f"w-{tag}"
        done = any(isinstance(m, ToolMessage) and m.tool_call_id == call_id for m in messages)
        if "ticket" in question.lower() and not done:
            call = {"name": "create_ticket", "args": TICKET, "id": call_id}
            return AIMessage("", tool_calls=[call])
        return AIMessage(f"Answer for {tag}: acknowledge SEV2 pages within 15 minutes [1].")

    def _stream(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> Any:
        slow = any("slow" in str(m.content) for m in messages if isinstance(m, HumanMessage))
        delay = os.environ.get("BENCH_SLOW_DELAY" if slow else "BENCH_TOKEN_DELAY", "0.01")
        self.token_delay_s = float(delay)
        self.calls.clear()  # a long run must not keep every prompt
        return super()._stream(messages, *args, **kwargs)


class KeywordRouter:
    def decide(self, question: str, override: Route | None = None) -> RouteDecision:
        route: Route = override or ("deep" if "ticket" in question.lower() else "direct")
        return RouteDecision(route, 1.0, "benchmark keyword router", "rule")


def main(role: str) -> None:
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = Settings()  # the environment: app state URL, ports, Slack fake, users file
    embedder = HashEmbedder()
    with AppState(settings.appstate, settings.data_dir) as state:
        deps = Deps(
            store=FakeStore(DOCS, embedder),  # type: ignore[arg-type]
            embedder=embedder,
            chat_model=CaseModel(),
            router=KeywordRouter(),
            retrieval=RetrievalSettings(top_k=2, min_similarity=0.0),
            agent=AgentSettings(plan_internal_tools=False),
            catalogue=fake_catalogue(settings.data_dir / "audit.jsonl", [], state),
        )
        with agent_over(deps, settings, state) as agent:
            if role == "web":
                serve_web(settings, agent, settings.web.host, settings.web.port, state)
            else:
                serve_slack(settings, agent, "http", state)


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("web", "slack"):
        sys.exit("usage: replica_app.py web|slack (started by benchmarks/replicas_bench.py)")
    main(sys.argv[1])
