"""The server's document view URL of an indexed file, shared by the front ends.

The web chat serves `/docs/view/<document key>?chunk=<chunk id>` (bots/web/docview.py): the
text extracted at ingest with the cited passage highlighted, to people allowed to read it.
The Slack bot links its citations there when the web chat's public URL is configured. The
key is the index's id for the file record, so a URL never holds a server path.
"""

from __future__ import annotations

from urllib.parse import quote, urljoin

from ingest.store import file_point_id

VIEW_PREFIX = "/docs/view/"


def view_url(source: str, chunk_id: str = "") -> str:
    """The server-relative document view of `source`, at `chunk_id` if given."""
    url = VIEW_PREFIX + file_point_id(source)
    return f"{url}?chunk={quote(chunk_id)}" if chunk_id else url


def absolute(url: str, base: str) -> str:
    """`url` (possibly server-relative, like a document view) resolved against `base`."""
    return urljoin(base.rstrip("/") + "/", url) if url.startswith("/") else url
