"""`oncall slack`: wire settings, the agent and the bot together and serve."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import Literal

from slack_bolt import App

from agent.service import Agent
from bots.slack.app import HttpServer, build_app, build_client, http_app, serve_socket_mode
from bots.slack.bot import SlackBot
from bots.slack.config import ChannelConfig, UserDirectory
from bots.slack.files import SlackFiles
from oncall.appstate import AppState
from oncall.core.errors import ConfigError
from oncall.core.settings import Settings, SlackSettings

log = logging.getLogger(__name__)

Mode = Literal["socket", "http"]
# Slack's own variable names (deploy/ manifests, Slack's docs) count when ours are unset.
_FALLBACK_ENV = {
    "bot_token": "SLACK_BOT_TOKEN",
    "app_token": "SLACK_APP_TOKEN",
    "signing_secret": "SLACK_SIGNING_SECRET",
}


def with_env_fallback(slack: SlackSettings, environ: Mapping[str, str]) -> SlackSettings:
    """`slack` with unset secrets taken from SLACK_BOT_TOKEN / SLACK_APP_TOKEN /
    SLACK_SIGNING_SECRET (read here, at the entry point, never by the bot itself)."""
    found = {
        field: environ[name]
        for field, name in _FALLBACK_ENV.items()
        if getattr(slack, field) is None and environ.get(name)
    }
    return slack.model_validate({**slack.model_dump(), **found}) if found else slack


def choose_mode(slack: SlackSettings, mode: Mode | None) -> Mode:
    """The requested mode, or Socket Mode when an app token is set, else HTTP; refuses
    (naming the setting) when the mode's secrets are missing."""
    if slack.bot_token is None:
        raise ConfigError(
            "slack.bot_token",
            "not set: export ONCALL_SLACK__BOT_TOKEN or SLACK_BOT_TOKEN (xoxb-..., from the "
            "app's 'OAuth & Permissions' page; docs/slack.md)",
        )
    mode = mode or ("socket" if slack.app_token is not None else "http")
    if mode == "socket" and slack.app_token is None:
        raise ConfigError(
            "slack.app_token",
            "Socket Mode needs an app-level token (xapp-..., scope connections:write): export "
            "ONCALL_SLACK__APP_TOKEN or SLACK_APP_TOKEN, or use --http",
        )
    if mode == "http" and slack.signing_secret is None:
        raise ConfigError(
            "slack.signing_secret",
            "HTTP mode verifies every request with the app's signing secret ('Basic "
            "Information' page): export ONCALL_SLACK__SIGNING_SECRET or SLACK_SIGNING_SECRET",
        )
    return mode


@contextlib.contextmanager
def slack_bot(
    settings: Settings, agent: Agent, state: AppState | None = None
) -> Iterator[tuple[SlackBot, App]]:
    """The bot and its bolt app over `agent`, keeping its state in `state` (the app
    state: SQLite under the data dir, or the replicas' shared Postgres); without it, the
    embedded state. Closed (workers drained, open questions handed back) after the block."""
    slack = settings.slack
    assert slack.bot_token is not None  # checked by choose_mode
    client = build_client(
        slack.bot_token.get_secret_value(), slack.api_url, slack.rate_limit_retries
    )
    channels = ChannelConfig.load(slack.channels_path)
    directory = UserDirectory.load(
        client, slack.users_path, slack.usergroups_api, slack.directory_ttl_s
    )
    with contextlib.ExitStack() as stack:
        if state is None:
            state = stack.enter_context(AppState(settings.appstate, settings.data_dir))
        bot = SlackBot(
            agent,
            client,
            state.slack(slack.dedupe_ttl_s),
            channels,
            directory,
            docs_base_url=slack.docs_base_url,
            web_url=settings.web.public_url,
            files=SlackFiles.for_client(client, slack.max_attachment_kb),
            escalation_contact=settings.agent.escalation_contact,
            workers=slack.workers,
            leases=state.leases(),
            lease_s=settings.appstate.lease_s,
        )
        stack.callback(bot.close)
        bot.start_recovery()  # questions a dead worker had taken: answered here
        secret = slack.signing_secret.get_secret_value() if slack.signing_secret else None
        yield bot, build_app(bot, secret)


def serve(settings: Settings, agent: Agent, mode: Mode, state: AppState | None = None) -> None:
    """Serve until interrupted (Ctrl-C / SIGTERM)."""
    slack = settings.slack
    with slack_bot(settings, agent, state) as (bot, app):
        if mode == "socket":
            assert slack.app_token is not None
            log.info("Slack bot connected over Socket Mode")
            serve_socket_mode(app, slack.app_token.get_secret_value())
        else:
            server = HttpServer(http_app(app, bot), slack.host, slack.port)
            log.info("Slack bot listening on http://%s:%d/slack/events", slack.host, server.port)
            server.serve_forever()
