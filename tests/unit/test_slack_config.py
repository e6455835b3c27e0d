"""Slack bot policy and state without Slack: channel config, the user directory (over a fake
client object), the dedup store, which events count as questions, status throttling,
failure wording and start-up checks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from agent.streaming import AgentEvent
from bots.slack.bot import SlackBot
from bots.slack.config import ChannelConfig, UserDirectory, UsersFile, mention
from bots.slack.progress import StatusMessage, explain_failure
from bots.slack.run import choose_mode, with_env_fallback
from bots.slack.store import SlackStore
from oncall.core.errors import ConfigError, OncallError
from oncall.core.settings import SlackSettings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_listed_channels_inherit_unset_fields_from_defaults(tmp_path: Path) -> None:
    config = ChannelConfig.load(
        write(
            tmp_path,
            "defaults: {mode: mention, escalate_to: S0SRE, tools: [search_docs]}\n"
            "channels:\n  C0PAY: {mode: auto, groups: [payments]}\n",
        )
    )
    pay = config.policy("C0PAY")
    assert (pay.mode, pay.groups, pay.tools, pay.escalate_to) == (
        "auto", ["payments"], ["search_docs"], "S0SRE"
    )  # fmt: skip
    assert config.policy("C0OTHER").mode == "mention"
    assert ChannelConfig.load(None).policy("C1").tools is None


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("channels:\n  '#payments': {mode: auto}\n", "not channel ids"),
        ("channels:\n  C0PAY: {mode: sometimes}\n", "channels.C0PAY.mode"),
        ("defaults: {escalate: U1}\n", "defaults.escalate"),
        ("channels: [unclosed\n", "not valid YAML"),
    ],
)
def test_bad_channel_config_names_the_setting_and_the_problem(
    tmp_path: Path, text: str, complaint: str
) -> None:
    with pytest.raises(ConfigError, match=r"slack\.channels_path") as info:
        ChannelConfig.load(write(tmp_path, text))
    assert complaint in str(info.value)
    with pytest.raises(ConfigError, match="does not exist"):
        ChannelConfig.load(tmp_path / "missing.yaml")


class FakeClient:
    """The Web API methods the directory uses, counting calls."""

    def __init__(self, groups: list[dict[str, Any]] | Exception):
        self.groups = groups
        self.calls: list[str] = []

    def usergroups_list(self, **kw: Any) -> dict[str, Any]:
        self.calls.append("usergroups.list")
        if isinstance(self.groups, Exception):
            raise self.groups
        return {"usergroups": self.groups}

    def usergroups_users_list(self, usergroup: str) -> dict[str, Any]:
        self.calls.append(f"usergroups.users.list {usergroup}")
        return {"users": ["U7"]}

    def users_info(self, user: str) -> dict[str, Any]:
        self.calls.append("users.info")
        return {"user": {"real_name": f"Real {user}", "profile": {"display_name": ""}}}


GROUPS: list[dict[str, Any]] = [
    {"id": "S1", "handle": "sre-oncall", "users": ["U1", "U2"]},
    {"id": "S2", "handle": "payments", "users": ["U2"]},
    {"id": "S3", "handle": "dba"},  # no member list: asked separately
]


def test_groups_come_from_the_file_and_slack_user_groups() -> None:
    client = FakeClient(GROUPS)
    mapping = UsersFile(users={"U1": ["admins"]}, usergroups={"sre-oncall": ["sre"]},
                        default_groups=["staff"])  # fmt: skip
    directory = UserDirectory(client, mapping, use_api=True, ttl_s=600)
    assert directory.groups("U1") == {"staff", "admins", "sre"}
    assert directory.groups("U2") == {"staff", "sre", "payments"}
    assert directory.groups("U7") == {"staff", "dba"}
    assert client.calls.count("usergroups.list") == 1, "cached for the TTL"
    who = directory.principal("U2")
    assert (who.user_id, who.name, who.groups) == (
        "slack:U2", "Real U2", frozenset({"staff", "sre", "payments"})
    )  # fmt: skip
    directory.principal("U2")
    assert client.calls.count("users.info") == 1


def test_a_channel_narrows_the_groups_answered_in_it() -> None:
    directory = UserDirectory(FakeClient([]), UsersFile(users={"U1": ["sre", "hr"]}))
    policy = ChannelConfig.load(None).defaults.model_copy(update={"groups": ["sre"]})
    assert directory.principal("U1", policy).read_groups == ["public", "sre"]


def test_user_group_api_failure_falls_back_to_the_file() -> None:
    client = FakeClient(RuntimeError("missing_scope"))
    directory = UserDirectory(client, UsersFile(users={"U1": ["sre"]}), use_api=True, ttl_s=600)
    assert directory.groups("U1") == {"sre"}
    assert directory.groups("U1") == {"sre"} and client.calls == ["usergroups.list"]


def test_mentions_for_escalation_contacts() -> None:
    assert mention("U0ALICE") == "<@U0ALICE>"
    assert mention("S0ONCALL") == "<!subteam^S0ONCALL>"
    assert mention("@here") == "<!here>"
    assert mention("the on-call engineer") == "the on-call engineer"


def test_claims_are_exclusive_expire_and_survive_a_restart(tmp_path: Path) -> None:
    store = SlackStore(tmp_path / "slack.sqlite", dedupe_ttl_s=60)
    assert store.claim("event:E1", "msg:C1:1.0")
    assert not store.claim("event:E1", "msg:C1:1.0"), "a retry"
    assert not store.claim("event:E2", "msg:C1:1.0"), "same message, other event type"
    ref = store.put_ref({"thread_id": "t"})
    store.update_ref(ref, escalated=True)
    store.close()
    reopened = SlackStore(tmp_path / "slack.sqlite", dedupe_ttl_s=60)
    assert not reopened.claim("event:E1")
    assert reopened.ref(ref) == {"thread_id": "t", "escalated": True}
    reopened.dedupe_ttl_s = 0.0  # everything is now older than the TTL
    assert reopened.claim("event:E1")
    reopened.close()


@pytest.fixture
def bot(tmp_path: Path) -> Any:
    config = ChannelConfig.load(write(tmp_path, "channels:\n  C0AUTO: {mode: auto}\n"))
    store = SlackStore(tmp_path / "slack.sqlite")
    store.add_thread("slack:C0AUTO:5.0")
    made = SlackBot(agent=None, client=None, store=store, channels=config)  # type: ignore[arg-type]
    yield made
    made.close()
    store.close()


@pytest.mark.parametrize(
    ("event", "asked"),
    [
        ({"type": "app_mention", "channel": "C1", "text": "<@UBOT> hi"}, "hi"),
        ({"type": "message", "channel_type": "im", "channel": "D1", "text": "hi"}, "hi"),
        ({"type": "message", "channel": "C1", "text": "hi"}, None),  # mention-only channel
        ({"type": "message", "channel": "C1", "text": "<@UBOT> hi"}, None),  # app_mention does it
        ({"type": "message", "channel": "C0AUTO", "text": "hi"}, "hi"),
        ({"type": "message", "channel": "C0AUTO", "text": "more", "thread_ts": "5.0"}, "more"),
        ({"type": "message", "channel": "C0AUTO", "text": "chat", "thread_ts": "6.0"}, None),
        ({"type": "message", "channel": "C0AUTO", "text": "x", "subtype": "message_changed"}, None),
        ({"type": "message", "channel": "C0AUTO", "text": "x", "bot_id": "B2"}, None),
    ],
)
def test_which_events_are_questions(
    bot: SlackBot, event: dict[str, Any], asked: str | None
) -> None:
    question = bot._question({"user": "U1", "ts": "7.0", **event}, "UBOT")
    assert (question.text if question else None) == asked


def test_status_edits_are_throttled_but_forced_steps_show() -> None:
    sent: list[tuple[str, str | None]] = []
    now = [0.0]

    def send(message: dict[str, Any], ts: str | None) -> str:
        sent.append((message["text"], ts))
        return "1.1"

    status = StatusMessage(send, clock=lambda: now[0])
    status.show("Got it", force=True)
    status.on_event(AgentEvent("route", {"route": "deep"}))
    for word in ["The ", "answer ", "is ", "here."]:
        status.on_event(AgentEvent("token", {"text": word}))
    now[0] = 5.0
    status.on_event(AgentEvent("token", {"text": " Done."}))
    assert [t for t, _ in sent] == ["Got it", "Thinking it through…", "The answer is here. Done."]
    assert [ts for _, ts in sent] == [None, "1.1", "1.1"], "posted once, then edited"
    call = {"name": "search_docs", "args": {"query": "<!channel> now"}}
    status.on_event(AgentEvent("tool_start", {"calls": [call]}))
    assert sent[-1][0] == "Running `search_docs` (&lt;!channel&gt; now)", "model text never pings"


def test_failures_are_explained_without_internal_details() -> None:
    problem, todo = explain_failure(OncallError("llm_unreachable", "cannot reach http://10.1.2.3"))
    assert "not reachable" in problem and "10.1.2.3" not in problem + todo
    assert explain_failure(OncallError("sandbox_start", "bwrap"))[0] == "the code sandbox failed."
    assert "KeyError" in explain_failure(KeyError("x"))[0]


def test_start_up_checks_name_the_missing_secret() -> None:
    with pytest.raises(ConfigError, match=r"slack\.bot_token"):
        choose_mode(SlackSettings(), None)
    bot_only = SlackSettings(bot_token=SecretStr("xoxb-1"))
    with pytest.raises(ConfigError, match=r"slack\.signing_secret"):
        choose_mode(bot_only, None)
    with pytest.raises(ConfigError, match=r"slack\.app_token"):
        choose_mode(bot_only, "socket")
    env = {"SLACK_BOT_TOKEN": "xoxb-2", "SLACK_APP_TOKEN": "xapp-1"}
    filled = with_env_fallback(SlackSettings(), env)
    assert filled.bot_token is not None and filled.bot_token.get_secret_value() == "xoxb-2"
    assert choose_mode(filled, None) == "socket"
    assert with_env_fallback(bot_only, env).bot_token == bot_only.bot_token, "ours win"


def test_shipped_examples_load_and_the_manifest_grants_what_the_bot_uses() -> None:
    import yaml

    from tests.conftest import REPO

    folder = REPO / "bots" / "slack"
    channels = ChannelConfig.load(folder / "channels.example.yaml")
    assert channels.policy("C0GENERAL").tools == ["search_docs"]
    assert channels.policy("C0GENERAL").escalate_to == "S0ONCALL", "inherited"
    UserDirectory.load(None, folder / "users.example.yaml", use_api=False, ttl_s=1)
    manifest = yaml.safe_load((folder / "manifest.yaml").read_text())
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert scopes >= {
        *("app_mentions:read", "channels:history", "im:history", "chat:write"),
        *("reactions:write", "files:write", "files:read", "users:read", "usergroups:read"),
    }
    events = set(manifest["settings"]["event_subscriptions"]["bot_events"])
    assert events >= {"app_mention", "message.channels", "message.groups", "message.im"}
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_users_and_channels_files_are_re_read_when_they_change(tmp_path: Path) -> None:
    """Both files grant access (groups, approvers): an edit applies to the next event; an
    edit that does not parse leaves the last good version in force."""
    users = tmp_path / "users.yaml"
    users.write_text("users:\n  U1: [sre, hr]\n")
    directory = UserDirectory.load(FakeClient([]), users, use_api=False, ttl_s=600)
    assert directory.groups("U1") == {"sre", "hr"}
    users.write_text("users:\n  U1: [sre]\n")
    assert directory.groups("U1") == {"sre"}, "a removed group is gone at once"
    users.write_text("users: [unclosed\n")
    assert directory.groups("U1") == {"sre"}, "a broken edit keeps the last good file"

    channels = tmp_path / "channels.yaml"
    channels.write_text("channels:\n  C0PAY: {approvers: [U1, U2]}\n")
    config = ChannelConfig.load(channels)
    assert config.policy("C0PAY").approvers == ["U1", "U2"]
    channels.write_text("channels:\n  C0PAY: {approvers: [U1]}\n")
    assert config.policy("C0PAY").approvers == ["U1"]
