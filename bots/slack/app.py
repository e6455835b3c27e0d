"""The bolt `App` and its two transports, sharing one set of handlers.

- HTTP mode (scale): Slack POSTs events and button clicks to `/slack/events`; bolt checks
  the signing secret and timestamp (401 otherwise) and the handlers acknowledge at once.
  Served by uvicorn; `dispatch` runs in a thread so one slow request never blocks others.
- Socket Mode (simple deploy, no public URL): the app opens a websocket to Slack with the
  app-level token and receives the same payloads over it.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
from typing import Any

from fastapi import FastAPI, Request, Response
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)
from starlette.concurrency import run_in_threadpool

from bots.slack.actions import on_click
from bots.slack.bot import SlackBot

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def build_client(token: str, api_url: str, rate_limit_retries: int = 3) -> WebClient:
    """Web API client that waits out 429s (Retry-After) and retries dropped connections."""
    return WebClient(
        token=token,
        base_url=api_url,
        retry_handlers=[
            ConnectionErrorRetryHandler(max_retry_count=2),
            RateLimitErrorRetryHandler(max_retry_count=rate_limit_retries),
        ],
    )


def build_app(bot: SlackBot, signing_secret: str | None) -> App:
    """A bolt App whose listeners acknowledge first and hand the work to `bot`.

    `bot.client` must carry the bot token; bolt calls auth.test once here to learn the
    bot's own user id (to strip its mention and ignore its own messages). Without a
    signing secret (Socket Mode only: payloads come over the authenticated websocket)
    requests are not signature-checked, so never serve such an app over HTTP."""
    app = App(
        client=bot.client,  # carries the bot token
        signing_secret=signing_secret,
        request_verification_enabled=signing_secret is not None,
        # Events we subscribe to but do not act on (edits, joins) must not log errors.
        raise_error_for_unhandled_request=False,
    )

    def on_event(body: dict[str, Any], event: dict[str, Any], context: Any) -> None:
        # Events are acknowledged by bolt before this runs (not process_before_response).
        bot.on_event(event, str(body.get("event_id", "")), context.bot_user_id)

    app.event("app_mention")(on_event)
    app.event("message")(on_event)

    @app.action(re.compile(r"^oncall_"))
    def on_button(ack: Any, body: dict[str, Any]) -> None:
        ack()
        on_click(bot, body)

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        log.error("Slack listener failed: %s (payload type %s)", error, body.get("type"))

    return app


def http_app(app: App, bot: SlackBot | None = None) -> FastAPI:
    """ASGI app: POST /slack/events (events and interactivity), GET /healthz."""
    api = FastAPI(title="oncall Slack bot", docs_url=None, redoc_url=None, openapi_url=None)

    @api.post(EVENTS_PATH)
    async def events(request: Request) -> Response:
        body = (await request.body()).decode("utf-8")
        bolt_request = BoltRequest(
            body=body, query=request.url.query, headers=dict(request.headers)
        )
        result = await run_in_threadpool(app.dispatch, bolt_request)
        return Response(
            content=result.body,
            status_code=result.status,
            headers=result.first_headers_without_set_cookie(),
        )

    @api.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"ok": True, "stats": dict(bot.stats) if bot else {}}

    return api


class HttpServer:
    """uvicorn serving `http_app` on a socket bound here, so port 0 works (tests) and the
    bound port is known before the first request."""

    def __init__(self, api: FastAPI, host: str = "127.0.0.1", port: int = 0):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(api, log_level="warning", access_log=False, backlog=1024)
        self.server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    def serve_forever(self) -> None:
        self.server.run(sockets=[self.sock])

    def start(self) -> HttpServer:
        """Serve in a background thread; returns once the server accepts requests."""
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the Slack HTTP server did not start on port {self.port}")
            threading.Event().wait(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.sock.close()


def socket_mode_handler(app: App, app_token: str) -> Any:
    """bolt's Socket Mode adapter (slack-sdk's built-in websocket client, no extra
    dependency); it asks `apps.connections.open` through the app's client for the URL."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    return SocketModeHandler(app, app_token)


def serve_socket_mode(app: App, app_token: str) -> None:
    """Connect to Slack over Socket Mode and handle events until interrupted."""
    socket_mode_handler(app, app_token).start()
