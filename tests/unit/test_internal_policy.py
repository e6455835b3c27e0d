"""Catalogue policy on fakes: who sees which tool, auth headers, rate limits, redaction,
the audit trail, and catalogue-file validation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from agent.service import Agent
from agent.state import Deps
from agent.tooling import execute_tool_call, tools_for
from oncall.core.errors import ConfigError, ToolError
from oncall.core.identity import Principal
from oncall.core.settings import AgentSettings, RetrievalSettings
from oncall.testing.fakes import (
    FakeStore,
    HashEmbedder,
    ScriptedChatModel,
    answer_action,
    call_action,
    fake_catalogue,
    plan_reply,
)
from tests.unit.test_graph import CHUNKS
from tools.internal.audit import REDACTED, AuditEntry, AuditLog, redact
from tools.internal.catalogue import read_config
from tools.internal.policy import AuthConfig, RateLimiter, ResolvedAuth

ALICE = Principal("alice", frozenset({"oncall"}), "Alice", token="alice-personal-token")
GUEST = Principal("guest")


def deps_with(
    catalogue: Any, model: Any = None, user: Principal = GUEST, plan: bool = False
) -> Deps:
    embedder = HashEmbedder()
    return Deps(
        store=FakeStore(CHUNKS, embedder),
        embedder=embedder,
        chat_model=model or ScriptedChatModel(),
        retrieval=RetrievalSettings(top_k=2, min_similarity=0.2),
        agent=AgentSettings(plan_internal_tools=plan),
        principal=user,
        catalogue=catalogue,
    )


def offered_names(prompt: list[Any]) -> set[str]:
    """The tools a model call's system prompt lists (`- name(args): ...` lines)."""
    return set(re.findall(r"^- (\w+)\(", str(prompt[0].content), re.MULTILINE))


def test_model_is_offered_only_the_tools_the_asker_may_use(tmp_path: Path) -> None:
    catalogue = fake_catalogue(tmp_path / "audit.jsonl", [])
    assert [t.name for t in tools_for(deps_with(None))] == ["search_docs"]
    assert {t.name for t in tools_for(deps_with(catalogue))} == {"search_docs", "get_oncall"}
    admin = Principal("root", frozenset({"admins"}))
    assert "admin_reset" in {t.name for t in tools_for(deps_with(catalogue, user=admin))}

    for user, planner, action in [
        (GUEST, {"get_oncall"}, {"search_docs", "get_oncall"}),
        # The planner (which reads only the question) may pick a write the asker may use;
        # the action step, which reads documents, is offered read-only tools only.
        (ALICE, {"get_oncall", "create_ticket"}, {"search_docs", "get_oncall"}),
    ]:
        model = ScriptedChatModel(replies=[plan_reply(), "The docs say so."])
        deps = deps_with(catalogue, model, plan=True)
        Agent(deps).ask("who is on call?", route="deep", user=user)
        assert offered_names(model.calls[0]) == planner
        assert offered_names(model.calls[1]) == action


def test_a_hidden_tool_called_anyway_is_unknown_and_audited_as_denied(tmp_path: Path) -> None:
    calls: list[Any] = []
    catalogue = fake_catalogue(tmp_path / "audit.jsonl", calls)
    with pytest.raises(ToolError, match="unknown tool 'create_ticket'"):
        execute_tool_call(deps_with(catalogue), "create_ticket", {"title": "hello there"})
    with pytest.raises(ToolError, match="unknown tool 'admin_reset'"):
        catalogue.call("admin_reset", {"target": "all"}, ALICE)
    assert calls == []
    assert [e["status"] for e in catalogue.audit.entries()] == ["denied"]


def test_write_tools_refuse_to_run_without_approval(tmp_path: Path) -> None:
    calls: list[Any] = []
    deps = deps_with(fake_catalogue(tmp_path / "audit.jsonl", calls), user=ALICE)
    with pytest.raises(ToolError, match="needs a human's approval"):
        execute_tool_call(deps, "create_ticket", {"title": "payments down"})
    out = execute_tool_call(deps, "create_ticket", {"title": "payments down"}, approved=True)
    assert calls == [("create_ticket", {"title": "payments down"}, "alice")] and out.text


def test_bad_arguments_and_rate_limits_go_back_to_the_model(tmp_path: Path) -> None:
    catalogue = fake_catalogue(tmp_path / "audit.jsonl", [])
    with pytest.raises(ToolError, match="severity"):
        catalogue.call("create_ticket", {"title": "payments down", "severity": "bad"}, ALICE)
    now = [0.0]
    limiter = RateLimiter(2, clock=lambda: now[0])
    limiter.acquire("t")
    limiter.acquire("t")
    with pytest.raises(ToolError, match="rate-limited to 2 calls per minute; try again in 60 s"):
        limiter.acquire("t")
    now[0] = 60.0
    limiter.acquire("t")  # the window slid


def test_auth_headers_from_secret_env_or_the_askers_token() -> None:
    secret = ResolvedAuth(AuthConfig(header="X-Api-Key", secret_env="KEY"), {"KEY": "k1"}, "w")
    assert secret.headers(GUEST) == {"X-Api-Key": "k1"}
    with pytest.raises(ConfigError, match="'KEY', which is not set"):
        ResolvedAuth(AuthConfig(secret_env="KEY"), {}, "catalogue source 'x'")
    passthrough = ResolvedAuth(AuthConfig(user_token=True, scheme="Bearer"), {}, "w")
    assert passthrough.headers(ALICE) == {"Authorization": "Bearer alice-personal-token"}
    with pytest.raises(ToolError, match="your own credentials"):
        passthrough.headers(GUEST)
    with pytest.raises(ValueError, match="exactly one of"):
        AuthConfig(secret_env="A", user_token=True)


def test_redaction_of_sensitive_keys_and_known_secrets_at_any_depth() -> None:
    args = {
        "title": "token s3cr3t-api-key leaked in logs",
        "nested": {"api_key": "abc", "items": [{"password": "p"}, "Bearer alice-personal-token"]},
        "count": 3,
    }
    out = redact(args, ["s3cr3t-api-key", "alice-personal-token", "ab"])
    assert out == {
        "title": f"token {REDACTED} leaked in logs",
        "nested": {"api_key": REDACTED, "items": [{"password": REDACTED}, f"Bearer {REDACTED}"]},
        "count": 3,
    }
    assert args["nested"]["api_key"] == "abc", "the caller's arguments are not modified"


def test_audit_lines_name_who_what_status_latency_without_secrets(tmp_path: Path) -> None:
    catalogue = fake_catalogue(tmp_path / "audit.jsonl", [])
    catalogue.call("get_oncall", {"team": "payments alice-personal-token"}, ALICE)
    catalogue.call("get_oncall", {"team": "s3cr3t-api-key"}, GUEST)
    first, second = catalogue.audit.entries()
    assert first["user_id"] == "alice" and first["tool"] == "get_oncall"
    assert first["status"] == "ok" and first["access"] == "read" and first["latency_ms"] >= 0
    assert first["args"] == {"team": f"payments {REDACTED}"}, "the asker's token is scrubbed"
    assert second["args"] == {"team": REDACTED}, "configured secrets are scrubbed"
    raw = (tmp_path / "audit.jsonl").read_text()
    assert "alice-personal-token" not in raw and "s3cr3t-api-key" not in raw


def test_audit_log_is_append_only_jsonl(tmp_path: Path) -> None:
    log = AuditLog(tmp_path / "sub" / "audit.jsonl")
    log.record(AuditEntry("u", "t", "s", "read", {"a": 1}, "ok", 1.0))
    log.record(AuditEntry("u", "t", "s", "write", {}, "rejected", 0.0, approver="bob"))
    assert [e["status"] for e in log.entries()] == ["ok", "rejected"]
    assert len((tmp_path / "sub" / "audit.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("sources: [{name: x}]", "sources.0"),
        ("sources: [{name: x, openapi: a.json, tools: {t: {acces: read}}}]", "acces"),
        ("sources: [{name: x, mcp: {command: c}, defaults: {access: maybe}}]", "access"),
        ("sources: [", "not valid YAML"),
    ],
)
def test_catalogue_file_errors_name_the_file_and_field(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=problem) as exc:
        read_config(path, {})
    assert str(path) in str(exc.value) and exc.value.setting == "tools.catalogue_path"


def test_internal_tool_results_count_as_evidence_no_escalation(tmp_path: Path) -> None:
    catalogue = fake_catalogue(tmp_path / "audit.jsonl", [])
    catalogue.tools["get_oncall"].invoke = lambda *_: '{"primary": "Priya Raman"}'
    model = ScriptedChatModel(
        replies=[
            call_action(("get_oncall", {"team": "x"})),
            answer_action((3, "", "Priya Raman is on call.")),
        ]
    )
    answer = Agent(deps_with(catalogue, model)).ask("who is on call for x?", route="deep")
    assert answer.text == "Priya Raman is on call [1]." and answer.handover is None
    assert [c.hit.doc_id for c in answer.citations] == ["get_oncall"], "cites the tool"
    assert [c.name for c in answer.tool_calls if c.ok][-1] == "get_oncall"


def test_a_name_the_tool_did_not_return_is_dropped(tmp_path: Path) -> None:
    catalogue = fake_catalogue(tmp_path / "audit.jsonl", [])
    catalogue.tools["get_oncall"].invoke = lambda *_: '{"primary": "Priya Raman"}'
    model = ScriptedChatModel(
        replies=[
            call_action(("get_oncall", {"team": "x"})),
            answer_action((3, "", "Tom Becker is on call.")),
        ]
    )
    answer = Agent(deps_with(catalogue, model)).ask("who is on call for x?", route="deep")
    assert answer.abstained and answer.citations == []
    assert answer.handover is not None
    assert answer.handover.obtained == ['get_oncall › team=x: {"primary": "Priya Raman"}']


def test_timeouts_and_unreachable_services_are_tool_errors(tmp_path: Path) -> None:
    import httpx

    catalogue = fake_catalogue(tmp_path / "audit.jsonl", [])
    tool = catalogue.tools["get_oncall"]
    for exc, message in [
        (httpx.ReadTimeout("slow"), "did not answer within 5 s"),
        (httpx.ConnectError("refused"), "unreachable right now"),
    ]:

        def failing(*_: Any, exc: Exception = exc) -> str:
            raise exc

        tool.invoke = failing
        with pytest.raises(ToolError, match=message):
            catalogue.call("get_oncall", {"team": "x"}, GUEST)
    assert [e["status"] for e in catalogue.audit.entries()] == ["error", "error"]


def test_approver_groups_cannot_mean_everyone() -> None:
    """`public` would let any asker's colleague approve: it must be unset or real groups."""
    from pydantic import ValidationError

    from tools.internal.policy import ToolPolicy

    assert ToolPolicy(approver_groups=["sre-leads"]).approver_groups == ["sre-leads"]
    with pytest.raises(ValidationError, match="would let anyone approve"):
        ToolPolicy(approver_groups=["sre", "public"])
