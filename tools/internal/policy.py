"""Per-tool policy from the catalogue: access kind, who may use it, auth, timeout, rate.

`ToolPolicy` is what a catalogue entry may set for one tool (or a source's defaults);
`AuthConfig` turns into request headers per call, from a secret environment variable named
in the config (resolved once at load time) or from the asker's own token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from oncall.appstate import MemoryRateLimits, RateLimits
from oncall.core.errors import ConfigError, ToolError
from oncall.core.identity import PUBLIC_GROUP, Principal

Access = Literal["read", "write"]


class AuthConfig(BaseModel):
    """How requests to a source authenticate.

    - `secret_env`: the header value comes from this environment variable (read once when
      the catalogue loads; missing -> start-up error naming it). Never written to logs.
    - `user_token: true`: the asking user's own token (`Principal.token`) is passed
      through, so the internal service applies that user's permissions.
    """

    model_config = ConfigDict(extra="forbid")

    header: str = Field("Authorization", description="Header that carries the credential.")
    scheme: str = Field("", description="Prefix such as 'Bearer' (a space is added).")
    secret_env: str | None = None
    user_token: bool = False

    @model_validator(mode="after")
    def _one_source(self) -> AuthConfig:
        if bool(self.secret_env) == self.user_token:
            raise ValueError("auth needs exactly one of `secret_env: VAR` or `user_token: true`")
        return self


class ToolPolicy(BaseModel):
    """Settings of one tool; unset fields fall back to the source's `defaults`."""

    model_config = ConfigDict(extra="forbid")

    description: str | None = Field(None, description="Replaces the spec's description.")
    access: Access | None = Field(
        None,
        description="`write` tools run only after a human approves each call. Default: GET "
        "and HEAD operations and MCP tools marked readOnlyHint are `read`, all else `write`.",
    )
    allowed_groups: list[str] | None = Field(
        None, description=f"Groups that may use the tool; default [{PUBLIC_GROUP}] (everyone)."
    )
    approver_groups: list[str] | None = Field(
        None,
        description="`write` tools: ACL groups whose members approve each call (for anyone, "
        "themselves included). Unset: only the asker approves their own call.",
    )
    timeout_s: float | None = Field(None, gt=0, le=600)
    rate_limit_per_minute: int | None = Field(None, ge=1)
    auth: AuthConfig | None = None
    enabled: bool = True

    @field_validator("approver_groups")
    @classmethod
    def _named_approvers(cls, groups: list[str] | None) -> list[str] | None:
        if groups is not None and PUBLIC_GROUP in groups:
            raise ValueError(
                f"approver_groups must name real groups: {PUBLIC_GROUP!r} would let anyone "
                "approve; leave it unset to let each asker approve their own calls"
            )
        return groups


DEFAULT_POLICY = ToolPolicy(
    allowed_groups=[PUBLIC_GROUP], timeout_s=10.0, rate_limit_per_minute=60, access=None
)


def merged(*layers: ToolPolicy | None) -> ToolPolicy:
    """Later layers win, field by field (tool entry over source defaults over built-ins)."""
    values: dict[str, object] = {}
    for layer in layers:
        if layer is not None:
            values.update(layer.model_dump(exclude_unset=True))
    return ToolPolicy.model_validate(values)


class ResolvedAuth:
    """An `AuthConfig` with its secret looked up: headers for a given asker."""

    def __init__(self, config: AuthConfig | None, env: Mapping[str, str], where: str):
        self.config = config
        self.secret: str | None = None
        if config is not None and config.secret_env:
            self.secret = env.get(config.secret_env)
            if not self.secret:
                raise ConfigError(
                    where,
                    f"auth.secret_env names {config.secret_env!r}, which is not set: export "
                    "it (the API key or token for this service) before starting",
                )

    def headers(self, principal: Principal) -> dict[str, str]:
        if self.config is None:
            return {}
        value = self.secret
        if self.config.user_token:
            if not principal.token:
                raise ToolError(
                    "this tool acts with your own credentials, and none were provided by the "
                    "front end you are using; ask through a front end that signs you in"
                )
            value = principal.token
        prefix = f"{self.config.scheme} " if self.config.scheme else ""
        return {self.config.header: f"{prefix}{value}"}


class RateLimiter:
    """At most `per_minute` calls in any sliding 60-second window (per tool, all users):
    counted in this process, or by every replica when `limits` is the shared store."""

    def __init__(
        self,
        per_minute: int,
        clock: Callable[[], float] = time.monotonic,
        limits: RateLimits | None = None,
    ):
        self.per_minute = per_minute
        self.limits = limits or MemoryRateLimits(clock)

    def acquire(self, tool: str) -> None:
        wait = self.limits.hit(f"tool:{tool}", self.per_minute, 60.0)
        if wait is not None:
            raise ToolError(
                f"{tool} is rate-limited to {self.per_minute} calls per minute; try again "
                f"in {wait:.0f} s, or answer with what you already have"
            )


def permitted(allowed_groups: list[str], principal: Principal) -> bool:
    """The asker is in one of the tool's groups (`public` includes everyone)."""
    return bool(set(allowed_groups) & set(principal.read_groups))
