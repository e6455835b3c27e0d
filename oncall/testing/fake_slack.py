"""A fake Slack Web API on loopback that records every call, plus signed-request helpers.

Point `slack_sdk.WebClient(base_url=fake.api_url)` at it. It keeps a model of each
channel (messages as posted and then edited with chat.update), implements the three-step
files.upload v2 flow (getUploadURLExternal -> POST bytes -> completeUploadExternal),
serves files people shared (`share_file`) at their private download URL to the bot token
only, and can answer chosen methods with 429 + Retry-After to test rate-limit handling. The request
helpers sign bodies the way Slack does (v0 HMAC-SHA256 of `v0:{timestamp}:{body}`).
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
SIGNING_SECRET = "test-signing-secret"
BOT_USER = "UBOT"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float
    status: int = 200


@dataclass
class FakeSlack:
    """State and recordings of the fake workspace (thread-safe)."""

    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, int] = field(default_factory=dict)  # file id -> bytes received
    shared: dict[str, bytes] = field(default_factory=dict)  # file id -> content (share_file)
    downloads: list[tuple[str, str]] = field(default_factory=list)  # (file id, Authorization)
    usergroups: list[dict[str, Any]] = field(default_factory=list)
    users: dict[str, str] = field(default_factory=dict)  # user id -> display name
    _limits: dict[str, list[int]] = field(default_factory=dict)  # method -> [times, secs]
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ts: Any = field(default_factory=lambda: itertools.count(1))
    port: int = 0
    socket_url: str = ""  # ws:// URL handed out by apps.connections.open

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def rate_limit(self, method: str, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next `times` calls of `method` with 429 and Retry-After."""
        with self._lock:
            self._limits[method] = [times, retry_after]

    def share_file(self, name: str, content: bytes, mimetype: str = "text/plain") -> dict[str, Any]:
        """A file someone shared, as a message event lists it (`files: [...]`)."""
        with self._lock:
            file_id = f"F{next(self._ts)}"
            self.shared[file_id] = content
        url = f"http://127.0.0.1:{self.port}/files-pri/T1-{file_id}/download/{name}"
        return {
            "id": file_id, "name": name, "title": name, "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1], "size": len(content),
            "url_private": url.replace("/download/", "/"), "url_private_download": url,
        }  # fmt: skip

    def called(self, method: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """Messages in a thread as they look now (edits applied), oldest first."""
        with self._lock:
            found = [
                m for (c, _), m in self.messages.items()
                if c == channel and m.get("thread_ts") == thread_ts
            ]  # fmt: skip
        return sorted(found, key=lambda m: float(m["ts"]))

    def handle(
        self, method: str, args: dict[str, Any]
    ) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            limit = self._limits.get(method)
            if limit and limit[0] > 0:
                limit[0] -= 1
                self.calls.append(Call(method, args, time.monotonic(), 429))
                return 429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(limit[1])}
            self.calls.append(Call(method, args, time.monotonic()))
            return 200, self._reply(method, args), {}

    def _reply(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {
                "ok": True,
                "user_id": BOT_USER,
                "bot_id": "BBOT",
                "team_id": "T1",
                "user": "oncall",
            }
        if method == "chat.postMessage":
            ts = f"{2000000000 + next(self._ts)}.000100"
            message = {**args, "ts": ts, "thread_ts": args.get("thread_ts") or ts}
            self.messages[(args["channel"], ts)] = message
            return {"ok": True, "channel": args["channel"], "ts": ts, "message": message}
        if method == "chat.update":
            key = (args["channel"], args["ts"])
            if key not in self.messages:
                return {"ok": False, "error": "message_not_found"}
            self.messages[key] = {**self.messages[key], **args}
            return {"ok": True, "channel": args["channel"], "ts": args["ts"]}
        if method == "users.info":
            name = self.users.get(args["user"], "")
            return {"ok": True, "user": {"id": args["user"], "profile": {"display_name": name}}}
        if method == "usergroups.list":
            return {"ok": True, "usergroups": self.usergroups}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._ts)}"
            url = f"http://127.0.0.1:{self.port}/upload/{file_id}"
            return {"ok": True, "upload_url": url, "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = json.loads(args["files"]) if isinstance(args["files"], str) else args["files"]
            return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}
        if method == "apps.connections.open":  # Socket Mode: where to open the websocket
            return {"ok": True, "url": self.socket_url}
        if method == "files.info":
            return {"ok": True, "file": {"id": args.get("file")}}
        return {"ok": True}


def start_fake_slack() -> tuple[FakeSlack, ThreadingHTTPServer]:
    """Serve a fresh fake on an ephemeral loopback port (daemon thread)."""
    fake = FakeSlack()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path.startswith("/upload/"):
                with fake._lock:
                    fake.uploads[self.path.rsplit("/", 1)[1]] = len(raw)
                return self._send(200, b"OK", "text/plain", {})
            self._api(raw)

        def do_GET(self) -> None:
            if self.path.startswith("/files-pri/"):
                return self._file()
            self._api(b"")

        def _file(self) -> None:
            file_id = self.path.split("/")[2].removeprefix("T1-")
            auth = self.headers.get("Authorization", "")
            with fake._lock:
                fake.downloads.append((file_id, auth))
                content = fake.shared.get(file_id)
            if auth != f"Bearer {BOT_TOKEN}":  # Slack answers its sign-in page
                return self._send(403, b"<html>sign in</html>", "text/html", {})
            if content is None:
                return self._send(404, b"not found", "text/plain", {})
            self._send(200, content, "application/octet-stream", {})

        def _api(self, raw: bytes) -> None:
            args = _args(self, raw)  # also strips the query string from self.path
            app_level = self.path == "/api/apps.connections.open"
            token = APP_TOKEN if app_level else BOT_TOKEN
            if self.headers.get("Authorization") != f"Bearer {token}":
                return self._json(200, {"ok": False, "error": "invalid_auth"}, {})
            status, body, headers = fake.handle(self.path.removeprefix("/api/"), args)
            self._json(status, body, headers)

        def _json(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json", headers)

        def _send(self, status: int, data: bytes, ctype: str, headers: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    fake.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return fake, server


def _args(handler: BaseHTTPRequestHandler, raw: bytes) -> dict[str, Any]:
    if "json" in handler.headers.get("Content-Type", ""):
        return dict(json.loads(raw or b"{}"))
    args: dict[str, Any] = {k: v[0] for k, v in parse_qs(raw.decode()).items()}
    if "?" in handler.path:
        args.update({k: v[0] for k, v in parse_qs(handler.path.split("?", 1)[1]).items()})
        handler.path = handler.path.split("?", 1)[0]
    return args


# --- requests as Slack sends them -------------------------------------------------------


def signature(body: str, timestamp: int, secret: str = SIGNING_SECRET) -> str:
    base = f"v0:{timestamp}:{body}".encode()
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


def signed_headers(
    body: str, secret: str = SIGNING_SECRET, age_s: float = 0, retry: int | None = None
) -> dict[str, str]:
    timestamp = int(time.time() - age_s)
    headers = {
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature(body, timestamp, secret),
    }
    if retry is not None:
        headers["X-Slack-Retry-Num"] = str(retry)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
    return headers


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {"token": "x", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
         "event_id": event_id, "event_time": int(time.time()), "event": event}
    )  # fmt: skip


def mention_event(
    text: str, ts: str, channel: str = "C1", user: str = "U1", thread_ts: str | None = None
) -> dict[str, Any]:
    event = {"type": "app_mention", "user": user, "text": f"<@{BOT_USER}> {text}", "ts": ts,
             "channel": channel, "event_ts": ts}  # fmt: skip
    if thread_ts:
        event["thread_ts"] = thread_ts
    return event


def action_body(action_id: str, value: str, message: dict[str, Any], user: str = "U1") -> str:
    """A block_actions payload (form-encoded, as Slack posts interactivity)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user},
        "channel": {"id": message["channel"]},
        "container": {"type": "message", "message_ts": message["ts"],
                      "channel_id": message["channel"], "thread_ts": message.get("thread_ts")},
        "message": {"ts": message["ts"], "thread_ts": message.get("thread_ts")},
        "actions": [{"action_id": action_id, "value": value, "type": "button"}],
    }  # fmt: skip
    return urlencode({"payload": json.dumps(payload)})


def post_signed(
    client: httpx.Client, url: str, body: str, form: bool = False, **kw: Any
) -> httpx.Response:
    ctype = "application/x-www-form-urlencoded" if form else "application/json"
    headers = {"Content-Type": ctype, **signed_headers(body, **kw)}
    return client.post(url, content=body.encode(), headers=headers)


def find_button(message: dict[str, Any], action_id: str) -> str:
    """The value of a button in a message's blocks (fails the test if absent)."""
    for block in message.get("blocks", []):
        for element in block.get("elements", []) if block.get("type") == "actions" else []:
            if element.get("action_id") == action_id:
                return str(element["value"])
    raise AssertionError(f"no {action_id} button in {message.get('text', '')[:80]!r}")
