"""Finding the files a source holds: folders, git checkouts and sitemaps.

Each found file is a `SourceFile`: where its bytes are on disk, the key it is indexed under
(`source`: the absolute path, or the page URL for sitemaps) and the `doc_id` citations show.

A source's files are indexed under the source's ACL, so nothing outside the source may be
found through it. Folder and git files are resolved (symlinks followed, `..` collapsed)
and kept only when the real path is inside the source's real root; symlinked folders are
never walked. Sitemap pages are fetched through the outbound guard: only the sitemap's
host and the source's `allow_hosts`, on every redirect too, and public addresses unless the
source says `private_network: true`. What is refused is listed in `Found.refused`, with
the reason, and is never indexed (a copy indexed before is pruned).
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import httpx

from ingest.partition import SUPPORTED_SUFFIXES
from ingest.sources import SourceSpec
from oncall.core.netguard import BlockedDestination, OutboundPolicy, guarded_client, host_of

_MAX_PAGE_BYTES = 20 * 1024 * 1024
_SITEMAP_NS = "{http://www.sitemaps.org/schemas/sitemap/0.9}"


@dataclass(frozen=True)
class SourceFile:
    path: Path  # the bytes to read
    doc_id: str  # what citations show: path relative to the source root, without suffix
    source: str = ""  # the index key; defaults to the absolute path

    @property
    def key(self) -> str:
        return self.source or str(self.path)


@dataclass
class Found:
    files: list[SourceFile] = field(default_factory=list)
    ignored: int = 0  # files of unsupported types inside walked folders
    failed: dict[str, str] = field(default_factory=dict)  # location -> reason (fetch errors)
    refused: dict[str, str] = field(default_factory=dict)  # location -> why it is not ours


def discover_paths(paths: Iterable[Path]) -> tuple[Found, list[Path]]:
    """Files under ad-hoc paths, and the folders walked (the scope of `--prune`).

    A missing path raises `FileNotFoundError` naming it; hidden files and folders are skipped.
    """
    found, roots = Found(), []
    for raw in paths:
        path = raw.expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"{raw}: no such file or folder")
        if path.is_file():
            found.files.append(SourceFile(path, path.stem))
            continue
        roots.append(path)
        _walk_folder(path, [], found)
    return found, roots


def discover_source(spec: SourceSpec, cache_dir: Path) -> Found:
    """Every file of one registry source (sitemap pages are fetched into `cache_dir`)."""
    found = Found()
    if spec.type == "folder":
        assert spec.path is not None
        if not spec.path.is_dir():
            raise FileNotFoundError(f"source {spec.name!r}: {spec.path} is not a folder")
        _walk_folder(spec.path, spec.exclude, found)
    elif spec.type == "git":
        _git_files(spec, found)
    else:
        _fetch_sitemap(spec, cache_dir / spec.name, found)
    return found


def _walk_folder(root: Path, exclude: list[str], found: Found) -> None:
    real_root = root.resolve()
    for dirpath, dirnames, filenames in os.walk(root):  # symlinked folders are not walked
        for name in [d for d in dirnames if (Path(dirpath) / d).is_symlink()]:
            link = Path(dirpath) / name
            if _inside(real_root, link) is None:
                found.refused[str(link)] = _OUTSIDE
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            file = Path(dirpath) / name
            rel = file.relative_to(root).as_posix()
            if name.startswith(".") or any(fnmatch.fnmatch(rel, g) for g in exclude):
                continue
            _add_contained(found, file, root, real_root)


_OUTSIDE = "a symlink leading outside the source: not indexed"


def _inside(real_root: Path, path: Path) -> Path | None:
    """`path` resolved (every symlink followed, `..` collapsed) if that lies inside
    `real_root`, else None: the one test every folder and git file passes."""
    try:
        real = path.resolve(strict=True)
    except (OSError, RuntimeError):  # dangling link, loop, permission
        return None
    return real if real.is_relative_to(real_root) else None


def _add_contained(found: Found, file: Path, root: Path, real_root: Path) -> None:
    """Add `file` if it really lives inside the source; its real path is what gets read,
    so a link swapped after this check cannot lead elsewhere than what was checked."""
    real = _inside(real_root, file)
    if real is None:
        found.refused[str(file)] = _OUTSIDE
        return
    if real.is_file():
        _add(found, file, root, real=real)


def _add(found: Found, file: Path, root: Path, source: str = "", real: Path | None = None) -> None:
    if file.suffix.lower() not in SUPPORTED_SUFFIXES:
        found.ignored += 1
        return
    doc_id = file.relative_to(root).with_suffix("").as_posix()
    found.files.append(SourceFile(real or file, doc_id, source or str(file)))


def _git_files(spec: SourceSpec, found: Found) -> None:
    root = spec.path
    assert root is not None
    if not (root / ".git").exists():
        raise FileNotFoundError(f"source {spec.name!r}: {root} is not a git checkout")
    if spec.pull:
        pulled = _git(root, "pull", "--ff-only", "--quiet")
        if pulled.returncode != 0:  # keep indexing what is checked out; say why it is stale
            found.failed[f"{spec.name}: git pull"] = pulled.stderr.strip()[:300]
    listed = _git(root, "ls-files", "-z")
    if listed.returncode != 0:
        raise RuntimeError(f"source {spec.name!r}: git ls-files failed: {listed.stderr.strip()}")
    real_root = root.resolve()
    for rel in sorted(p for p in listed.stdout.split("\0") if p):
        if any(fnmatch.fnmatch(rel, g) for g in spec.exclude):
            continue
        file = root / rel
        if file.is_symlink() or file.exists():  # tracked but deleted: nothing to read
            _add_contained(found, file, root, real_root)


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120, check=False
    )


def sitemap_policy(spec: SourceSpec) -> OutboundPolicy:
    """Where a sitemap source's requests may go: its own host and `allow_hosts`; public
    addresses only unless `private_network`."""
    assert spec.url is not None
    where = f"source {spec.name!r}"
    return OutboundPolicy(
        allow_private=spec.private_network,
        allowed_hosts=frozenset({host_of(spec.url), *spec.allow_hosts}),
        private_hint=f"set `private_network: true` on {where} if it is an internal site",
        hosts_hint=f"add the host to `allow_hosts` of {where} if its pages belong there",
    )


def _fetch_sitemap(spec: SourceSpec, cache: Path, found: Found) -> None:
    assert spec.url is not None
    cache.mkdir(parents=True, exist_ok=True)
    policy = sitemap_policy(spec)
    with guarded_client(policy, timeout=20) as http:
        try:
            urls = _sitemap_urls(http, policy, spec.url, found, depth=0)[: spec.max_pages]
        except BlockedDestination as exc:  # the sitemap itself: the whole source is refused
            raise ValueError(f"source {spec.name!r}: {exc}") from exc
        for url in urls:
            try:
                body = _get(http, url)
            except BlockedDestination as exc:  # e.g. a redirect to another host
                found.refused[url] = str(exc)
                continue
            except (httpx.HTTPError, ValueError) as exc:
                found.failed[url] = f"fetch failed: {exc}"
                continue
            # Cached under a name derived from the URL: an unchanged page has the same bytes
            # and is skipped by content hash like any file.
            page = cache / f"{hashlib.sha1(url.encode()).hexdigest()[:16]}.html"
            page.write_bytes(body)
            doc_id = (urlparse(url).netloc + urlparse(url).path).rstrip("/")
            found.files.append(SourceFile(page, doc_id, url))


def _sitemap_urls(
    http: httpx.Client, policy: OutboundPolicy, url: str, found: Found, depth: int
) -> list[str]:
    """Page URLs of a sitemap, following a sitemap index one level down. Locations the
    source's policy excludes are put in `found.refused`, not fetched."""
    root = ET.fromstring(_get(http, url))
    locations = [(loc.text or "").strip() for loc in root.iter(f"{_SITEMAP_NS}loc")]
    allowed = []
    for loc in filter(None, locations):
        try:
            policy.check_url(httpx.URL(loc))
            allowed.append(loc)
        except (BlockedDestination, httpx.InvalidURL) as exc:
            found.refused[loc] = str(exc)
    if root.tag == f"{_SITEMAP_NS}sitemapindex" and depth == 0:
        urls: list[str] = []
        for child in allowed:
            try:
                urls.extend(_sitemap_urls(http, policy, child, found, depth + 1))
            except BlockedDestination as exc:
                found.refused[child] = str(exc)
        return urls
    if root.tag != f"{_SITEMAP_NS}urlset":
        raise ValueError(f"{url} is not a sitemap (root element {root.tag})")
    return allowed


def _get(http: httpx.Client, url: str) -> bytes:
    with http.stream("GET", url) as response:
        response.raise_for_status()
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > _MAX_PAGE_BYTES:
                raise ValueError(f"over {_MAX_PAGE_BYTES // 2**20} MB")
            chunks.append(chunk)
    return b"".join(chunks)
