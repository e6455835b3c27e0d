"""Files shared with a question in Slack, fetched as data for the agent.

A `file_share` message (or a mention with files) lists the files with their private
download URLs. Text data (CSV, JSON, logs; bots/attachments.py) is downloaded with the bot
token and handed to the agent as attachments; the sandbox gets them as files.

The URL comes from the event payload, so it is checked like any URL from outside
(oncall/core/netguard.py): only Slack's file host, or the Web API host the operator
configured (a fake Slack in tests), may be fetched, every redirect hop included, and the
bot token is sent nowhere else. The size is checked before (Slack's `size`) and while
downloading, so a file larger than the limit is never read whole.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from agent.pasted import Attachment
from bots.attachments import AttachmentRefused, check_total, require_text_name, text_attachment
from oncall.core.netguard import OutboundPolicy, guarded_client, host_of

SLACK_FILES_HOST = "files.slack.com"
DOWNLOAD_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class SharedFile:
    """What a Slack event says about one shared file."""

    id: str
    name: str
    size: int
    url: str  # url_private_download (or url_private)

    @classmethod
    def from_event(cls, item: dict[str, Any]) -> SharedFile:
        url = str(item.get("url_private_download") or item.get("url_private") or "")
        name = str(item.get("name") or item.get("title") or item.get("id") or "file")
        try:
            size = int(item.get("size") or 0)
        except (TypeError, ValueError):
            size = 0
        return cls(str(item.get("id", "")), name, size, url)


def shared_files(event: dict[str, Any]) -> tuple[SharedFile, ...]:
    """The files of a message event (none when it has none)."""
    items = event.get("files") or []
    return tuple(SharedFile.from_event(f) for f in items if isinstance(f, dict))


class SlackFiles:
    """Downloads shared text files with the bot token, within `max_kb` in all."""

    def __init__(
        self,
        token: str,
        api_url: str,
        max_kb: int = 256,
        transport: httpx.BaseTransport | None = None,
    ):
        self.max_kb = max_kb
        api_host = host_of(api_url)
        policy = OutboundPolicy(
            allowed_hosts=frozenset({SLACK_FILES_HOST, api_host}),
            trusted_hosts=frozenset({api_host}),  # configured by the operator (slack.api_url)
            hosts_hint="shared files are fetched from Slack only",
        )
        self._client = guarded_client(
            policy,
            transport,
            headers={"Authorization": f"Bearer {token}"},
            timeout=DOWNLOAD_TIMEOUT_S,
        )

    @classmethod
    def for_client(cls, client: Any, max_kb: int) -> SlackFiles:
        """Over a `slack_sdk.WebClient`'s token and API URL."""
        token = getattr(client, "token", None) or ""
        return cls(token, getattr(client, "base_url", None) or "https://slack.com/api/", max_kb)

    def attachments(self, files: Sequence[SharedFile]) -> list[Attachment]:
        """The files as attachments; raises `AttachmentRefused` (its message is for the
        person who shared them) when one is not text data, too large, or unreadable."""
        if not files:
            return []
        if self.max_kb == 0:
            raise AttachmentRefused(
                "attachments_disabled",
                "this bot does not read shared files; paste the relevant lines instead",
            )
        for f in files:  # refused before anything is downloaded
            require_text_name(f.name)
        check_total([(f.name, f.size) for f in files], self.max_kb)
        taken: list[Attachment] = []
        budget = self.max_kb * 1024
        for f in files:
            data = self._download(f, budget)
            budget -= len(data)
            taken.append(text_attachment(f.name, data, [a.name for a in taken]))
        return taken

    def _download(self, f: SharedFile, budget: int) -> bytes:
        if not f.url:
            raise AttachmentRefused(
                "attachment_unavailable",
                f"{f.name} has no download link (a file from outside Slack?); upload it directly",
            )
        try:
            with self._client.stream("GET", f.url) as response:
                if response.status_code != 200:
                    raise AttachmentRefused(
                        "attachment_unavailable",
                        f"could not download {f.name} (Slack answered HTTP "
                        f"{response.status_code}); share it again",
                    )
                data = bytearray()
                for chunk in response.iter_bytes():
                    data += chunk
                    if len(data) > budget:  # Slack's `size` was wrong, or files add up
                        raise AttachmentRefused(
                            "attachment_too_large",
                            f"{f.name} takes the shared files over {self.max_kb} KiB, the most "
                            "one question may bring; share the relevant part",
                        )
                return bytes(data)
        except httpx.HTTPError as exc:
            raise AttachmentRefused(
                "attachment_unavailable", f"could not download {f.name} ({exc}); share it again"
            ) from exc

    def close(self) -> None:
        self._client.close()
