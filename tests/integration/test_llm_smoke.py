"""The real embedded model end to end: llama-server, the default 1.5B model, the graph.

Slow (model assembly on first run, ~3 s start, a few seconds per answer); deselect with
`-m "not llm"`.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from agent.service import answer_question
from ingest.pipeline import IngestReport
from oncall.cli.compose import build_deps
from oncall.core.errors import OncallError
from oncall.core.settings import AgentSettings, EmbeddedLLMSettings, LLMSettings, Settings
from oncall.llm.embedded import LlamaServer, embedded_server, port_is_free


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # One assembled model for the module; outside the per-test data dirs.
    return tmp_path_factory.mktemp("llm-data")


@pytest.fixture(scope="module")
def server(model_dir: Path) -> Iterator[LlamaServer]:
    config = EmbeddedLLMSettings(port=free_port())
    with embedded_server(config, model_dir) as srv:
        yield srv


def test_cited_answer_from_the_handbook(
    server: LlamaServer, handbook_index: tuple[Path, IngestReport]
) -> None:
    settings = Settings(data_dir=handbook_index[0])
    deps = build_deps(settings, server.base_url)
    try:
        result = answer_question(
            "When does the current Kestrel PSP client certificate (kestrel-mtls-client) expire?",
            deps,
        )
    finally:
        deps.store.close()
    assert "2027-02-15" in result.text
    assert not result.abstained
    assert "runbooks/certificate-expiry" in {c.hit.doc_id for c in result.citations}
    assert result.usage["completion_tokens"] > 0


def test_a_taken_port_never_collides(model_dir: Path, server: LlamaServer) -> None:
    """The configured port is held by the same model: reused, not started twice, and left
    running; held by something else: the server starts on another, free port."""
    same = EmbeddedLLMSettings(port=server.config.port)
    with embedded_server(same, model_dir) as reused:
        assert reused.reused and reused.process is None
        assert reused.base_url == server.base_url
    assert server.process is not None and server.process.poll() is None, "left running"

    smaller = EmbeddedLLMSettings(port=server.config.port, context_size=16384)
    with embedded_server(smaller, model_dir) as own:  # more context than the running one
        assert not own.reused and own.port != server.config.port
        assert own.process is not None and own.process.poll() is None

    with socket.socket() as holder:  # not a model server at all
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = EmbeddedLLMSettings(port=holder.getsockname()[1])
        with embedded_server(taken, model_dir) as moved:
            assert not moved.reused and moved.port != taken.port
            assert moved.process is not None and moved.process.poll() is None
            assert httpx.get(moved.base_url + "/models", timeout=10).status_code == 200


def test_start_refuses_a_taken_port_by_name(model_dir: Path, server: LlamaServer) -> None:
    """`LlamaServer.start` itself (used with an explicit port) still says what to do."""
    direct = LlamaServer(server.config, server.model_path, model_dir / "log")
    with pytest.raises(OncallError) as err:
        direct.start()
    assert err.value.code == "port_in_use"
    assert str(server.config.port) in err.value.detail
    assert "ONCALL_LLM__EMBEDDED__PORT" in err.value.detail


def test_server_stops_cleanly(model_dir: Path) -> None:
    config = EmbeddedLLMSettings(port=free_port())
    with embedded_server(config, model_dir) as srv:
        proc = srv.process
        assert proc is not None and proc.poll() is None
    assert proc.poll() is not None
    assert port_is_free("127.0.0.1", config.port), "a restart can bind the port at once"
    with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
        sock.connect(("127.0.0.1", config.port))


def test_real_graph_direct_and_deep(
    server: LlamaServer, handbook_index: tuple[Path, IngestReport]
) -> None:
    """The full graph (router, DIRECT, DEEP loop, memory) on the real model and index."""
    from oncall.cli.compose import running_agent

    # Bounded so a 2-core CI box finishes in minutes: two model calls at most for DEEP,
    # short answers, and a generous timeout in case the machine is busy.
    settings = Settings(
        data_dir=handbook_index[0],
        llm=LLMSettings(timeout_s=600, max_tokens=256),
        agent=AgentSettings(max_steps=2, context_chars=3000),
    )
    with running_agent(settings, server.base_url) as agent:
        direct = agent.ask("Which port does route-optimizer's gRPC API listen on?")
        assert direct.route == "direct", direct.route_reason
        assert "50051" in direct.text and direct.citations
        assert "llm" in direct.timings_ms and direct.turn_id

        deep = agent.ask(
            "KafkaConsumerLagHigh paged me for notification-service. Which dashboard should I "
            "open, and who do I escalate to if lag keeps growing?",
            route="deep",
        )
        assert deep.route == "deep"
        # The seed step searches; the model may add calls of its own (run_python...).
        assert deep.tool_calls and deep.tool_calls[0].name == "search_docs"
        assert "runbooks/kafka-consumer-lag" in {h.doc_id for h in deep.hits}
        assert deep.text and deep.usage["completion_tokens"] > 0
        # Either a cited answer or an honest hand-over, never an unmarked guess.
        assert deep.citations or deep.handover is not None


def test_the_demo_tool_question_names_who_is_on_call_and_the_health(
    server: LlamaServer,
    handbook_index: tuple[Path, IngestReport],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    """The README demo's second question on the real model: the DEEP seed plans the
    internal-tool calls, the model answers from their results, and grounding keeps only
    what the tools said (issue 16: the on-call engineer's name and the service's health)."""
    from oncall.cli.compose import running_agent
    from oncall.cli.demo import DEMO_CATALOGUE, DEMO_GROUPS, DEMO_QUESTION, demo_platform
    from oncall.core.identity import Principal

    settings = Settings(data_dir=handbook_index[0], llm=LLMSettings(timeout_s=900))
    settings.tools.catalogue_path = DEMO_CATALOGUE
    with demo_platform(free_port(), tmp_path / "logs") as platform:
        for name, value in platform.env().items():
            monkeypatch.setenv(name, value)
        with running_agent(settings, server.base_url) as agent:
            answer = agent.ask(DEMO_QUESTION, route="deep", user=Principal.local(DEMO_GROUPS))
    called = {c.name for c in answer.tool_calls}
    assert {"get_oncall", "get_service_status"} <= called, called
    assert not answer.abstained, answer.dropped
    assert "Priya Raman" in answer.text
    assert "degraded" in answer.text.lower()
    assert answer.citations and all(c.hit for c in answer.citations)
