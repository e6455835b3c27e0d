"""A loopback server speaking the arXiv protocol, for tests/integration/test_papers.py.

`GET /api/query?id_list=ID` answers an Atom feed like export.arxiv.org does: one entry for
a known id, an empty feed (totalResults 0) for an unknown one, HTTP 400 for a malformed
id. `GET /pdf/ID` serves the paper's bytes. Extra routes (`routes`) serve any other path
with a chosen status, content type and body, optionally slowly (`delay_s` before the body,
to trigger timeouts) and optionally streamed in chunks without a Content-Length (to test
the size cap while streaming).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "application/pdf"
    delay_s: float = 0.0
    chunked: bool = False  # stream without Content-Length


@dataclass
class ArxivPaper:
    pdf: bytes | Route
    title: str
    authors: list[str]
    abstract: str
    published: str = "2024-01-05T18:00:00Z"


@dataclass
class FakeArxiv:
    papers: dict[str, ArxivPaper] = field(default_factory=dict)
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    base_url: str = ""


_VALID_ID = re.compile(r"^(\d{4}\.\d{4,5}(v\d+)?|[a-z][a-z.\-]*/\d{7}(v\d+)?)$")


def atom_feed(paper_id: str, paper: ArxivPaper | None) -> bytes:
    total = 1 if paper else 0
    entry = ""
    if paper is not None:
        authors = "".join(f"<author><name>{escape(a)}</name></author>" for a in paper.authors)
        entry = f"""<entry>
    <id>http://arxiv.org/abs/{paper_id}</id>
    <published>{paper.published}</published>
    <title>{escape(paper.title)}</title>
    <summary>  {escape(paper.abstract)}
    </summary>
    {authors}
    <link href="http://arxiv.org/abs/{paper_id}" rel="alternate" type="text/html"/>
    <link title="pdf" href="http://arxiv.org/pdf/{paper_id}" rel="related" type="application/pdf"/>
  </entry>"""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">
  <title>arXiv Query: id_list={paper_id}</title>
  <opensearch:totalResults>{total}</opensearch:totalResults>
  {entry}
</feed>""".encode()


def _handler(state: FakeArxiv) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            state.requests.append(self.path)
            if url.path == "/api/query":
                paper_id = parse_qs(url.query).get("id_list", [""])[0]
                if not _VALID_ID.match(paper_id):
                    self._send(Route(b"<error>malformed id</error>", 400, "application/xml"))
                    return
                feed = atom_feed(paper_id, state.papers.get(paper_id))
                self._send(Route(feed, content_type="application/atom+xml"))
            elif url.path.startswith("/pdf/") and url.path[5:] in state.papers:
                pdf = state.papers[url.path[5:]].pdf
                self._send(pdf if isinstance(pdf, Route) else Route(pdf))
            elif url.path in state.routes:
                self._send(state.routes[url.path])
            else:
                self._send(Route(b"not found", 404, "text/plain"))

        def _send(self, route: Route) -> None:
            time.sleep(route.delay_s)
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.chunked:
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                try:
                    for i in range(0, len(route.body), 65536):
                        part = route.body[i : i + 65536]
                        self.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client stopped reading at its size cap
                return
            self.send_header("Content-Length", str(len(route.body)))
            self.end_headers()
            with suppress(BrokenPipeError, ConnectionResetError):  # client gave up
                self.wfile.write(route.body)

    return Handler


@contextmanager
def fake_arxiv(state: FakeArxiv) -> Iterator[FakeArxiv]:
    """Serve `state` on 127.0.0.1 (a free port) for the duration of the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
