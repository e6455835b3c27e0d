"""The client's requests against vLLM's request contract (oncall/testing/fake_vllm.py on loopback):
thinking toggle, tools, streaming, usage accounting, a whole DEEP run, the context budget
read from /v1/models, and the launcher's process handling with a stand-in `vllm`."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from langchain_core.messages import AIMessageChunk, HumanMessage, SystemMessage, ToolMessage

from agent.service import Agent
from agent.state import Deps
from agent.tooling import TOOLS
from oncall.core.errors import OncallError
from oncall.core.settings import (
    AgentSettings,
    LLMSettings,
    RetrievalSettings,
    Settings,
    VLLMSettings,
)
from oncall.llm.client import build_chat_model, invoke_chat
from oncall.llm.context_budget import fit_agent_settings, server_context_tokens
from oncall.llm.vllm_serve import VllmServer
from oncall.testing.fake_vllm import FakeVLLM, Reply
from oncall.testing.fakes import FakeStore, HashEmbedder, answer_action, call_action
from tests.unit.test_graph import CHUNKS

QWEN3 = LLMSettings(model="local", supports_thinking=True, max_tokens=256, seed=7, max_retries=0)
ROLLBACK = "Roll back with lfctl rollback payments-api --to <previous-sha>."
PROMPT = [SystemMessage("You answer from docs."), HumanMessage("How do I roll back payments?")]


@pytest.fixture
def fake() -> Iterator[FakeVLLM]:
    with FakeVLLM() as server:
        yield server


def test_the_fake_rejects_what_vllm_rejects(fake: FakeVLLM) -> None:
    """The validator is not vacuous: each of these is a 4xx, none reaches the model."""
    base = {"model": "local", "messages": [{"role": "user", "content": "hi"}]}
    tool = {"type": "function", "function": {"name": "search_docs", "parameters": {}}}
    bad = [
        {**base, "stream_options": {"include_usage": True}},  # without stream
        {**base, "tool_choice": "auto"},  # without tools
        {**base, "tools": [tool], "tool_choice": {"type": "function", "function": {"name": "x"}}},
        {**base, "chat_template_kwargs": {"enable_thinking": "no"}},
        {**base, "max_completion_token": 5},  # misspelt knob: vLLM would silently ignore it
        {**base, "messages": [{"role": "tool", "content": "r", "tool_call_id": "nope"}]},
        {**base, "messages": [{"role": "robot", "content": "hi"}]},
        {**base, "model": "Qwen/Qwen3-8B"},  # not the served name
    ]
    for body in bad:
        response = httpx.post(f"{fake.base_url}/chat/completions", json=body, timeout=5)
        assert response.status_code in (400, 404), body
    assert fake.requests == [] and len(fake.rejections) == len(bad)


def test_thinking_toggle_reaches_the_chat_template(fake: FakeVLLM) -> None:
    fake.enqueue(Reply("Direct answer.", reasoning="hidden"), Reply("Deep answer.", "Let me see"))
    direct = invoke_chat(build_chat_model(QWEN3, fake.base_url, thinking=False), PROMPT)
    deep = invoke_chat(build_chat_model(QWEN3, fake.base_url, thinking=True), PROMPT)

    assert [r.chat_template_kwargs for r in fake.requests] == [
        {"enable_thinking": False},
        {"enable_thinking": True},
    ]
    # The reasoning parser keeps thinking text out of the answer in both modes.
    assert (direct.content, deep.content) == ("Direct answer.", "Deep answer.")
    first = fake.requests[0]
    assert (first.model, first.seed, first.max_completion_tokens) == ("local", 7, 256)
    assert first.temperature == 0.1 and not first.stream


def test_models_without_a_thinking_mode_get_no_template_kwargs(fake: FakeVLLM) -> None:
    fake.enqueue("ok")
    plain = LLMSettings(supports_thinking=False, max_retries=0)
    invoke_chat(build_chat_model(plain, fake.base_url, thinking=True), PROMPT)
    assert fake.raw[0].get("chat_template_kwargs") is None


def test_tools_round_trip_with_hermes_style_calls(fake: FakeVLLM) -> None:
    fake.enqueue(Reply(tool_calls=[("search_docs", {"query": "payments rollback"})]), "Done.")
    model = build_chat_model(QWEN3, fake.base_url, thinking=True)
    bound = model.bind_tools([t.schema for t in TOOLS])

    reply = invoke_chat(bound, PROMPT)
    request = fake.requests[0]
    assert request.tools and request.tools[0].function.name == "search_docs"
    assert request.tools[0].function.parameters["required"] == ["query"]  # type: ignore[index]
    assert request.tool_choice in (None, "auto"), "vLLM needs --enable-auto-tool-choice"
    assert reply.tool_calls == [
        {
            "name": "search_docs",
            "args": {"query": "payments rollback"},
            "id": "call_1_0",
            "type": "tool_call",
        }
    ]

    follow_up = [*PROMPT, reply, ToolMessage("Run lfctl rollback.", tool_call_id="call_1_0")]
    assert invoke_chat(bound, follow_up).content == "Done."
    roles = [m.role for m in fake.requests[1].messages]
    assert roles == ["system", "user", "assistant", "tool"]


def test_streaming_carries_usage(fake: FakeVLLM) -> None:
    fake.enqueue(Reply("Roll back with lfctl rollback payments-api.", reasoning="check docs"))
    model = build_chat_model(QWEN3, fake.base_url, thinking=True)

    total: AIMessageChunk | None = None
    pieces = 0
    for chunk in model.stream(PROMPT):
        pieces += 1
        total = chunk if total is None else total + chunk
    assert total is not None and pieces > 3, "tokens arrived incrementally"
    request = fake.requests[0]
    assert request.stream and request.stream_options is not None
    assert request.stream_options.include_usage is True
    assert total.content == "Roll back with lfctl rollback payments-api."
    usage = fake.usage[0]
    assert total.usage_metadata is not None
    assert total.usage_metadata["input_tokens"] == usage["prompt_tokens"]
    assert total.usage_metadata["output_tokens"] == usage["completion_tokens"] == 8


def test_server_errors_become_oncall_errors(fake: FakeVLLM) -> None:
    wrong = QWEN3.model_copy(update={"model": "Qwen/Qwen3-8B"})
    with pytest.raises(OncallError) as info:
        invoke_chat(build_chat_model(wrong, fake.base_url), PROMPT)
    assert info.value.code == "llm_error" and "404" in info.value.detail


def test_a_deep_run_is_valid_prefix_stable_and_accounted(fake: FakeVLLM) -> None:
    """The whole graph over HTTP: every request passes the contract and is constrained to
    the action schema, DEEP thinks, each step's prompt extends the previous one (the
    server's prompt cache reuses it), and the answer's usage sums the server's."""
    fake.enqueue(
        Reply(call_action(("search_docs", {"query": "SEV2 ack"})), reasoning="need who acks"),
        Reply(
            answer_action(
                (1, "lfctl rollback payments-api --to <previous-sha>", ROLLBACK),
                (
                    2,
                    "acknowledged within 15 minutes",
                    "A SEV2 page is acknowledged within 15 minutes.",
                ),
            )
        ),
    )
    embedder = HashEmbedder()
    deps = Deps(
        store=FakeStore(CHUNKS, embedder),  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=build_chat_model(QWEN3, fake.base_url, thinking=False),
        deep_model=build_chat_model(QWEN3, fake.base_url, thinking=True),
        retrieval=RetrievalSettings(top_k=2, min_similarity=0.2),
    )
    answer = Agent(deps).ask("How do I roll back payments-api and who acks SEV2?", route="deep")

    assert fake.rejections == [] and len(fake.requests) == 2
    assert all(r.thinking for r in fake.requests)
    assert all(
        (r.response_format or {}).get("type") == "json_schema" and r.tools is None
        for r in fake.requests
    )
    first, second = (r.model_dump(exclude_none=True) for r in fake.requests)
    assert second["messages"][: len(first["messages"])] == first["messages"]
    assert [m["role"] for m in second["messages"][-2:]] == ["assistant", "user"]
    assert answer.text.startswith(ROLLBACK.rstrip("."))
    assert "15 minutes" in answer.text and len(answer.citations) == 2
    assert answer.usage["prompt_tokens"] == sum(u["prompt_tokens"] for u in fake.usage)
    assert answer.usage["completion_tokens"] == sum(u["completion_tokens"] for u in fake.usage)


def test_the_forced_final_answer_offers_only_the_answer(fake: FakeVLLM) -> None:
    """At the step limit DEEP asks for an answer: the schema of the last request has no
    call branch, so the model cannot ask for another tool, and the answer still counts."""
    fake.enqueue(
        Reply(call_action(("search_docs", {"query": "SEV2 ack"}))),
        Reply(
            answer_action(
                (1, "acknowledged within 15 minutes", "The primary acks within 15 minutes.")
            )
        ),
    )
    embedder = HashEmbedder()
    deps = Deps(
        store=FakeStore(CHUNKS, embedder),  # type: ignore[arg-type]
        embedder=embedder,
        chat_model=build_chat_model(QWEN3, fake.base_url, thinking=True),
        retrieval=RetrievalSettings(top_k=2, min_similarity=0.2),
        agent=AgentSettings(max_steps=2),
    )
    answer = Agent(deps).ask("Who acknowledges a SEV2 page?", route="deep")

    assert fake.rejections == [] and len(fake.requests) == 2
    schemas = [
        r.response_format["json_schema"]["schema"] for r in fake.requests if r.response_format
    ]
    assert "anyOf" in schemas[0]  # a call or an answer
    assert "anyOf" not in schemas[1] and schemas[1]["properties"]["action"] == {"const": "answer"}
    assert fake.requests[1].messages[-1].role == "user"
    assert answer.text.startswith("The primary acks within 15 minutes")


def test_context_budget_read_from_the_server(fake: FakeVLLM) -> None:
    assert server_context_tokens(fake.base_url, "local") == 32768
    settings = Settings(llm=QWEN3)
    assert (
        fit_agent_settings(settings, fake.base_url).context_chars == (32768 - 256 - 1536) * 5 // 2
    )
    off = settings.model_copy(
        update={"agent": settings.agent.model_copy(update={"context_from_server": False})}
    )
    assert fit_agent_settings(off, fake.base_url).context_chars == 6000
    assert server_context_tokens("http://127.0.0.1:9/v1", timeout=0.5) is None


STAND_IN = """\
#!{python}
# Stands in for `vllm serve`: records its argv, then serves /health like vLLM.
import json, sys
from http.server import BaseHTTPRequestHandler, HTTPServer
open({argv_file!r}, "w").write(json.dumps(sys.argv[1:]))
if {fail}:
    print("CUDA out of memory", flush=True)
    sys.exit(3)
port = int(sys.argv[sys.argv.index("--port") + 1])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{{}}")
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""


def _stand_in(tmp_path: Path, fail: bool) -> tuple[Path, Path]:
    exe, argv_file = tmp_path / "vllm-env" / "vllm", tmp_path / "argv.json"
    exe.parent.mkdir()
    exe.write_text(STAND_IN.format(python=sys.executable, argv_file=str(argv_file), fail=fail))
    exe.chmod(0o755)
    return exe, argv_file


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_launcher_starts_waits_for_health_and_stops(tmp_path: Path) -> None:
    exe, argv_file = _stand_in(tmp_path, fail=False)
    port = _free_port()
    settings = LLMSettings(vllm=VLLMSettings(executable=str(exe), port=port, profile="fp8"))
    server = VllmServer(settings, tmp_path / "logs" / "vllm.log")
    server.start()
    try:
        assert server.base_url == f"http://127.0.0.1:{port}/v1"
        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200
        argv = json.loads(argv_file.read_text())
        assert argv[:2] == ["serve", "Qwen/Qwen3-8B"] and "--kv-cache-dtype" in argv
    finally:
        server.stop(grace_s=5)
    assert server.process is not None and server.process.poll() is not None


def test_launcher_reports_a_crash_with_its_log(tmp_path: Path) -> None:
    exe, _ = _stand_in(tmp_path, fail=True)
    settings = LLMSettings(vllm=VLLMSettings(executable=str(exe), port=_free_port()))
    server = VllmServer(settings, tmp_path / "vllm.log")
    with pytest.raises(OncallError) as info:
        server.start()
    assert info.value.code == "vllm_failed" and "vllm.log" in info.value.detail
    assert "CUDA out of memory" in (tmp_path / "vllm.log").read_text()


def test_launcher_refuses_a_busy_port(tmp_path: Path, fake: FakeVLLM) -> None:
    port = int(fake.base_url.split(":")[2].split("/")[0])
    server = VllmServer(LLMSettings(vllm=VLLMSettings(port=port)), tmp_path / "v.log")
    with pytest.raises(OncallError, match="ONCALL_LLM__VLLM__PORT"):
        server.start()


def test_serving_benchmark_speaks_the_contract(fake: FakeVLLM, tmp_path: Path) -> None:
    from benchmarks.llm_serving import main_async, parse_args

    fake.enqueue(*[Reply("one two three four", reasoning="hm") for _ in range(8)])
    args = parse_args(
        [
            "--base-url",
            fake.base_url,
            "--concurrency",
            "1,2",
            "--requests",
            "2",
            "--thinking",
            "--out",
            str(tmp_path / "bench.json"),
        ]
    )
    results = asyncio.run(main_async(args))

    assert fake.rejections == [] and len(fake.requests) == 8
    assert [(r["mode"], r["concurrency"]) for r in results["levels"]] == [
        ("direct", 1),
        ("direct", 2),
        ("deep", 1),
        ("deep", 2),
    ]
    assert [r.thinking for r in fake.requests] == [False] * 4 + [True] * 4
    assert all(r["completion_tokens_total"] > 0 for r in results["levels"])
    assert len({r.messages[1].content for r in fake.requests}) == 8, "no shared documents"
