"""Who may see what where: per-channel policy and the Slack user -> ACL groups directory.

An answer posted in a channel is read by everyone in it, so a channel can narrow the
documents answered there (`groups`) below what the asker may read, and the tools the DEEP
loop may use (`tools`). Both files are YAML; a bad file fails the start with the setting's
name and what is wrong (ConfigError), never at the first question. Both grant access, so
both are re-read when they change (oncall/core/watched.py): a user removed from a group,
or from a channel's approvers, loses it on the next event without a restart (a later edit
that does not parse is logged and the last good version stays).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oncall.core.errors import ConfigError
from oncall.core.identity import Principal
from oncall.core.watched import WatchedFile

log = logging.getLogger(__name__)

Mode = Literal["mention", "auto"]
_CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{2,}$")


class ChannelPolicy(BaseModel):
    """How the bot behaves in one channel (or, as `defaults`, everywhere not listed)."""

    model_config = ConfigDict(extra="forbid")

    mode: Mode = Field(
        "mention",
        description="mention: answer only when @-mentioned. auto: answer every top-level "
        "question and follow-ups in threads the bot already answered.",
    )
    groups: list[str] | None = Field(
        None,
        description="ACL groups whose documents may be answered here (the asker's groups "
        "are intersected with these; public docs always). Unset: the asker's groups.",
    )
    tools: list[str] | None = Field(
        None, description="Tools the DEEP loop may use here, e.g. [search_docs]. Unset: all."
    )
    escalate_to: str | None = Field(
        None,
        description="Who 'Escalate to on-call' mentions: a user id (U...), a user group id "
        "(S...), 'here', or plain text. Unset: agent.escalation_contact.",
    )
    approvers: list[str] | None = Field(
        None,
        description="Slack user ids who approve write actions here (for anyone). Unset: only "
        "the asker approves their own, or the tool's approver_groups (catalogue).",
    )


class ChannelsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    defaults: ChannelPolicy = Field(default_factory=ChannelPolicy)
    channels: dict[str, ChannelPolicy] = Field(default_factory=dict)


class ChannelConfig:
    """Channel id -> policy. Listed channels inherit unset fields from `defaults`."""

    def __init__(self, parsed: ChannelsFile | None = None, source: Path | None = None):
        """`parsed`: fixed settings (tests); `source`: a channels file, kept current."""
        self._fixed = _Policies.of(parsed or ChannelsFile())
        self._watched = WatchedFile(source, _parse_channels) if source is not None else None

    @property
    def defaults(self) -> ChannelPolicy:
        return self._current().defaults

    def policy(self, channel: str) -> ChannelPolicy:
        current = self._current()
        return current.channels.get(channel, current.defaults)

    def _current(self) -> _Policies:
        return self._watched.current() if self._watched is not None else self._fixed

    @classmethod
    def load(cls, path: Path | None) -> ChannelConfig:
        """Read `slack.channels_path` (None: mention-only everywhere, all tools)."""
        return cls() if path is None else cls(source=path)


@dataclass(frozen=True)
class _Policies:
    defaults: ChannelPolicy
    channels: dict[str, ChannelPolicy]

    @classmethod
    def of(cls, parsed: ChannelsFile) -> _Policies:
        base = parsed.defaults.model_dump()
        channels = {
            cid: ChannelPolicy(**{**base, **policy.model_dump(exclude_unset=True)})
            for cid, policy in parsed.channels.items()
        }
        return cls(parsed.defaults, channels)


def _parse_channels(path: Path) -> _Policies:
    data = _read_yaml(path, "slack.channels_path")
    try:
        parsed = ChannelsFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError("slack.channels_path", f"{path}: {_problems(exc)}") from exc
    bad = [cid for cid in parsed.channels if not _CHANNEL_ID.match(cid)]
    if bad:
        raise ConfigError(
            "slack.channels_path",
            f"{path}: {', '.join(bad)} are not channel ids; use the id (C0123ABC, from the "
            "channel's 'About' tab), since channel names can change",
        )
    return _Policies.of(parsed)


class UsersFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    users: dict[str, list[str]] = Field(
        default_factory=dict, description="Slack user id -> ACL groups."
    )
    usergroups: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Slack user group handle -> ACL groups (with slack.usergroups_api); a "
        "handle not listed maps to the ACL group of the same name.",
    )
    default_groups: list[str] = Field(
        default_factory=list, description="ACL groups every workspace member is in."
    )


class UserDirectory:
    """Slack user id -> `Principal` (ACL groups and display name), cached for `ttl_s`.

    Groups come from the users file and, with `use_api`, from Slack user groups
    (`usergroups.list` with members; `usergroups.users.list` where members are missing).
    An API failure (missing `usergroups:read` scope, Slack down) is logged and the file
    mapping is used alone until the next refresh, so questions keep being answered.
    """

    def __init__(
        self,
        client: Any,
        mapping: UsersFile | None = None,
        use_api: bool = False,
        ttl_s: float = 600.0,
    ):
        self.client = client
        self._fixed = mapping or UsersFile()
        self._watched: WatchedFile[UsersFile] | None = None
        self.use_api = use_api
        self.ttl_s = ttl_s
        self._lock = threading.Lock()
        self._members: dict[str, set[str]] = {}  # user id -> ACL groups from user groups
        self._members_at = float("-inf")
        self._names: dict[str, tuple[str, float]] = {}

    @classmethod
    def load(cls, client: Any, path: Path | None, use_api: bool, ttl_s: float) -> UserDirectory:
        """Read `slack.users_path` (kept current: re-read when the file changes)."""
        directory = cls(client, None, use_api, ttl_s)
        if path is not None:
            directory._watched = WatchedFile(path, _parse_users)
        return directory

    @property
    def mapping(self) -> UsersFile:
        """The users file as it is now."""
        return self._watched.current() if self._watched is not None else self._fixed

    def groups(self, user: str) -> set[str]:
        """The user's ACL groups: defaults, the users file, and their Slack user groups."""
        found = set(self.mapping.default_groups) | set(self.mapping.users.get(user, []))
        if self.use_api:
            found |= self._usergroup_members().get(user, set())
        return found

    def principal(self, user: str, channel: ChannelPolicy | None = None) -> Principal:
        """The asker as the agent sees them; a channel's `groups` narrow what it answers."""
        groups = self.groups(user)
        if channel is not None and channel.groups is not None:
            groups &= set(channel.groups)
        return Principal(f"slack:{user}", frozenset(groups), self.name(user))

    def name(self, user: str) -> str:
        """Display name via users.info (cached); the id itself when Slack will not say."""
        now = time.monotonic()
        cached = self._names.get(user)
        if cached and now - cached[1] < self.ttl_s:
            return cached[0]
        name = user
        try:
            profile = self.client.users_info(user=user)["user"]
            name = (
                profile.get("profile", {}).get("display_name")
                or profile.get("real_name")
                or profile.get("name")
                or user
            )
        except Exception as exc:  # names are cosmetic: never fail a question over one
            log.warning("users.info failed for %s: %s", user, exc)
        self._names[user] = (name, now)
        return name

    def _usergroup_members(self) -> dict[str, set[str]]:
        with self._lock:
            if time.monotonic() - self._members_at >= self.ttl_s:
                self._members = self._fetch_usergroups()
                self._members_at = time.monotonic()
            return self._members

    def _fetch_usergroups(self) -> dict[str, set[str]]:
        members: dict[str, set[str]] = {}
        try:
            listing = self.client.usergroups_list(include_users=True)
            for group in listing.get("usergroups", []):
                acl = self.mapping.usergroups.get(group["handle"], [group["handle"]])
                users = group.get("users")
                if users is None:
                    users = self.client.usergroups_users_list(usergroup=group["id"])["users"]
                for user in users:
                    members.setdefault(user, set()).update(acl)
        except Exception as exc:
            log.warning(
                "Slack user groups unavailable (%s): using slack.users_path only; grant "
                "the usergroups:read scope or set slack.usergroups_api=false",
                exc,
            )
            return self._members  # keep the last good answer
        return members


def _parse_users(path: Path) -> UsersFile:
    try:
        return UsersFile.model_validate(_read_yaml(path, "slack.users_path"))
    except ValidationError as exc:
        raise ConfigError("slack.users_path", f"{path}: {_problems(exc)}") from exc


def _read_yaml(path: Path, setting: str) -> Any:
    if not path.is_file():
        raise ConfigError(setting, f"{path} does not exist or is not a file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(setting, f"{path} is not valid YAML: {exc}") from exc
    return data or {}


def _problems(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())


def mention(contact: str) -> str:
    """A Slack mention for an escalation contact: U.../W... a user, S... a user group,
    'here'/'channel' a broadcast, anything else (or an existing <...>) as written."""
    contact = contact.strip()
    if re.fullmatch(r"[UW][A-Z0-9]{2,}", contact):
        return f"<@{contact}>"
    if re.fullmatch(r"S[A-Z0-9]{2,}", contact):
        return f"<!subteam^{contact}>"
    if contact.lstrip("@!") in ("here", "channel"):
        return f"<!{contact.lstrip('@!')}>"
    return contact
