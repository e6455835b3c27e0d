"""Who is asking: the identity every front end resolves before calling the agent.

Document permissions (search filters) and tool permissions (which tools the model sees,
whose token is passed through) are both decided from a `Principal`. Front ends build one
from their own login (Slack user -> groups mapping, web session, CLI flags); the agent
never guesses it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Documents ingested without an ACL carry this group, and every principal is in it, so an
# index without any ACL configuration behaves as "everyone can read everything".
PUBLIC_GROUP = "public"


@dataclass(frozen=True)
class Principal:
    """An authenticated asker: a stable id, display name, and the ACL groups they are in."""

    user_id: str
    groups: frozenset[str] = field(default_factory=frozenset)
    name: str = ""
    # Per-user token for tools that pass the asker's credentials through (never logged).
    token: str | None = field(default=None, repr=False)

    @property
    def read_groups(self) -> list[str]:
        """Groups whose documents this principal may read, always including `public`."""
        return sorted(self.groups | {PUBLIC_GROUP})

    @classmethod
    def local(cls, groups: list[str] | None = None) -> Principal:
        """The operator at a terminal (CLI, scripts): the given groups, else public only."""
        return cls(user_id="local", groups=frozenset(groups or []), name="local operator")
