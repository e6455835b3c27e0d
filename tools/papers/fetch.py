"""Where a paper comes from: an arXiv id or URL, any PDF URL, or a local file.

arXiv is reached through its public protocol: `GET {base}/api/query?id_list=ID` returns an
Atom feed with the title, authors and abstract, and `GET {base}/pdf/ID` the PDF. `base` is
`papers.arxiv_base_url` (export.arxiv.org, the host arXiv asks programs to use), so tests
and mirrors point it at a server speaking the same protocol.

Downloads are bounded: a connect/read timeout per operation, a deadline for the whole
transfer, a size cap checked on the declared length and again while streaming, and the
`%PDF-` signature checked before anything is parsed. The model can call this tool, and a
document must not turn it into a probe of the internal network: every request, redirects
included, goes through the outbound guard (oncall/core/netguard.py), which connects only to
public addresses (the arXiv host configured by the operator excepted) unless
`papers.allow_private_hosts` is set.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlparse

import httpx
from defusedxml import ElementTree

from oncall.core.netguard import BlockedDestination, OutboundPolicy, guarded_client, host_of
from oncall.core.settings import PapersSettings
from tools.papers.model import PaperError

USER_AGENT = "oncall-agent/0.1 (summarize_paper; internal developer-knowledge agent)"
_NEW_ID = r"\d{4}\.\d{4,5}(?:v\d+)?"
_OLD_ID = r"[a-z][a-z.\-]*/\d{7}(?:v\d+)?"
ARXIV_ID = re.compile(rf"^(?:arxiv:\s*)?({_NEW_ID}|{_OLD_ID})$", re.IGNORECASE)
_ARXIV_PATH = re.compile(rf"^/(?:abs|pdf|html)/({_NEW_ID}|{_OLD_ID})(?:\.pdf)?/?$", re.IGNORECASE)
_ATOM = {"a": "http://www.w3.org/2005/Atom", "os": "http://a9.com/-/spec/opensearch/1.1/"}


@dataclass(frozen=True)
class Fetched:
    """A downloaded PDF and what its source said about it."""

    data: bytes
    source: str  # as the user gave it, normalised (`arXiv:2401.01234`, a URL)
    label: str
    url: str
    title: str = ""
    authors: list[str] = field(default_factory=list)
    abstract: str = ""
    published: str = ""


def arxiv_id(ref: str) -> str | None:
    """The arXiv id in `ref` (a bare id, `arXiv:ID`, or an arxiv.org abs/pdf URL)."""
    ref = ref.strip()
    match = ARXIV_ID.match(ref)
    if match:
        return match.group(1)
    parsed = urlparse(ref)
    if parsed.scheme in {"http", "https"} and (parsed.hostname or "").endswith("arxiv.org"):
        path = _ARXIV_PATH.match(parsed.path)
        return path.group(1) if path else None
    return None


def is_url(ref: str) -> bool:
    return urlparse(ref.strip()).scheme in {"http", "https"}


class Fetcher:
    """HTTP side of paper lookup; one instance per reader, safe to share across threads."""

    def __init__(self, settings: PapersSettings, transport: httpx.BaseTransport | None = None):
        """`transport` replaces the network (tests); the URL rules still apply to it."""
        self.settings = settings
        hint = (
            "papers are fetched from public hosts only (set papers.allow_private_hosts for an "
            "internal library)"
        )
        policy = OutboundPolicy(allow_private=settings.allow_private_hosts, private_hint=hint)
        # The arXiv host is the operator's choice (a mirror may be internal): trusted for the
        # arXiv protocol only, never for a URL the model names.
        arxiv_host = frozenset({host_of(settings.arxiv_base_url)})
        options: dict[str, Any] = {
            "timeout": httpx.Timeout(settings.timeout_s),
            "headers": {"User-Agent": USER_AGENT},
        }
        self._client = guarded_client(policy, transport, **options)
        self._arxiv = guarded_client(
            replace(policy, trusted_hosts=arxiv_host), transport, **options
        )

    def close(self) -> None:
        self._client.close()
        self._arxiv.close()

    def arxiv(self, paper_id: str) -> Fetched:
        """Metadata from the arXiv API, then the PDF; `paper_not_found` if arXiv has no such
        paper."""
        base = self.settings.arxiv_base_url.rstrip("/")
        query = f"{base}/api/query"
        with _http_errors(f"arXiv {paper_id}", query):
            response = self._arxiv.get(query, params={"id_list": paper_id, "max_results": 1})
        if response.status_code in (400, 404):
            raise _not_found(paper_id, f"the arXiv API answered HTTP {response.status_code}")
        _check_status(response, f"arXiv API for {paper_id}")
        meta = parse_atom_entry(response.content, paper_id)
        pdf_url = f"{base}/pdf/{paper_id}"
        missing = _not_found(paper_id, "no PDF")
        data = self._download(self._arxiv, pdf_url, f"arXiv {paper_id}", missing)
        return Fetched(
            data=data,
            source=f"arXiv:{paper_id}",
            label=f"arXiv:{paper_id}",
            url=f"https://arxiv.org/abs/{paper_id}",
            title=meta.title,
            authors=meta.authors,
            abstract=meta.abstract,
            published=meta.published,
        )

    def pdf_url(self, url: str) -> Fetched:
        """Any URL that serves a PDF (on a public host: see the module's docstring)."""
        missing = PaperError("paper_not_found", f"{url} answered 404: check the link")
        data = self._download(self._client, url, url, missing)
        name = urlparse(url).path.rstrip("/").rsplit("/", 1)[-1] or urlparse(url).netloc
        return Fetched(data=data, source=url, label=name, url=url)

    def _download(self, client: httpx.Client, url: str, what: str, missing: PaperError) -> bytes:
        cap = int(self.settings.max_pdf_mb * 1024 * 1024)
        deadline = time.monotonic() + self.settings.download_deadline_s
        with _http_errors(what, url), client.stream("GET", url) as response:
            if response.status_code == 404:
                raise missing
            _check_status(response, what)
            declared = int(response.headers.get("content-length") or 0)
            if declared > cap:
                raise _too_large(what, declared, self.settings.max_pdf_mb)
            content_type = response.headers.get("content-type", "")
            chunks, size, checked = [], 0, False
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > cap:
                    raise _too_large(what, size, self.settings.max_pdf_mb, at_least=True)
                if time.monotonic() > deadline:
                    raise PaperError(
                        "paper_timeout",
                        f"downloading {what} took over {self.settings.download_deadline_s:g} s "
                        "(papers.download_deadline_s): try again or give a local copy",
                    )
                chunks.append(chunk)
                if not checked and size >= 1024:  # refuse a web page before fetching it all
                    require_pdf(b"".join(chunks), what, content_type)
                    checked = True
            data = b"".join(chunks)
        require_pdf(data, what, content_type)
        return data


def require_pdf(data: bytes, what: str, content_type: str = "") -> None:
    """Refuse anything that is not a PDF before a parser sees it."""
    if b"%PDF-" in data[:1024]:
        return
    kind = content_type.split(";")[0].strip() or "unknown type"
    hint = (
        "it is a web page: link the PDF itself (for arXiv, give the id)"
        if "html" in kind or data.lstrip()[:1] == b"<"
        else "give a link or path to the PDF itself"
    )
    raise PaperError("paper_not_pdf", f"{what} is not a PDF ({kind}, {len(data)} bytes): {hint}")


@dataclass(frozen=True)
class ArxivEntry:
    title: str
    authors: list[str]
    abstract: str
    published: str


def parse_atom_entry(feed: bytes, paper_id: str) -> ArxivEntry:
    """The one entry of an arXiv API answer; `paper_not_found` when there is none."""
    try:
        root = ElementTree.fromstring(feed)
    except ElementTree.ParseError as exc:
        raise PaperError(
            "paper_fetch_failed", f"the arXiv API answer for {paper_id} is not Atom XML: {exc}"
        ) from exc
    entries = root.findall("a:entry", _ATOM)
    total = root.findtext("os:totalResults", default="", namespaces=_ATOM).strip()
    if not entries or total == "0":
        raise _not_found(paper_id, "the arXiv API returned no entry")
    entry = entries[0]
    title = _clean(entry.findtext("a:title", default="", namespaces=_ATOM))
    entry_id = entry.findtext("a:id", default="", namespaces=_ATOM)
    if "api/errors" in entry_id or title.lower() == "error":
        detail = _clean(entry.findtext("a:summary", default="", namespaces=_ATOM))
        raise _not_found(paper_id, f"arXiv says: {detail or 'error'}")
    authors = [
        _clean(a.findtext("a:name", default="", namespaces=_ATOM))
        for a in entry.findall("a:author", _ATOM)
    ]
    return ArxivEntry(
        title=title,
        authors=[a for a in authors if a],
        abstract=_clean(entry.findtext("a:summary", default="", namespaces=_ATOM)),
        published=entry.findtext("a:published", default="", namespaces=_ATOM).strip(),
    )


def _clean(text: str) -> str:
    return " ".join(text.split())


def _not_found(paper_id: str, why: str) -> PaperError:
    return PaperError(
        "paper_not_found",
        f"no arXiv paper {paper_id!r} ({why}): check the id, e.g. 2401.01234 or "
        "https://arxiv.org/abs/2401.01234",
    )


def _too_large(what: str, size: int, cap_mb: float, at_least: bool = False) -> PaperError:
    amount = f"{'over ' if at_least else ''}{size / 1e6:.1f} MB"
    return PaperError(
        "paper_too_large",
        f"{what} is {amount}, over the {cap_mb:g} MB cap (papers.max_pdf_mb): download it "
        "and pass a smaller copy, or raise the cap",
    )


def _check_status(response: httpx.Response, what: str) -> None:
    if response.status_code >= 400:
        raise PaperError(
            "paper_fetch_failed",
            f"{what}: HTTP {response.status_code} from {response.url.host}; try again later "
            "or give a local copy",
        )


@contextmanager
def _http_errors(what: str, url: str) -> Iterator[None]:
    try:
        yield
    except BlockedDestination as exc:  # before HTTPError: it is one, but not a network fault
        raise PaperError("paper_refused", f"{what}: {exc}") from exc
    except httpx.TimeoutException as exc:
        raise PaperError(
            "paper_timeout",
            f"{what}: {urlparse(url).netloc} did not answer in time ({type(exc).__name__}); "
            "try again, raise papers.timeout_s, or give a local copy",
        ) from exc
    except httpx.HTTPError as exc:
        raise PaperError(
            "paper_fetch_failed",
            f"{what}: cannot reach {urlparse(url).netloc} ({type(exc).__name__}: {exc}); "
            "check the link and the network, or give a local copy",
        ) from exc
