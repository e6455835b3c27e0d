"""Exported chat and wiki JSON: Slack channel exports and Confluence page exports.

Which kind a `.json` file is, is decided by its shape, not its name:
- Slack: a list of message objects (`ts` plus `text`/`files`), as in a workspace export's
  `<channel>/<YYYY-MM-DD>.json` files, or an API reply `{"messages": [...]}`. Messages are
  grouped by `thread_ts`; each thread is a section titled by its time and first words. User
  ids are resolved through the export's `users.json` (next to the channel folder) when there.
  The export's `channels.json` becomes a channel directory; `users.json` itself is refused
  (personal data, and nothing anyone asks the bot about).
- Confluence: a page object from the REST API or a space export (`title` plus
  `body.storage.value`, or `view`/`export_view`), or `{"results": [page, ...]}`. The page
  title is the section; its space and ancestors go into a breadcrumb line; the storage HTML
  is partitioned like any HTML page (tables become pipe tables, code macros stay as text).
Any other JSON is refused with a reason: we do not guess what a config file means.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from ingest.formats.base import Block, NotADocument, PartitionError

HtmlToBlocks = Callable[[str], list[Block]]
_SKIPPED_SUBTYPES = {"channel_join", "channel_leave", "channel_purpose", "channel_topic"}
_SNIPPET_CHARS = 60


def partition_json(path: Path, text: str, html_to_blocks: HtmlToBlocks) -> list[Block]:
    """Blocks for an exported Slack or Confluence JSON file; see the module docstring."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PartitionError(f"invalid JSON ({exc.msg} at line {exc.lineno})") from exc
    if path.name == "users.json" and _is_list_of(data, "id", "name"):
        raise NotADocument(
            "Slack export users.json: used to resolve names, not indexed (personal data)"
        )
    if path.name == "channels.json" and _is_list_of(data, "id", "name"):
        return slack_channels_to_blocks(data)
    messages = data.get("messages") if isinstance(data, dict) else data
    if is_slack_messages(messages):
        users = _load_slack_users(path)
        return slack_to_blocks(messages, _channel_name(path, data), users)
    pages = data.get("results") if isinstance(data, dict) and "results" in data else [data]
    if isinstance(pages, list) and pages and all(is_confluence_page(p) for p in pages):
        blocks: list[Block] = []
        for page in pages:
            blocks.extend(confluence_to_blocks(page, html_to_blocks))
        return blocks
    raise NotADocument(
        "JSON is neither a Slack export (a list of messages with ts and text) nor a "
        "Confluence page export (title and body.storage.value); other JSON is not indexed"
    )


def _is_list_of(data: Any, *keys: str) -> bool:
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(d, dict) and all(k in d for k in keys) for d in data)
    )


# ---------------------------------------------------------------- Slack


def is_slack_messages(data: Any) -> TypeGuard[list[dict]]:
    """A non-empty list of objects that all have a `ts`, some with text or files."""
    if not isinstance(data, list) or not data:
        return False
    if not all(isinstance(m, dict) and "ts" in m for m in data):
        return False
    return any(isinstance(m.get("text"), str) or m.get("files") for m in data)


def slack_to_blocks(messages: list[dict], channel: str, users: dict[str, str]) -> list[Block]:
    """One section per thread, in order of each thread's first message in this file."""
    users = {**_profile_names(messages), **users}
    threads: dict[str, list[dict]] = {}
    for msg in sorted(messages, key=lambda m: _ts(m.get("ts"))):
        if msg.get("subtype") in _SKIPPED_SUBTYPES:
            continue
        threads.setdefault(str(msg.get("thread_ts") or msg["ts"]), []).append(msg)
    first_ts = min((_ts(m["ts"]) for m in messages), default=0.0)
    blocks = [Block("title", f"Slack #{channel}, {_day(first_ts)}", depth=0)]
    for thread_ts, thread in threads.items():
        lines = [line for line in (_message_line(m, users) for m in thread) if line]
        if not lines:
            continue
        head = thread[0]
        started_here = str(head["ts"]) == thread_ts
        snippet = _snippet(_clean_text(head.get("text") or "", users))
        title = (
            f"Thread {_clock(_ts(thread_ts))} UTC: {snippet}"
            if started_here
            else f"Replies to the thread of {_day(_ts(thread_ts))} {_clock(_ts(thread_ts))} UTC"
        )
        blocks.append(Block("title", title, depth=1))
        blocks.extend(Block("text", line) for line in lines)  # the chunker packs them
    if len(blocks) == 1:
        raise PartitionError("Slack export holds no messages with text")
    return blocks


def slack_channels_to_blocks(channels: list[dict]) -> list[Block]:
    """The export's channels.json as a directory: which channel is for what."""
    rows = []
    for ch in channels:
        purpose = (ch.get("purpose") or {}).get("value", "")
        topic = (ch.get("topic") or {}).get("value", "")
        desc = " ".join(x for x in (purpose, topic) if x)
        rows.append(f"#{ch['name']}: {desc}".rstrip(": "))
    return [Block("title", "Slack channels", depth=0), Block("text", "\n".join(rows))]


def _message_line(msg: dict, users: dict[str, str]) -> str:
    text = _clean_text(msg.get("text") or "", users)
    files = [f.get("name") or f.get("title") for f in msg.get("files") or [] if isinstance(f, dict)]
    if files:
        text = f"{text} [files: {', '.join(str(f) for f in files if f)}]".strip()
    if not text:
        return ""
    return f"[{_clock(_ts(msg.get('ts')))}] {_author(msg, users)}: {text}"


def _author(msg: dict, users: dict[str, str]) -> str:
    profile = msg.get("user_profile") or {}
    for name in (
        profile.get("display_name"),
        profile.get("real_name"),
        users.get(str(msg.get("user"))),
        msg.get("username"),
        msg.get("user"),
        msg.get("bot_id"),
    ):
        if name:
            return str(name)
    return "unknown"


_MENTION = re.compile(r"<([@#!])([^>|]+)(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^>|]+)(?:\|([^>]*))?>")


def _clean_text(text: str, users: dict[str, str]) -> str:
    """Slack mrkdwn to plain text: <@U1> -> @name, <#C1|ops> -> #ops, <url|label> -> label (url)."""

    def mention(m: re.Match[str]) -> str:
        sigil, ref, label = m.groups()
        if sigil == "@":
            return "@" + (label or users.get(ref, ref))
        if sigil == "#":
            return "#" + (label or ref)
        return "@" + (label or ref.split("^")[0])  # <!here>, <!subteam^S1|@sre>

    def link(m: re.Match[str]) -> str:
        url, label = m.groups()
        return f"{label} ({url})" if label and label != url else url

    return html.unescape(_MENTION.sub(mention, _LINK.sub(link, text))).strip()


def _profile_names(messages: list[dict]) -> dict[str, str]:
    """user id -> name from the `user_profile` that exports attach to each message."""
    names = {}
    for msg in messages:
        profile = msg.get("user_profile") or {}
        name = profile.get("display_name") or profile.get("real_name")
        if msg.get("user") and name:
            names[str(msg["user"])] = str(name)
    return names


def _load_slack_users(path: Path) -> dict[str, str]:
    """user id -> display name from the export root's users.json, if it is there."""
    for candidate in (path.parent.parent / "users.json", path.parent / "users.json"):
        try:
            users = json.loads(candidate.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(users, list):
            return {
                str(u["id"]): str(
                    (u.get("profile") or {}).get("display_name") or u.get("real_name") or u["name"]
                )
                for u in users
                if isinstance(u, dict) and "id" in u and "name" in u
            }
    return {}


def _channel_name(path: Path, data: Any) -> str:
    if isinstance(data, dict) and isinstance(data.get("channel"), str):
        return data["channel"].lstrip("#")
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", path.stem):  # <channel>/<day>.json
        return path.parent.name
    return path.stem


def _ts(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%d")


def _clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%H:%M")


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= _SNIPPET_CHARS:
        return text
    return text[:_SNIPPET_CHARS].rsplit(" ", 1)[0] + "..."


# ---------------------------------------------------------------- Confluence


def is_confluence_page(data: Any) -> bool:
    """A page object with a title and an HTML body in one of the export representations."""
    return isinstance(data, dict) and isinstance(data.get("title"), str) and bool(_body(data))


def _body(page: dict) -> str:
    body = page.get("body")
    if not isinstance(body, dict):
        return ""
    for representation in ("storage", "export_view", "view"):
        value = (body.get(representation) or {}).get("value")
        if isinstance(value, str) and value.strip():
            return value
    return ""


def confluence_to_blocks(page: dict, html_to_blocks: HtmlToBlocks) -> list[Block]:
    """Page title at depth 0, a breadcrumb line, then the body's blocks one level deeper."""
    title = page["title"].strip()
    space = page.get("space") or {}
    crumbs = [a.get("title", "") for a in page.get("ancestors") or [] if isinstance(a, dict)]
    space_name = space.get("name") or space.get("key") or ""
    if space.get("name") and space.get("key"):
        space_name = f"{space['name']} ({space['key']})"
    trail = " > ".join(x for x in [space_name, *crumbs, title] if x)
    version = page.get("version") or {}
    meta = f"Confluence page: {trail}"
    if version.get("number"):
        meta += (
            f" (version {version['number']}{', ' + version['when'] if version.get('when') else ''})"
        )
    blocks = [Block("title", title, depth=0), Block("text", meta)]
    for block in html_to_blocks(storage_to_html(_body(page))):
        if block.kind == "title":
            block = Block("title", block.text, depth=block.depth + 1, page=block.page)
        blocks.append(block)
    return blocks


_CDATA = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)
_MACRO_PARAM = re.compile(r"<ac:parameter\b[^>]*>.*?</ac:parameter>", re.DOTALL)
_PAGE_LINK = re.compile(r'<ri:page\b[^>]*ri:content-title="([^"]*)"[^>]*/>')


def storage_to_html(storage: str) -> str:
    """Confluence storage format to plain HTML: code macro bodies (CDATA) become <pre>,
    macro parameters are dropped, page links keep the linked page's title."""
    text = _CDATA.sub(lambda m: f"<pre>{html.escape(m.group(1))}</pre>", storage)
    text = _MACRO_PARAM.sub("", text)
    text = _PAGE_LINK.sub(lambda m: m.group(1), text)
    return f"<html><body>{text}</body></html>"
