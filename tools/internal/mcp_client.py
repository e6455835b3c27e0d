"""MCP servers (stdio or streamable HTTP) as catalogue tools, via the official `mcp` SDK.

The agent graph is synchronous and runs tool calls in worker threads, while the SDK is
async and its sessions must live in one task. So each server gets one `McpConnection`: a
private event loop in a daemon thread holding the session open for the process lifetime
(one server process per stdio source, not one per call); calls from any thread are
submitted to that loop and waited for with the tool's timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from concurrent.futures import TimeoutError as FutureTimeout
from pathlib import Path
from typing import Any, TextIO

from oncall.core.errors import ConfigError, ToolError
from oncall.core.identity import Principal
from tools.internal.catalogue import Invoke, McpTarget, ToolSpec
from tools.internal.policy import ResolvedAuth
from tools.internal.schema import SchemaConverter

CLOSE_TIMEOUT_S = 10.0


class McpConnection:
    """One open MCP session, usable from any thread."""

    def __init__(self, target: McpTarget, where: str, base_dir: Path, errlog: TextIO):
        if bool(target.command) == bool(target.url):
            raise ConfigError(where, "mcp needs exactly one of `command` (stdio) or `url` (HTTP)")
        self.target = target
        self.where = where
        self.base_dir = base_dir
        self.errlog = errlog
        self.headers: dict[str, str] = {}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name=where, daemon=True)
        self._client: Any = None
        self._stop: asyncio.Event | None = None
        self._holder: asyncio.Task[None] | None = None

    def start(self) -> list[Any]:
        """Connect and list the server's tools (all pages)."""
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        try:
            return future.result(timeout=self.target.startup_timeout_s)
        except FutureTimeout as exc:
            self.close()
            raise ConfigError(
                self.where, f"no answer within {self.target.startup_timeout_s:g} s"
            ) from exc
        except Exception as exc:
            self.close()
            raise ConfigError(self.where, f"cannot start or reach the MCP server: {exc}") from exc

    def call(self, name: str, args: dict[str, Any], timeout_s: float) -> str:
        """The tool's text result; an `isError` result raises `ToolError` for the model."""
        if self._client is None:
            raise ToolError(f"{name}: the MCP server {self.where} is not connected")
        coro = self._client.call_tool(name, args, read_timeout_seconds=timeout_s)
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            result = future.result(timeout=timeout_s + 1.0)
        except FutureTimeout as exc:
            future.cancel()
            raise TimeoutError(f"{name} timed out") from exc
        except Exception as exc:  # the SDK's own error types vary across transports
            raise ToolError(f"{name} failed in the MCP server: {exc}") from exc
        text = "\n".join(getattr(block, "text", "") for block in result.content).strip()
        if result.is_error:
            raise ToolError(f"{name} failed: {text or 'the server gave no detail'}")
        if not text and result.structured_content is not None:
            text = json.dumps(result.structured_content, ensure_ascii=False)
        return text or "(no output)"

    def close(self) -> None:
        """End the session (stdio: the server process exits) and stop the loop thread."""
        if self._stop is not None and self._holder is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._wait_holder(), self._loop).result(
                    timeout=CLOSE_TIMEOUT_S
                )
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=CLOSE_TIMEOUT_S)
        self._client = None
        self._stop = self._holder = None

    async def _start(self) -> list[Any]:
        self._stop = asyncio.Event()
        ready: asyncio.Future[list[Any]] = self._loop.create_future()
        self._holder = asyncio.create_task(self._hold(ready))
        return await ready

    async def _wait_holder(self) -> None:
        if self._holder is not None:
            await self._holder

    async def _hold(self, ready: asyncio.Future[list[Any]]) -> None:
        """Owns the session: opened and closed in this one task, as anyio requires."""
        from mcp import Client

        try:
            async with Client(self._transport()) as client:
                tools: list[Any] = []
                cursor = None
                while True:
                    page = await client.list_tools(cursor=cursor)
                    tools += page.tools
                    cursor = page.next_cursor
                    if not cursor:
                        break
                self._client = client
                ready.set_result(tools)
                assert self._stop is not None
                await self._stop.wait()
        except BaseException as exc:  # surfaced to start(); after start, the session is gone
            self._client = None
            if not ready.done():
                ready.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
            if not isinstance(exc, Exception):
                raise

    def _transport(self) -> Any:
        if self.target.url:
            from mcp.client.streamable_http import streamable_http_client
            from mcp.shared._httpx_utils import create_mcp_http_client

            http = create_mcp_http_client(headers=self.headers)
            return streamable_http_client(self.target.url, http_client=http)
        from mcp.client.stdio import StdioServerParameters, stdio_client

        assert self.target.command is not None
        cwd = self.base_dir / self.target.cwd if self.target.cwd else self.base_dir
        params = StdioServerParameters(
            command=self.target.command, args=self.target.args, env=self.target.env, cwd=cwd
        )
        return stdio_client(params, errlog=self.errlog)


def tool_specs(conn: McpConnection, tools: list[Any]) -> list[ToolSpec]:
    """Catalogue entries for the listed MCP tools (schema -> pydantic, readOnlyHint ->
    read access; anything not marked read-only is a write)."""
    specs = []
    for tool in tools:
        schema = dict(tool.input_schema or {"type": "object"})
        description = tool.description or tool.title or tool.name
        model = SchemaConverter(schema, conn.where).model(tool.name, schema, doc=description)
        hints = tool.annotations
        read_only = bool(hints is not None and hints.read_only_hint)
        specs.append(
            ToolSpec(
                original_name=tool.name,
                description=description,
                args_model=model,
                default_access="read" if read_only else "write",
                invoke_with_auth=_invoker(conn, tool.name),
            )
        )
    return specs


def _invoker(conn: McpConnection, name: str) -> Any:
    def with_auth(auth: ResolvedAuth) -> Invoke:
        if auth.config is not None and auth.config.user_token:
            raise ConfigError(
                conn.where,
                "user_token auth is supported for OpenAPI sources only: an MCP session is "
                "shared by all askers; use `secret_env` for MCP servers",
            )

        def invoke(args: dict[str, Any], principal: Principal, timeout_s: float) -> str:
            return conn.call(name, args, timeout_s)

        return invoke

    return with_auth
