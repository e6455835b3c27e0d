"""Internal tools against the real demo platform: its FastAPI service under uvicorn on
loopback (a subprocess, as `oncall demo` starts it), its MCP server as a stdio subprocess
started by the catalogue, and once over streamable HTTP. The model is scripted; every
tool call is real."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent.service import Agent
from agent.state import Deps
from oncall.cli.demo import DEMO_CATALOGUE, DEMO_DIR, DemoPlatform, demo_platform
from oncall.core.errors import ConfigError, ToolError
from oncall.core.identity import Principal
from oncall.core.settings import AgentSettings, RetrievalSettings
from oncall.testing.fakes import (
    FakeStore,
    HashEmbedder,
    ScriptedChatModel,
    answer_action,
    plan_reply,
)
from tools.internal import Catalogue, load_catalogue, openapi
from tools.internal.catalogue import McpTarget
from tools.internal.mcp_client import McpConnection
from tools.internal.policy import AuthConfig, ResolvedAuth

ONCALL_ENGINEER = Principal("priya", frozenset({"oncall"}), "Priya")
QUESTION = "Who is on call for payments and is it healthy?"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoPlatform]:
    with demo_platform(free_port(), tmp_path_factory.mktemp("platform-logs")) as running:
        yield running


@pytest.fixture(scope="module")
def catalogue(
    platform: DemoPlatform, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Catalogue]:
    loaded = load_catalogue(DEMO_CATALOGUE, platform.env(), tmp_path_factory.mktemp("data"))
    yield loaded
    loaded.close()


def agent_for(catalogue: Catalogue, replies: list[Any]) -> tuple[Agent, ScriptedChatModel]:
    model = ScriptedChatModel(replies=replies)
    embedder = HashEmbedder()
    deps = Deps(
        store=FakeStore([], embedder),
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(),
        agent=AgentSettings(plan_internal_tools=True),
        catalogue=catalogue,
    )
    return Agent(deps), model


def tickets(platform: DemoPlatform) -> list[dict[str, Any]]:
    return httpx.get(f"{platform.url}/incidents", timeout=5).json()


def test_served_spec_matches_the_checked_in_file(platform: DemoPlatform) -> None:
    served = httpx.get(f"{platform.url}/openapi.json", timeout=5).json()
    checked_in = json.loads((DEMO_DIR / "platform.openapi.json").read_text())
    assert served == checked_in, "regenerate platform.openapi.json from service.create_app()"


def test_demo_catalogue_loads_openapi_and_mcp_tools_with_policies(catalogue: Catalogue) -> None:
    tools = catalogue.tools
    assert set(tools) == {
        "get_service_status", "list_recent_deploys", "get_oncall", "create_incident_ticket",
        "recent_incidents", "silence_alert",
    }  # fmt: skip
    assert {n for n, t in tools.items() if t.write} == {"create_incident_ticket", "silence_alert"}
    everyone = {t.name for t in catalogue.permitted(Principal("guest"))}
    assert "create_incident_ticket" not in everyone and "get_oncall" in everyone
    assert "payments (payments-api)" in tools["get_oncall"].description, "description override"


def test_who_is_on_call_for_payments_and_is_it_healthy(catalogue: Catalogue) -> None:
    plan = plan_reply(
        ("get_oncall", {"team": "payments"}), ("get_service_status", {"service": "payments-api"})
    )
    # No docs are indexed: evidence [1] is the on-call result, [2] the status.
    answer = answer_action(
        (1, "", "Priya Raman is the payments primary on call."),
        (2, "", "payments-api is degraded, with 2.4% errors."),
    )
    agent, model = agent_for(catalogue, [plan, answer])
    result = agent.ask(QUESTION, route="deep", user=ONCALL_ENGINEER)

    prompt = str(model.calls[-1][-1].content)
    assert "Priya Raman" in prompt and '"health":"degraded"' in prompt
    assert result.text == (
        "Priya Raman is the payments primary on call [1]. "
        "payments-api is degraded, with 2.4% errors [2]."
    )
    assert [c.hit.doc_id for c in result.citations] == ["get_oncall", "get_service_status"]
    assert result.handover is None
    assert [c.ok for c in result.tool_calls if c.name != "search_docs"] == [True, True]


def test_a_tool_result_the_answer_left_out_is_shown_as_the_tool_said_it(
    catalogue: Catalogue,
) -> None:
    """The model answered only who is on call; the status result it did not cite is added
    as the tool's own fields, cited to that result (no paraphrase to check)."""
    plan = plan_reply(
        ("get_oncall", {"team": "payments"}), ("get_service_status", {"service": "payments-api"})
    )
    answer = answer_action((1, "", "Priya Raman is the payments primary on call."))
    agent, _ = agent_for(catalogue, [plan, answer])
    result = agent.ask(QUESTION, route="deep", user=ONCALL_ENGINEER)
    first, also = result.text.split("\n\nAlso from the tools: ")
    assert first == "Priya Raman is the payments primary on call [1]."
    assert also.startswith("get_service_status (service=payments-api): ")
    assert "health: degraded" in also and also.endswith("[2].")
    assert [c.hit.doc_id for c in result.citations] == ["get_oncall", "get_service_status"]


def test_a_live_state_question_goes_deep_without_being_told(catalogue: Catalogue) -> None:
    """No route forced (as in Slack and the web chat): the question reads like a simple
    lookup, but only the tools know who is on call, so the turn plans tool calls."""
    plan = plan_reply(("get_oncall", {"team": "payments"}))
    answer = answer_action((1, "", "Priya Raman is the payments primary on call."))
    agent, _ = agent_for(catalogue, [plan, answer])
    result = agent.ask("who is on call for payments right now?", user=ONCALL_ENGINEER)
    assert result.route == "deep" and "live state" in result.route_reason
    assert [c.name for c in result.tool_calls if c.name != "search_docs"] == ["get_oncall"]
    assert result.text == "Priya Raman is the payments primary on call [1]."


def test_ticket_is_created_only_after_approval(
    catalogue: Catalogue, platform: DemoPlatform
) -> None:
    args = {"service": "payments-api", "title": "payments-api 5xx after deploy",
            "severity": "sev2", "impact": {"regions": ["eu-central-1"]}}  # fmt: skip
    before = len(tickets(platform))
    for approved in (False, True):
        plan = plan_reply(("create_incident_ticket", args))
        done = answer_action((1, "", "create_incident_ticket answered."))
        agent, _ = agent_for(catalogue, [plan, done])
        answer = agent.ask("open a sev2 ticket for payments", route="deep", user=ONCALL_ENGINEER)
        assert answer.pending is not None and len(tickets(platform)) == before
        agent.resume(answer.thread_id, approved=approved, approver="lead")
    created = tickets(platform)
    assert len(created) == before + 1, "the rejected one was never sent"
    assert created[-1]["title"] == args["title"] and created[-1]["impact"]["regions"] == [
        "eu-central-1"
    ]
    audit = [(e["tool"], e["status"]) for e in catalogue.audit.entries()]
    assert audit[-3:] == [
        ("create_incident_ticket", "rejected"),
        ("create_incident_ticket", "approved"),
        ("create_incident_ticket", "ok"),
    ]
    assert platform.api_key not in catalogue.audit.path.read_text()


def test_wrong_api_key_is_refused_by_the_service(platform: DemoPlatform) -> None:
    spec, _ = openapi.load_spec(f"{platform.url}/openapi.json", Path("."))
    with httpx.Client() as client:
        specs = {s.original_name: s for s in openapi.tool_specs(spec, "t", platform.url, client)}
        auth = ResolvedAuth(AuthConfig(header="X-Api-Key", secret_env="K"), {"K": "wrong"}, "t")
        invoke = specs["create_incident_ticket"].invoke_with_auth(auth)
        with pytest.raises(ToolError, match="HTTP 401"):
            invoke({"service": "payments-api", "title": "should fail", "severity": "sev3"},
                   ONCALL_ENGINEER, 5.0)  # fmt: skip


def test_mcp_stdio_tools_read_and_approved_write(catalogue: Catalogue) -> None:
    text = catalogue.call("recent_incidents", {"service": "payments"}, ONCALL_ENGINEER)
    assert "INC-0981" in text
    with pytest.raises(ToolError, match="minutes must be between 1 and 720"):
        bad = {"alert": "A", "minutes": 9999, "reason": "r"}
        catalogue.call("silence_alert", bad, ONCALL_ENGINEER)
    args = {"alert": "PaymentsApi5xx", "minutes": 30, "reason": "fix"}
    silence = plan_reply(("silence_alert", args))
    done = answer_action((1, "", "PaymentsApi5xx is silenced for 30 min."))
    agent, model = agent_for(catalogue, [silence, done])
    answer = agent.ask("silence the payments 5xx alert", route="deep", user=ONCALL_ENGINEER)
    assert answer.pending is not None and answer.pending.tool == "silence_alert"
    resumed = agent.resume(answer.thread_id, approved=True, approver="lead")
    assert "silenced PaymentsApi5xx for 30 min" in str(model.calls[-1][-1].content)
    assert resumed.text == "PaymentsApi5xx is silenced for 30 min [1]."


def test_mcp_over_streamable_http(tmp_path: Path) -> None:
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(DEMO_DIR / "mcp_server.py"), "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        target = McpTarget(url=f"http://127.0.0.1:{port}/mcp")
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                assert time.monotonic() < deadline, "MCP HTTP server did not start"
                time.sleep(0.2)
        with (tmp_path / "err.log").open("w") as errlog:
            conn = McpConnection(target, "mcp http", tmp_path, errlog)
            try:
                names = {t.name for t in conn.start()}
                assert names == {"recent_incidents", "silence_alert"}
                assert "INC-0990" in conn.call("recent_incidents", {"service": "route"}, 5.0)
            finally:
                conn.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_unreachable_mcp_server_is_a_config_error_naming_the_source(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text("sources:\n  - name: broken\n    mcp: {command: /nonexistent/mcp-server}\n")
    with pytest.raises(ConfigError, match="catalogue source 'broken'"):
        load_catalogue(path, {}, tmp_path)
