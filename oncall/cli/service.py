"""The running service, from both sides: `oncall serve` publishes where it listens, and the
other commands find it and use its local API (bots/web/local_api.py) instead of opening the
embedded index, which only one process may hold (docs/service.md).

DATA_DIR/service.json holds the loopback URL and a random token; it is created readable by
its user only, and a command trusts it only if it is theirs, private, and the service at
that URL answers a health call with the same data dir.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from oncall.core.errors import OncallError
from oncall.core.identity import Principal

if TYPE_CHECKING:
    from agent.service import Answer
    from tools.search_docs import DocHit

STATE_NAME = "service.json"
PREFIX = "/local/v1"  # bots/web/local_api.py
TOKEN_HEADER = "X-Oncall-Local-Token"


def state_path(data_dir: Path) -> Path:
    return data_dir / STATE_NAME


def local_url(host: str, port: int) -> str:
    """The URL this host's commands use for a server bound to `host`."""
    if host in ("", "0.0.0.0", "localhost"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


@contextlib.contextmanager
def published(data_dir: Path, url: str) -> Iterator[str]:
    """Write DATA_DIR/service.json (mode 0600) for the block; yields the new token. The
    file is removed after, unless another service has replaced it meanwhile."""
    token = secrets.token_urlsafe(32)
    path = state_path(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{STATE_NAME}.{os.getpid()}")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # private from the start
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump({"url": url, "token": token, "pid": os.getpid()}, out)
    os.replace(tmp, path)
    try:
        yield token
    finally:
        with contextlib.suppress(OSError, ValueError):
            if json.loads(path.read_text(encoding="utf-8")).get("token") == token:
                path.unlink()


def find_service(data_dir: Path) -> ServiceClient | None:
    """The service running for `data_dir`, or None (no file, not ours, stale, other data
    dir). Costs one stat when none runs, one loopback call when one does."""
    path = state_path(data_dir)
    try:
        info = path.lstat()
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
            return None  # written by someone else, or readable by others: not trusted
        state = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    url, token = state.get("url"), state.get("token")
    if not isinstance(url, str) or not isinstance(token, str):
        return None
    client = ServiceClient(url, token)
    try:
        health = client.get("/health", timeout=3.0)
    except OncallError:
        return None
    if health.get("data_dir") != str(data_dir.resolve()):
        return None
    return client


class ServiceClient:
    """Calls to one running service's local API; errors come back as the local code would
    raise them (ValueError for bad input, OncallError with the service's code)."""

    def __init__(self, url: str, token: str):
        self.url = url
        self._headers = {TOKEN_HEADER: token}

    def get(self, path: str, timeout: float = 10.0) -> dict[str, Any]:
        return self._call("GET", path, None, timeout)

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        # Answers take as long as the model does: no read timeout, a bounded connect.
        return self._call("POST", path, body, httpx.Timeout(10.0, read=None))

    def _call(self, method: str, path: str, body: Any, timeout: Any) -> dict[str, Any]:
        try:
            response = httpx.request(
                method, self.url + PREFIX + path, json=body, headers=self._headers,
                timeout=timeout,
            )  # fmt: skip
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc
        data = _json(response)
        if response.status_code >= 400:
            raise _error(data, response.status_code)
        return data

    def stream(self, path: str, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """The JSON-line events of an ingest or sync; a fatal `error` event raises."""
        try:
            with httpx.stream(
                "POST", self.url + PREFIX + path, json=body, headers=self._headers,
                timeout=httpx.Timeout(10.0, read=None),
            ) as response:  # fmt: skip
                if response.status_code >= 400:
                    response.read()
                    raise _error(_json(response), response.status_code)
                for line in response.iter_lines():
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event.get("event") == "error":
                        detail = str(event.get("detail", ""))
                        if event.get("code"):
                            raise OncallError(str(event["code"]), detail)
                        raise ValueError(detail)
                    yield event
        except httpx.HTTPError as exc:
            raise self._unreachable(exc) from exc

    def _unreachable(self, exc: Exception) -> OncallError:
        return OncallError(
            "service_unreachable",
            f"the running service at {self.url} stopped answering ({type(exc).__name__}); "
            "check `oncall serve`, or stop it and run the command again",
        )

    def search(self, query: str, k: int, groups: list[str], mode: str) -> list[DocHit]:
        from tools.search_docs import DocHit

        body = {"query": query, "k": k, "groups": groups, "mode": mode}
        return [DocHit(**hit) for hit in self.post("/search", body)["hits"]]


class RemoteAgent:
    """The parts of `agent.service.Agent` the CLI uses (`ask`, `resume`), answered by the
    service's agent: the same `Answer` objects come back."""

    def __init__(self, client: ServiceClient):
        self.client = client

    def ask(
        self,
        question: str,
        thread_id: str | None = None,
        route: str | None = None,
        user: Principal | None = None,
    ) -> Answer:
        body = {"question": question, "thread": thread_id, "route": route,
                "groups": _groups(user)}  # fmt: skip
        return answer_from_wire(self.client.post("/ask", body)["answer"])

    def resume(
        self, thread_id: str, approved: bool, approver: str, user: Principal | None = None
    ) -> Answer:
        body = {"thread": thread_id, "approved": approved, "groups": _groups(user)}
        return answer_from_wire(self.client.post("/resume", body)["answer"])


def _groups(user: Principal | None) -> list[str]:
    return sorted(user.groups) if user else []


def answer_from_wire(wire: dict[str, Any]) -> Answer:
    """Rebuild the `Answer` that bots/web/local_api.py sent as JSON (dataclasses.asdict)."""
    from agent.answer import Answer
    from agent.approvals import PendingAction
    from agent.citations import Citation
    from agent.state import Handover, ToolCallRecord
    from tools.search_docs import DocHit

    known = {f.name for f in fields(Answer)}
    data = {k: v for k, v in wire.items() if k in known}
    data["hits"] = [DocHit(**h) for h in data.get("hits", [])]
    data["citations"] = [
        Citation(number=c["number"], hit=DocHit(**c["hit"])) for c in data.get("citations", [])
    ]
    data["tool_calls"] = [ToolCallRecord(**t) for t in data.get("tool_calls", [])]
    if data.get("handover"):
        data["handover"] = Handover(**data["handover"])
    if data.get("pending"):
        data["pending"] = PendingAction(**data["pending"])
    return Answer(**data)


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _error(data: dict[str, Any], status: int) -> Exception:
    err = data.get("error") or {}
    code = str(err.get("code") or f"http_{status}")
    message = str(err.get("message") or f"the service answered HTTP {status}")
    if code in ("bad_request", "invalid_request"):
        return ValueError(message)
    return OncallError(code, message)
