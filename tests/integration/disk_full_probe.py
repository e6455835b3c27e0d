"""Run by test_faults.py inside its own mount namespace, with DATA_DIR a tiny tmpfs: a
conversation whose data dir fills up between two turns, then gets space back.

Prints one JSON object: the error of the turn asked on a full disk, and the prompts of
the turns after it (so the test can check the earlier turns were kept).
"""

from __future__ import annotations

import errno
import json
import sys
from pathlib import Path
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from agent.memory import open_checkpointer
from agent.records import TurnRecorder
from agent.service import Agent
from agent.state import Deps
from oncall.core.errors import OncallError
from oncall.core.settings import AgentSettings, RetrievalSettings
from oncall.testing.fakes import FakeStore, HashEmbedder, ScriptedChatModel

DOC = {"text": "Roll back payments-api with lfctl rollback payments-api.", "doc_id": "rb"}


class EchoModel(ScriptedChatModel):
    """Answers every question with a fixed sentence naming it (no queue to run out)."""

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any) -> ChatResult:
        self.calls.append(list(messages))
        question = str(messages[-1].content).rsplit("Question: ", 1)[-1]
        reply = AIMessage(f"Roll back with lfctl rollback payments-api ({question}).")
        return ChatResult(generations=[ChatGeneration(message=reply)])


def agent_over(data_dir: Path, saver: Any, model: EchoModel) -> Agent:
    embedder = HashEmbedder()
    deps = Deps(
        store=FakeStore([DOC], embedder),
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=1, min_similarity=0.0),
        agent=AgentSettings(),
    )
    return Agent(deps, checkpointer=saver, recorder=TurnRecorder(data_dir / "turns.sqlite"))


def fill(path: Path) -> None:
    with path.open("wb") as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise


def main(data_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    model = EchoModel()
    with open_checkpointer(data_dir) as saver:
        agent = agent_over(data_dir, saver, model)
        agent.ask("how do I roll back payments-api?", thread_id="t1")
        fill(data_dir / "filler")
        try:
            agent.ask("and how long does a rollback take on a full disk?", thread_id="t1")
            out["error"] = None
        except OncallError as exc:
            out["error"] = {"code": exc.code, "detail": exc.detail}
        (data_dir / "filler").unlink()
        agent.ask("and who approves it?", thread_id="t1")
        out["after"] = [str(m.content) for m in model.calls[-1]]
    with open_checkpointer(data_dir) as saver:  # a restarted process
        fresh = EchoModel()
        agent_over(data_dir, saver, fresh).ask("and where is it logged?", thread_id="t1")
        out["restarted"] = [str(m.content) for m in fresh.calls[-1]]
    return out


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]))))
