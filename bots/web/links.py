"""Where a cited passage can be opened, as a URL: never a path on the server.

- a sitemap page is indexed under its own URL: link there;
- a file of a `git` source whose registry entry has `web_url` (e.g.
  `https://git.example.com/org/repo/blob/main/{path}`): link to the file in the git web UI;
- anything else (folders, git without `web_url`, ad-hoc ingests): the server's own
  document view, `/docs/view/<document key>?chunk=<chunk id>`, which shows the text
  extracted at ingest with the cited passage highlighted, to people allowed to read it.

External links carry a text fragment (`#:~:text=...`) so browsers that support it
scroll to and highlight the passage there too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import quote

from bots.doclinks import VIEW_PREFIX, absolute, view_url
from ingest.sources import Registry

_FRAGMENT_WORDS = 8
_MARKUP = re.compile(r"[#*_`>\[\]|]+")


@dataclass(frozen=True)
class GitWeb:
    """A git source's checkout and the web URL template of its files."""

    root: Path
    template: str


class SourceLinks:
    """Maps an indexed source (path or URL) to the URL a reader opens."""

    def __init__(self, git: Sequence[GitWeb] = ()):
        # Longest root first: a checkout nested in another one wins.
        self.git = sorted(git, key=lambda g: len(g.root.parts), reverse=True)

    @classmethod
    def from_registry(cls, registry: Registry | None) -> SourceLinks:
        if registry is None:
            return cls()
        git = [
            GitWeb(spec.path, spec.web_url)
            for spec in registry.sources
            if spec.type == "git" and spec.web_url and spec.path is not None
        ]
        return cls(git)

    def url(self, source: str, chunk_id: str = "", text: str = "") -> str:
        """The link for a chunk of `source` (`text`: the passage, for a text fragment)."""
        if source.startswith(("https://", "http://")):
            return source.split("#", 1)[0] + text_fragment(text)
        path = PurePosixPath(source)
        for git in self.git:
            if path.is_relative_to(git.root.as_posix()):
                rel = path.relative_to(git.root.as_posix()).as_posix()
                return git.template.format(path=quote(rel)) + text_fragment(text)
        return view_url(source, chunk_id)


def text_fragment(text: str) -> str:
    """`#:~:text=<first words>` for the passage's first line of prose, or "" when it has
    none worth matching (a table, code, a few words)."""
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("|", "```", "<")):
            continue
        words = _MARKUP.sub(" ", line).split()[:_FRAGMENT_WORDS]
        if len(words) < 3:
            continue
        # Text directives reserve - , & (RFC 3986 quote leaves "-" alone: encode it).
        return "#:~:text=" + quote(" ".join(words), safe="").replace("-", "%2D")
    return ""


__all__ = ["VIEW_PREFIX", "GitWeb", "SourceLinks", "absolute", "text_fragment", "view_url"]
