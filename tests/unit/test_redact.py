"""Secret hygiene on fakes: what counts as a secret, and that no secret reaches the model,
the user, the turn records or the logs, whichever way it came in (a document, a tool
result, the asker's token, a pasted question, the model making one up)."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import AIMessage

from agent.records import TurnRecorder
from agent.service import Agent
from agent.state import Deps
from oncall.core import redact as redact_module
from oncall.core.identity import Principal
from oncall.core.redact import (
    REDACTED,
    contains_secret,
    install_log_redaction,
    looks_random,
    redact,
    redact_text,
    secret_values,
)
from oncall.core.settings import AgentSettings, RetrievalSettings, Settings
from oncall.testing.fakes import FakeStore, HashEmbedder, ScriptedChatModel, fake_catalogue

SLACK = "xoxb-2741963145-5830712951-QnT4kL9sVbW2xYz8"
AWS_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
KEY_BLOCK = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAA\n"
    "-----END OPENSSH PRIVATE KEY-----"
)
JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
USER_TOKEN = "alice-sso-3f9a2c71e8"  # not secret-shaped: only known because it is hers

SECRET_SHAPED = [
    (f"bot token {SLACK} in the config", SLACK),
    ("Authorization: Bearer 9f8e7d6c5b4a3928.17f6e5d4", "9f8e7d6c5b4a3928.17f6e5d4"),
    (f"export AWS_ACCESS_KEY_ID={AWS_ID}", AWS_ID),
    (f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET),
    (f"deploy key:\n{KEY_BLOCK}\nend", "b3BlbnNzaC1rZXktdjEAAAAA"),
    ("DATABASE_URL=postgres://svc:Tr0ub4dor&3@db:5432/app", "Tr0ub4dor&3"),
    ("https://admin:hunter2@grafana.internal/d/abc", "hunter2"),
    ("PGPASSWORD=correcthorse ./migrate.sh", "correcthorse"),
    ('{"password": "Sup3r-secret"}', "Sup3r-secret"),
    ("GITHUB_TOKEN=ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ01"),
    ("OPENAI_API_KEY=sk-proj-4hT9xQ2mZ7vK1pL8wR3nB6", "sk-proj-4hT9xQ2mZ7vK1pL8wR3nB6"),
    (f"session cookie {JWT}", JWT),
    ("signing_secret: 8c1f0e9d7b6a5c4e3f2a1b0c9d8e7f6a", "8c1f0e9d7b6a5c4e3f2a1b0c9d8e7f6a"),
    ("api-key=Zx81Qw0Lp7Rt5Yu3Io9Pa2Sd", "Zx81Qw0Lp7Rt5Yu3Io9Pa2Sd"),
]  # fmt: skip

PROSE = [
    "Roll back with lfctl rollback payments-api --to <previous-sha>; it takes 4 minutes.",
    "The primary key = id; the partition key: payments-api-5xx-runbook.",
    "The token expires after 12 hours; rotate the signing key monthly.",
    "Use the password reset page, password: see the vault entry for svc-payments.",
    "tokenizer: bert-base-uncased-v2, page_token=abc, key: value",
    "Commit 3f9a2c7 fixed the retry loop; see INC-2291.",
]


@pytest.mark.parametrize(("text", "secret"), SECRET_SHAPED)
def test_secret_shaped_strings_are_redacted(text: str, secret: str) -> None:
    out = redact_text(text)
    assert secret not in out and REDACTED in out
    assert contains_secret(text)


@pytest.mark.parametrize("text", PROSE)
def test_ordinary_runbook_prose_is_left_alone(text: str) -> None:
    assert redact_text(text) == text


def test_known_values_are_cut_wherever_they_appear_longest_first() -> None:
    text = f"token={USER_TOKEN} and again {USER_TOKEN}-suffix; short 'ab' stays"
    out = redact_text(text, [USER_TOKEN, USER_TOKEN[:8], "ab"])
    assert USER_TOKEN not in out and USER_TOKEN[:8] not in out
    assert out.count(REDACTED) == 2 and "'ab'" in out
    assert looks_random("Zx81Qw0Lp7Rt5Yu3Io9Pa2Sd") and not looks_random("payments-api-runbook")


def test_structured_redaction_is_the_audit_logs() -> None:
    # One module: the audit log imports it rather than keeping its own copy.
    from tools.internal import audit

    assert audit.redact is redact and audit.REDACTED == REDACTED
    args = {
        "team": f"payments {SLACK}",
        "api_key": "x",
        "items": [{"note": "Bearer abcdefghij0123"}],
    }
    assert redact(args) == {
        "team": f"payments {REDACTED}",
        "api_key": REDACTED,
        "items": [{"note": f"Bearer {REDACTED}"}],
    }


def test_every_secret_setting_is_a_known_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_LLM__API_KEY", "llm-key-0a1b2c3d")
    monkeypatch.setenv("ONCALL_STORE__API_KEY", "qdrant-key-4e5f6a7b")
    found = secret_values(Settings())
    assert {"llm-key-0a1b2c3d", "qdrant-key-4e5f6a7b"} <= set(found)


@pytest.fixture
def log_redaction(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Log redaction installed for one test, the logging module restored after it."""
    previous = logging.getLogRecordFactory()
    monkeypatch.setattr(redact_module, "_installed", False)
    monkeypatch.setattr(redact_module, "_log_secrets", set())
    install_log_redaction([USER_TOKEN])
    yield
    logging.setLogRecordFactory(previous)


@pytest.mark.usefixtures("log_redaction")
def test_log_records_are_redacted_for_every_handler(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    log_file = tmp_path / "agent.log"
    handler = logging.FileHandler(log_file)
    logger = logging.getLogger("oncall.test.redaction")
    logger.addHandler(handler)
    try:
        with caplog.at_level(logging.DEBUG):
            logger.warning("calling %s with %s", "tool", {"Authorization": f"Bearer {SLACK}"})
            logger.info("user token %s", USER_TOKEN)
            try:
                raise RuntimeError(f"upstream said password=Hunter22 for {AWS_ID}")
            except RuntimeError:
                logger.exception("tool failed")
    finally:
        logger.removeHandler(handler)
        handler.close()
    written = log_file.read_text() + caplog.text
    assert "tool failed" in written and "RuntimeError" in written, "logs still say what happened"
    for secret in (SLACK, USER_TOKEN, "Hunter22", AWS_ID):
        assert secret not in written


# --- through the agent ----------------------------------------------------------------

LEAKY_DOC = {
    "text": f"Payments deploy: the bot posts with token {SLACK}; AWS key {AWS_ID}. "
    "Roll back with lfctl rollback payments-api.",
    "doc_id": "runbooks/payments-deploy",
    "source": "/docs/runbooks/payments-deploy.md",
}


def leaky_agent(tmp_path: Path, replies: list[Any]) -> tuple[Agent, ScriptedChatModel]:
    model = ScriptedChatModel(replies=replies)
    embedder = HashEmbedder()
    calls: list[Any] = []
    catalogue = fake_catalogue(tmp_path / "audit.jsonl", calls)
    tool = catalogue.tools["get_oncall"]
    # The internal tool answers with a config dump holding the catalogue's own API key.
    tool.invoke = lambda args, who, timeout: (
        f'{{"oncall": "bob", "debug": "PLATFORM_API_KEY=s3cr3t-api-key user={who.token}"}}'
    )
    deps = Deps(
        store=FakeStore([LEAKY_DOC], embedder),
        embedder=embedder,
        chat_model=model,
        retrieval=RetrievalSettings(top_k=2, min_similarity=0.0),
        agent=AgentSettings(),
        catalogue=catalogue,
        secrets=tuple(catalogue.audit.secrets),
    )
    recorder = TurnRecorder(tmp_path / "turns.sqlite")
    return Agent(deps, recorder=recorder), model


def everything_the_model_saw(model: ScriptedChatModel) -> str:
    return "\n".join(str(m.content) for prompt in model.calls for m in prompt)


def test_no_secret_reaches_the_model_the_user_or_the_records(tmp_path: Path) -> None:
    alice = Principal("alice", frozenset({"oncall"}), "Alice", token=USER_TOKEN)
    get_oncall = AIMessage(
        "", tool_calls=[{"name": "get_oncall", "args": {"team": "payments"}, "id": "t1"}]
    )
    # A model that repeats whatever secrets it is shown, and one it invents.
    parrot = f"Use token {SLACK}, key s3cr3t-api-key, your {USER_TOKEN}, password=Hunter22."
    agent, model = leaky_agent(tmp_path, [get_oncall, parrot])
    question = f"who is on call for payments? my token is {SLACK}"
    answer = agent.ask(question, route="deep", user=alice)

    seen = everything_the_model_saw(model)
    assert "<tool_output" in seen and "bob" in seen, "the tool result still arrives"
    user_facing = answer.text + " ".join(c.hit.text for c in answer.citations)
    user_facing += " ".join(h.text for h in answer.hits) + answer.question
    stored = str(agent.recorder.turns()) if agent.recorder else ""
    for secret in (SLACK, AWS_ID, "s3cr3t-api-key", USER_TOKEN, "Hunter22"):
        assert secret not in seen, f"{secret} reached the model"
        assert secret not in user_facing, f"{secret} reached the user"
        assert secret not in stored, f"{secret} was recorded"
    assert "Roll back with lfctl rollback payments-api" in seen, "the doc itself still arrives"


def test_a_full_data_dir_on_the_turn_record_still_answers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    agent, _ = leaky_agent(tmp_path, ["Roll back with lfctl rollback payments-api."])

    def full(*args: Any) -> str:
        raise sqlite3.OperationalError("database or disk is full")

    assert agent.recorder is not None
    monkeypatch.setattr(agent.recorder, "record", full)
    with caplog.at_level(logging.WARNING):
        answer = agent.ask("how do I roll back payments?")
    assert answer.text.startswith("Roll back") and answer.turn_id is None
    assert "turn record skipped" in caplog.text
