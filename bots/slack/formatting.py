"""Pure text formatting for Slack: Markdown -> mrkdwn, citation links, clean splitting.

Models write CommonMark; Slack renders its own `mrkdwn` (single `*` bold, `_` italic,
`<url|text>` links, no headings) and requires `&`, `<`, `>` escaped. Slack also caps a
section block's text at 3,000 characters, a message at 50 blocks and 40,000 characters of
text, so long answers are split at paragraph, line, sentence or word boundaries, with code
fences closed and reopened across a split so no half code block is ever shown.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from agent.citations import Citation
from bots.doclinks import absolute, view_url
from oncall.core.text import printable
from tools.search_docs import DocHit

SECTION_CHARS = 3000  # section block text
MESSAGE_BLOCKS = 50
MESSAGE_CHARS = 40_000  # `text` of one message
FENCE = "```"

_FENCE_LINE = re.compile(r"^\s*```")
_INLINE_CODE = re.compile(r"(`[^`\n]+`)")
_LINK = re.compile(r"!?\[([^\]\n]+)\]\((https?://[^)\s]+|mailto:[^)\s]+)\)")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.+?)\s*#*\s*$")
_BULLET = re.compile(r"^(\s*)[-*+]\s+")
_BOLD = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*|__(?=\S)(.+?)(?<=\S)__")
_ITALIC = re.compile(r"(?<![*\w])\*(?=\S)([^*\n]+?)(?<=\S)\*(?![*\w])")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_MARKER = re.compile(r"\[(\d+)\]")
_BOLD_MARK = "\x01"  # placeholder so the italic pass does not re-read converted bold
_SEPARATORS = ("\n", ". ", " ")


def escape(text: str) -> str:
    """Slack's three control characters; everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_mrkdwn(markdown: str) -> str:
    """CommonMark as Slack mrkdwn: bold, italic, strike, links, headings, bullets; code
    (fenced and inline) is only escaped, and a fence's language tag is dropped (Slack
    would print it)."""
    out: list[str] = []
    in_code = False
    # Control characters go first: they are never shown, and the placeholders below are
    # control characters, so text from the model cannot forge one.
    for line in printable(markdown, multiline=True).strip().splitlines():
        if _FENCE_LINE.match(line):
            in_code = not in_code
            out.append(FENCE)
        elif in_code:
            out.append(escape(line))
        else:
            out.append(_convert_line(line))
    if in_code:  # the model forgot to close its code block
        out.append(FENCE)
    return "\n".join(out)


def _convert_line(line: str) -> str:
    heading = _HEADING.match(line)
    if heading:
        return f"*{_inline(heading.group(1).replace('**', ''))}*"
    bullet = _BULLET.match(line)
    if bullet:
        return f"{bullet.group(1)}• {_inline(line[bullet.end() :])}"
    return _inline(line)


def _inline(text: str) -> str:
    parts = _INLINE_CODE.split(text)  # odd parts are `code` spans: escaped only
    return "".join(escape(p) if i % 2 else _prose(p) for i, p in enumerate(parts))


def _prose(text: str) -> str:
    links: list[str] = []

    def stash(url: str, label: str) -> str:
        links.append(f"<{url.replace('|', '%7C')}|{escape(label)}>")
        return f"\x02{len(links) - 1}\x03"

    text = _LINK.sub(lambda m: stash(m.group(2), m.group(1)), text)
    text = _AUTOLINK.sub(lambda m: stash(m.group(1), m.group(1)), text)
    text = escape(text)
    text = _BOLD.sub(lambda m: f"{_BOLD_MARK}{m.group(1) or m.group(2)}{_BOLD_MARK}", text)
    text = _ITALIC.sub(r"_\1_", text)
    text = _STRIKE.sub(r"~\1~", text).replace(_BOLD_MARK, "*")
    return re.sub(r"\x02(\d+)\x03", lambda m: links[int(m.group(1))], text)


def citation_url(hit: DocHit, docs_base_url: str | None, web_url: str | None = None) -> str | None:
    """Where a citation links: the source itself when it is a URL; else, with the web
    chat's public `web_url`, its document view at the cited passage (people sign in there,
    and see only what their groups may read); else the doc's path under `docs_base_url`;
    None when none of these exists (the name is shown as text)."""
    if re.match(r"https?://", hit.source):
        return _slack_safe(printable(hit.source))
    if web_url and not hit.chunk_id.startswith("tool:"):
        return _slack_safe(absolute(view_url(hit.source, hit.chunk_id), web_url))
    if docs_base_url and hit.doc_id and not hit.chunk_id.startswith("tool:"):
        return f"{docs_base_url.rstrip('/')}/{quote(hit.doc_id.lstrip('/'))}"
    return None


def _slack_safe(url: str) -> str:
    """`|` ends a link's URL and `>` the link in mrkdwn: percent-encode them."""
    return url.replace("|", "%7C").replace(">", "%3E")


def link_markers(
    text: str,
    citations: Sequence[Citation],
    docs_base_url: str | None,
    web_url: str | None = None,
) -> str:
    """Make each [n] in (already converted) mrkdwn a link to its source, outside code."""
    urls = {c.number: citation_url(c.hit, docs_base_url, web_url) for c in citations}

    def link(match: re.Match[str]) -> str:
        url = urls.get(int(match.group(1)))
        return f"<{url}|[{match.group(1)}]>" if url else match.group(0)

    pieces = re.split(r"(```.*?```|`[^`\n]+`)", text, flags=re.DOTALL)
    return "".join(p if i % 2 else _MARKER.sub(link, p) for i, p in enumerate(pieces))


def sources_text(
    citations: Sequence[Citation], docs_base_url: str | None, web_url: str | None = None
) -> str:
    """'*Sources*' and one line per citation, as links where possible, within one section."""
    lines = ["*Sources*"]
    for c in citations:
        label = escape(printable(_label(c.hit)))
        url = citation_url(c.hit, docs_base_url, web_url)
        line = f"[{c.number}] <{url}|{label}>" if url else f"[{c.number}] `{label}`"
        if sum(len(x) + 1 for x in lines) + len(line) > SECTION_CHARS - 20:
            lines.append(f"… and {len(citations) - len(lines) + 1} more")
            break
        lines.append(line)
    return "\n".join(lines)


def _label(hit: DocHit) -> str:
    label = hit.title or hit.doc_id
    if hit.section and hit.section != label:
        label += f" › {hit.section}"
    if hit.page:
        label += f" (p. {hit.page})"
    return label[:200]


def split_text(text: str, limit: int = SECTION_CHARS) -> list[str]:
    """Pieces of at most `limit` characters, split between paragraphs where possible,
    then lines, sentences, words; a code block split across pieces is closed at the end
    of one and reopened at the start of the next. Joining the pieces with blank lines
    gives the text back, apart from whitespace at the split points and the added fences."""
    chunks: list[str] = []
    current = ""
    for unit in _units(text):
        pieces = _split_unit(unit, limit) if len(unit) > limit else [unit]
        for piece in pieces:
            if current and len(current) + 2 + len(piece) <= limit:
                current += "\n\n" + piece
            else:
                if current:
                    chunks.append(current)
                current = piece
    if current:
        chunks.append(current)
    return chunks


def _units(text: str) -> list[str]:
    """Paragraphs, with each fenced code block kept whole (its blank lines included)."""
    units: list[str] = []
    block: list[str] = []
    in_code = False
    for line in text.strip().split("\n"):
        if _FENCE_LINE.match(line):
            if not in_code and block:
                units.append("\n".join(block))
                block = []
            block.append(line)
            if in_code:
                units.append("\n".join(block))
                block = []
            in_code = not in_code
        elif not in_code and not line.strip():
            if block:
                units.append("\n".join(block))
            block = []
        else:
            block.append(line)
    if block:
        units.append("\n".join(block))
    return units


def _split_unit(unit: str, limit: int) -> list[str]:
    if _FENCE_LINE.match(unit):  # a code block: split its body, fence every piece
        body = unit.strip().removeprefix(FENCE).removesuffix(FENCE).strip("\n")
        inner = limit - 2 * len(FENCE) - 2
        return [f"{FENCE}\n{piece}\n{FENCE}" for piece in _hard_split(body, inner, ("\n",))]
    return _hard_split(unit, limit, _SEPARATORS)


def _hard_split(text: str, limit: int, separators: tuple[str, ...]) -> list[str]:
    """Cut at the last separator before `limit` (never inside a <link>), else at `limit`."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = 0
        for sep in separators:
            cut = _last_safe(text, sep, limit)
            if cut > limit // 3:
                break
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip(" \n") if cut < limit else text[cut:]
    if text.strip():
        pieces.append(text)
    return pieces


def _last_safe(text: str, sep: str, limit: int) -> int:
    """Index just after the last `sep` within `limit` that is outside any <...> link."""
    pos = text.rfind(sep, 0, limit)
    while pos > 0:
        end = pos + len(sep)
        if text.count("<", 0, end) <= text.count(">", 0, end):
            return end
        pos = text.rfind(sep, 0, pos)
    return 0


def group_sections(sections: Sequence[str], reserved_blocks: int = 0) -> list[list[str]]:
    """Sections packed into messages: at most MESSAGE_BLOCKS blocks (minus `reserved_blocks`
    for the last message's sources and buttons) and MESSAGE_CHARS characters each."""
    messages: list[list[str]] = [[]]
    size = 0
    for section in sections:
        full = len(messages[-1]) >= MESSAGE_BLOCKS - reserved_blocks
        if messages[-1] and (full or size + len(section) + 2 > MESSAGE_CHARS):
            messages.append([])
            size = 0
        messages[-1].append(section)
        size += len(section) + 2
    return messages
