"""The internal-tool catalogue: which company tools the agent may call, and the one door
every call goes through (permission, validation, rate limit, timeout, audit).

Loaded once per entry point from a YAML file (format in docs/tools.md):

    sources:
      - name: platform
        openapi: platform.openapi.json      # file (relative to this YAML) or http(s) URL
        base_url: http://127.0.0.1:8790
        auth: {header: X-Api-Key, secret_env: PLATFORM_API_KEY}
        defaults: {timeout_s: 5}
        tools:
          create_incident_ticket: {access: write, allowed_groups: [oncall]}
      - name: runbooks
        mcp: {command: python, args: [mcp_server.py]}   # or {url: http://host/mcp}

Approval of writes is not decided here: the agent graph asks a human before it calls
`Catalogue.call` for a `write` tool, and records rejections with `record_decision`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oncall.appstate import RateLimits
from oncall.core.errors import ConfigError, ToolError
from oncall.core.identity import Principal
from tools.internal.audit import AuditEntry, AuditLog, Status
from tools.internal.policy import (
    DEFAULT_POLICY,
    Access,
    AuthConfig,
    RateLimiter,
    ToolPolicy,
    merged,
    permitted,
)

MAX_RESULT_CHARS = 4000  # what the model reads of one result; the rest is cut, said so
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # what OpenAI-style tool calling accepts

# invoke(args as JSON-ready dict, asker, timeout in seconds) -> text for the model
Invoke = Callable[[dict[str, Any], Principal, float], str]


class SourceConfig(BaseModel):
    """Fields shared by both kinds of source."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    prefix: str = Field("", description="Prepended to every tool name of this source.")
    include: list[str] | None = Field(None, description="Only these tools (original names).")
    auth: AuthConfig | None = None
    defaults: ToolPolicy = Field(default_factory=ToolPolicy)
    tools: dict[str, ToolPolicy] = Field(default_factory=dict)


class OpenApiSourceConfig(SourceConfig):
    openapi: str = Field(description="Spec file (JSON/YAML, relative to the catalogue) or URL.")
    base_url: str | None = Field(None, description="Default: the spec's first `servers` URL.")


class McpTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    url: str | None = Field(None, description="Streamable HTTP endpoint, e.g. http://h/mcp")
    startup_timeout_s: float = Field(20.0, gt=0)


class McpSourceConfig(SourceConfig):
    mcp: McpTarget


class CatalogueConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sources: list[OpenApiSourceConfig | McpSourceConfig] = Field(default_factory=list)


@dataclass
class InternalTool:
    """One callable company tool, with the policy that governs it."""

    name: str
    source: str
    description: str
    args_model: type[BaseModel]
    access: Access
    allowed_groups: list[str]
    timeout_s: float
    limiter: RateLimiter
    invoke: Invoke
    approver_groups: list[str] = field(default_factory=list)  # empty: the asker approves

    @property
    def write(self) -> bool:
        return self.access == "write"


@dataclass(frozen=True)
class ToolSpec:
    """What a source adapter found for one tool, before the catalogue's policy is applied."""

    original_name: str
    description: str
    args_model: type[BaseModel]
    default_access: Access
    invoke_with_auth: Callable[[Any], Invoke]  # ResolvedAuth -> invoke


class Catalogue:
    """The loaded tools, filtered per asker, with one audited call path."""

    def __init__(self, tools: list[InternalTool], audit: AuditLog, closers: list[Any] = ()):  # type: ignore[assignment]
        self.tools = {t.name: t for t in tools}
        self.audit = audit
        self._closers = list(closers)

    def permitted(self, principal: Principal) -> list[InternalTool]:
        """The tools this asker may use: the model is shown only these."""
        return [t for t in self.tools.values() if permitted(t.allowed_groups, principal)]

    def validate(self, name: str, args: Mapping[str, Any]) -> BaseModel:
        """Parsed arguments, or a `ToolError` the model can act on."""
        tool = self._tool(name)
        try:
            return tool.args_model.model_validate(dict(args))
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or 'arguments'}: {e['msg']}" for e in exc.errors()
            )
            raise ToolError(f"invalid arguments for {name}: {problems}") from exc

    def call(
        self,
        name: str,
        args: Mapping[str, Any],
        principal: Principal,
        approver: str | None = None,
    ) -> str:
        """Run one call for `principal`: permission, validation, rate limit, the request
        under the tool's timeout, an audit line whatever happens."""
        tool = self._tool(name)
        started = time.perf_counter()

        def audit(status: Status, detail: str = "") -> None:
            ms = (time.perf_counter() - started) * 1000
            self.record(tool, dict(args), principal, status, ms, approver, detail)

        if not permitted(tool.allowed_groups, principal):
            audit("denied", f"not in {tool.allowed_groups}")
            raise ToolError(f"unknown tool {name!r}")  # do not reveal tools one may not use
        try:
            parsed = self.validate(name, args)
            tool.limiter.acquire(name)
        except ToolError as exc:
            audit("rate_limited" if "rate-limited" in str(exc) else "invalid", str(exc))
            raise
        payload = parsed.model_dump(mode="json", by_alias=True, exclude_none=True)
        try:
            text = tool.invoke(payload, principal, tool.timeout_s)
        except ToolError as exc:
            audit("error", str(exc))
            raise
        except (httpx.TimeoutException, TimeoutError) as exc:
            audit("error", "timeout")
            raise ToolError(f"{name} did not answer within {tool.timeout_s:g} s") from exc
        except (httpx.HTTPError, OSError) as exc:
            audit("error", f"unreachable: {exc}")
            raise ToolError(f"{name} is unreachable right now ({type(exc).__name__})") from exc
        audit("ok")
        return truncate(text)

    def record(
        self,
        tool: InternalTool,
        args: dict[str, Any],
        principal: Principal,
        status: Status,
        latency_ms: float = 0.0,
        approver: str | None = None,
        detail: str = "",
    ) -> None:
        """One audit line; the asker's own token is scrubbed along with the known secrets."""
        entry = AuditEntry(
            principal.user_id, tool.name, tool.source, tool.access, args, status,
            round(latency_ms, 1), approver, detail,
        )  # fmt: skip
        self.audit.record(entry, extra_secrets=[principal.token or ""])

    def record_decision(
        self, name: str, args: dict[str, Any], principal: Principal, status: Status, approver: str
    ) -> None:
        """A write that did not run: rejected, timed out or superseded."""
        self.record(self._tool(name), args, principal, status, approver=approver)

    def close(self) -> None:
        """Stops MCP server processes and connections."""
        for closer in self._closers:
            closer.close()
        self._closers.clear()

    def _tool(self, name: str) -> InternalTool:
        tool = self.tools.get(name)
        if tool is None:
            raise ToolError(f"unknown tool {name!r}")
        return tool


def truncate(text: str, limit: int = MAX_RESULT_CHARS) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[... {len(text) - limit} more characters cut]"


def read_config(path: Path, env: Mapping[str, str]) -> CatalogueConfig:
    """The YAML file parsed, `${VAR}` / `${VAR:-default}` expanded from `env` in every
    string, and validated; errors name the file and the bad field."""
    if not path.is_file():
        raise ConfigError("tools.catalogue_path", f"{path} does not exist or is not a file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return CatalogueConfig.model_validate(expand(raw, env, path))
    except yaml.YAMLError as exc:
        raise ConfigError("tools.catalogue_path", f"{path} is not valid YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise ConfigError("tools.catalogue_path", f"{path}: {problems}") from exc


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def expand(value: Any, env: Mapping[str, str], path: Path) -> Any:
    """`${VAR}` and `${VAR:-default}` replaced in all strings; an unset variable without a
    default is a start-up error naming it (secrets belong in `auth.secret_env` instead)."""
    if isinstance(value, dict):
        return {k: expand(v, env, path) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, env, path) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if env.get(name):
            return env[name]
        if default is not None:
            return default
        raise ConfigError("tools.catalogue_path", f"{path} uses ${{{name}}}, which is not set")

    return _VAR.sub(substitute, value)


def build_tools(
    source: SourceConfig,
    specs: list[ToolSpec],
    resolve_auth: Callable[[AuthConfig | None], Any],
    limits: RateLimits | None = None,
) -> list[InternalTool]:
    """Apply the source's include list, defaults and per-tool entries to what it offers;
    rate limits count in `limits` (shared by replicas) or, without it, in this process."""
    names = {s.original_name for s in specs}
    unknown = (set(source.tools) | set(source.include or [])) - names
    if unknown:
        raise ConfigError(
            f"catalogue source {source.name!r}",
            f"no such tool(s) {sorted(unknown)}; the source offers {sorted(names)}",
        )
    tools = []
    for spec in specs:
        if source.include is not None and spec.original_name not in source.include:
            continue
        policy = merged(DEFAULT_POLICY, source.defaults, source.tools.get(spec.original_name))
        if not policy.enabled:
            continue
        name = f"{source.prefix}{spec.original_name}"
        if not TOOL_NAME.match(name):
            raise ConfigError(
                f"catalogue source {source.name!r}",
                f"tool name {name!r} must match {TOOL_NAME.pattern}; set `prefix` or `include`",
            )
        description = policy.description or spec.description
        spec.args_model.__doc__ = description
        auth = resolve_auth(policy.auth or source.auth)
        tools.append(
            InternalTool(
                name=name,
                source=source.name,
                description=description,
                args_model=spec.args_model,
                access=policy.access or spec.default_access,
                allowed_groups=list(policy.allowed_groups or []),
                timeout_s=float(policy.timeout_s or 10.0),
                limiter=RateLimiter(policy.rate_limit_per_minute or 60, limits=limits),
                invoke=spec.invoke_with_auth(auth),
                approver_groups=list(policy.approver_groups or []),
            )
        )
    return tools
