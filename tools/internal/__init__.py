"""Internal-tool dispatch: company tools from OpenAPI specs and MCP servers, governed by
a YAML catalogue (permissions, auth, read/write, timeout, rate limit) and audited.

`load_catalogue(path, env, data_dir)` is called once per entry point (oncall/cli/compose.py); the
agent offers each asker only `catalogue.permitted(principal)` and asks a human before any
`write` tool runs.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from oncall.appstate import AppState
from oncall.core.errors import ConfigError
from oncall.core.identity import Principal
from tools.internal import mcp_client, openapi
from tools.internal.audit import AuditLog, redact
from tools.internal.catalogue import (
    Catalogue,
    InternalTool,
    McpSourceConfig,
    OpenApiSourceConfig,
    build_tools,
    read_config,
)
from tools.internal.policy import AuthConfig, ResolvedAuth

__all__ = ["AuditLog", "Catalogue", "InternalTool", "load_catalogue", "redact"]


def load_catalogue(
    path: Path, env: Mapping[str, str], data_dir: Path, state: AppState | None = None
) -> Catalogue:
    """Read the YAML, load every source (fetching specs, starting MCP servers), apply the
    policies. Audit entries and rate limits go to `state` (shared by replicas when it is
    Postgres); without it, to `data_dir/tool_audit.jsonl` and this process. MCP stdio
    servers' stderr goes to `data_dir/logs/mcp-<source>.log`. Call `close()` when done."""
    config = read_config(path, {"PYTHON": sys.executable, **env})
    base_dir = path.resolve().parent
    if state is not None:
        audit, limits = AuditLog(sink=state.audit()), state.rate_limits()
    else:
        audit, limits = AuditLog(data_dir / "tool_audit.jsonl"), None
    closers: list[Any] = []
    tools: list[InternalTool] = []
    try:
        for source in config.sources:
            where = f"catalogue source {source.name!r} ({path})"

            def resolve(auth: AuthConfig | None, where: str = where) -> ResolvedAuth:
                resolved = ResolvedAuth(auth, env, where)
                audit.add_secret(resolved.secret)
                return resolved

            if isinstance(source, OpenApiSourceConfig):
                client = httpx.Client()
                closers.append(client)
                spec, origin = openapi.load_spec(source.openapi, base_dir)
                base_url = openapi.server_url(spec, origin, source.base_url, where)
                specs = openapi.tool_specs(spec, where, base_url, client)
            else:
                specs = _mcp_specs(source, where, resolve, base_dir, data_dir, closers)
            tools += build_tools(source, specs, resolve, limits)
        names = [t.name for t in tools]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(
                f"catalogue {path}", f"duplicate tool names {duplicates}: give sources a `prefix`"
            )
    except BaseException:
        for closer in closers:
            with contextlib.suppress(Exception):
                closer.close()
        raise
    return Catalogue(tools, audit, closers)


def _mcp_specs(
    source: McpSourceConfig,
    where: str,
    resolve: Any,
    base_dir: Path,
    data_dir: Path,
    closers: list[Any],
) -> list[Any]:
    log_dir = data_dir / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    errlog = (log_dir / f"mcp-{source.name}.log").open("a", encoding="utf-8")
    conn = mcp_client.McpConnection(source.mcp, where, base_dir, errlog)
    if source.mcp.url and source.auth is not None and not source.auth.user_token:
        conn.headers = resolve(source.auth).headers(Principal.local())
    closers.append(errlog)
    listed = conn.start()
    closers.insert(0, conn)
    return mcp_client.tool_specs(conn, listed)
