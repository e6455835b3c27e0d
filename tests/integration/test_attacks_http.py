"""Attacks on outbound HTTP (SECURITY.md "Outbound HTTP"): URLs that come from text someone
else wrote (the model's tool call, a sitemap) must not reach internal addresses, through a
redirect, a sitemap location, or a name that resolves differently when connected (DNS
rebinding). A small site on loopback plays both the outside and the inside: "127.0.0.1"
and "localhost" are different host names for the same server, so a hop from one to the
other is a hop to "another host"."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ingest.pipeline import sync_source
from ingest.sources import SourceSpec
from ingest.sparse import encode_query
from ingest.store import DocStore
from oncall.core.settings import IngestSettings, PapersSettings, StoreSettings
from oncall.testing.fake_arxiv import ArxivPaper, atom_feed
from oncall.testing.fakes import HashEmbedder
from tools.papers import PaperError
from tools.papers.fetch import Fetcher

EMB = HashEmbedder()
SECRET_PDF = b"%PDF-1.4\n% internal: db password hunter2\n" + b"0" * 2048
NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


@dataclass
class Site:
    """Routes path -> (status, headers, body); records (Host header, path) of each GET."""

    routes: dict[str, tuple[int, dict[str, str], bytes]] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def page(self, path: str, body: bytes, status: int = 200, **headers: str) -> None:
        self.routes[path] = (status, headers, body)

    def redirect(self, path: str, to: str) -> None:
        self.page(path, b"", 302, Location=to)

    def paths(self) -> list[str]:
        return [p for _, p in self.seen]


@pytest.fixture
def site() -> Iterator[Site]:
    state = Site()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.seen.append((self.headers.get("Host", ""), self.path))
            path = self.path.split("?", 1)[0]
            status, headers, body = state.routes.get(path, (404, {}, b"missing"))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state
    server.shutdown()
    server.server_close()


# --- papers (the model names the URL) --------------------------------------------------


def test_papers_redirect_from_the_arxiv_host_to_an_internal_host_is_refused(site: Site) -> None:
    """The arXiv host is the operator's (trusted even on loopback); where it redirects is
    not: a hop to another host on an internal address is refused before it is sent."""
    site.page("/api/query", atom_feed("2401.01234", ArxivPaper(b"", "T", ["A"], "abs")))
    site.redirect("/pdf/2401.01234", site.url("/admin/secret.pdf", host="localhost"))
    site.page("/admin/secret.pdf", SECRET_PDF, **{"Content-Type": "application/pdf"})
    fetcher = Fetcher(PapersSettings(arxiv_base_url=site.url(""), timeout_s=2.0))
    with pytest.raises(PaperError) as err:
        fetcher.arxiv("2401.01234")
    assert err.value.code == "paper_refused"
    assert "localhost" in err.value.detail and "papers.allow_private_hosts" in err.value.detail
    assert "/admin/secret.pdf" not in site.paths(), "the internal URL was never requested"


def test_papers_dns_rebinding_connects_only_to_the_checked_address(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that resolves to a public address when checked and to 127.0.0.1 when
    connected must not reach 127.0.0.1: the guard connects to the address it checked."""
    real = socket.getaddrinfo
    answers = iter(["93.184.216.34", "127.0.0.1", "127.0.0.1", "127.0.0.1"])

    def rebinding(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "papers.rebind.test":
            address = next(answers)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 80))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    site.page("/paper.pdf", SECRET_PDF)
    fetcher = Fetcher(PapersSettings(timeout_s=1.0))
    with pytest.raises(PaperError) as err:  # 93.184.216.34 is unreachable from the tests
        fetcher.pdf_url(f"http://papers.rebind.test:{site.port}/paper.pdf")
    assert err.value.code in ("paper_fetch_failed", "paper_timeout")
    assert site.seen == [], "the loopback server was never reached"


# --- sitemap sync (a sitemap lists the URLs) --------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocStore]:
    with DocStore(StoreSettings(), tmp_path / "data") as s:
        yield s


def sitemap(*locs: str) -> bytes:
    urls = "".join(f"<url><loc>{loc}</loc></url>" for loc in locs)
    return f"<urlset {NS}>{urls}</urlset>".encode()


def html(text: str) -> bytes:
    return f"<html><body><h1>Page</h1><p>{text}</p></body></html>".encode()


def everything_public(store: DocStore) -> str:
    query = "internal admin password"
    hits = store.search(EMB.embed_query(query), encode_query(query), ["public"], 20, 50)
    return " ".join(h.text for h in hits)


def test_sitemap_locations_on_other_hosts_are_not_fetched(
    site: Site, store: DocStore, tmp_path: Path
) -> None:
    """A public sitemap listing an internal URL (another host) and a page that redirects
    to one: neither is fetched, both are reported, the site's own page is indexed."""
    site.page("/sitemap.xml", sitemap(
        site.url("/docs/ok"),
        site.url("/admin/secrets", host="localhost"),
        site.url("/docs/moved"),
    ))  # fmt: skip
    site.page("/docs/ok", html("The deploy window is Tuesday."))
    site.redirect("/docs/moved", site.url("/admin/secrets", host="localhost"))
    site.page("/admin/secrets", html("internal admin password hunter2"))
    spec = SourceSpec(
        name="docs", type="sitemap", url=site.url("/sitemap.xml"), private_network=True
    )
    report = sync_source(spec, store, EMB, IngestSettings(), tmp_path / "cache")
    assert report.added == [site.url("/docs/ok")]
    refused = site.url("/admin/secrets", host="localhost")
    assert "not one this fetch may visit" in report.failed[refused]
    assert "allow_hosts" in report.failed[site.url("/docs/moved")]
    assert ("localhost", "/admin/secrets") not in [(h.split(":")[0], p) for h, p in site.seen]
    assert "hunter2" not in everything_public(store)


def test_sitemap_on_a_private_address_needs_private_network(
    site: Site, store: DocStore, tmp_path: Path
) -> None:
    """Without `private_network: true` a sitemap source fetches public addresses only; the
    error says which setting to change. `allow_hosts` widens the hosts, nothing else."""
    site.page("/sitemap.xml", sitemap(site.url("/admin/secrets", host="localhost")))
    site.page("/admin/secrets", html("internal admin password hunter2"))
    spec = SourceSpec(name="docs", type="sitemap", url=site.url("/sitemap.xml"))
    with pytest.raises(ValueError, match="private_network: true"):
        sync_source(spec, store, EMB, IngestSettings(), tmp_path / "cache")
    assert site.seen == []

    allowed = spec.model_copy(update={"private_network": True, "allow_hosts": ["localhost"]})
    report = sync_source(allowed, store, EMB, IngestSettings(), tmp_path / "cache")
    assert report.added == [site.url("/admin/secrets", host="localhost")]


def test_the_guard_tries_each_checked_address_in_turn(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A dual-stack name whose first address does not answer (no IPv6 route) is reached at
    the next checked address, still without a second lookup."""
    from oncall.core import netguard

    real = socket.getaddrinfo
    lookups: list[str] = []

    def dual_stack(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        if host == "dual.test":
            lookups.append(host)
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("::1", port, 0, 0)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port)),
            ]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", dual_stack)
    monkeypatch.setattr(netguard, "is_public", lambda address: True)  # play the internet
    site.page("/paper.pdf", SECRET_PDF)
    fetched = Fetcher(PapersSettings(timeout_s=2.0)).pdf_url(
        f"http://dual.test:{site.port}/paper.pdf"
    )
    assert fetched.data == SECRET_PDF and lookups == ["dual.test"]
