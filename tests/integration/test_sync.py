"""Registry sync on real sources: a folder, a git checkout and a sitemap on loopback."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from ingest.pipeline import sync_source
from ingest.sources import SourceSpec
from ingest.sparse import encode_query
from ingest.store import DocStore
from oncall.core.settings import IngestSettings, StoreSettings
from oncall.testing.fakes import HashEmbedder

EMB = HashEmbedder()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocStore]:
    with DocStore(StoreSettings(), tmp_path / "data") as s:
        yield s


def sync(spec: SourceSpec, store: DocStore, tmp_path: Path):  # type: ignore[no-untyped-def]
    return sync_source(spec, store, EMB, IngestSettings(), tmp_path / "cache")


def texts_for(store: DocStore, query: str, groups: list[str]) -> list[str]:
    hits = store.search(EMB.embed_query(query), encode_query(query), groups, 10, 30)
    return [h.text for h in hits]


def test_folder_sync_adds_updates_deletes_and_reports(store: DocStore, tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "drafts").mkdir(parents=True)
    (root / "a.md").write_text("# Alpha\n\nThe alpha service pages team kestrel.\n")
    (root / "b.md").write_text("# Beta\n\nBeta backups run at 02:00 UTC.\n")
    (root / "drafts" / "c.md").write_text("# Draft\n\nNot ready.\n")
    (root / "package.json").write_text('{"name": "docs-site", "version": "1.0.0"}')
    spec = SourceSpec(name="docs", type="folder", path=root, acl=["sre"], exclude=["drafts/*"])

    first = sync(spec, store, tmp_path)
    assert sorted(Path(p).name for p in first.added) == ["a.md", "b.md"]
    assert first.failed == {} and first.ignored == 1  # config JSON: not a document
    assert texts_for(store, "beta backups", ["public"]) == []  # sre-only source
    assert any("02:00" in t for t in texts_for(store, "beta backups", ["sre"]))

    (root / "b.md").write_text("# Beta\n\nBeta backups run at 04:30 UTC.\n")
    (root / "a.md").unlink()
    second = sync(spec, store, tmp_path)
    assert [Path(p).name for p in second.updated] == ["b.md"]
    assert [Path(p).name for p in second.deleted] == ["a.md"]
    assert second.unchanged == [] and second.failed == {}
    assert set(map(Path, store.indexed_files())) == {root / "b.md"}
    assert any("04:30" in t for t in texts_for(store, "beta backups", ["sre"]))
    assert not any("02:00" in t for t in texts_for(store, "beta backups", ["sre"]))

    # Changing who may read a source re-indexes it under the new groups.
    widened = spec.model_copy(update={"acl": ["public", "sre"]})
    assert [Path(p).name for p in sync(widened, store, tmp_path).updated] == ["b.md"]
    assert any("04:30" in t for t in texts_for(store, "beta backups", ["public"]))
    assert sync(widened, store, tmp_path).unchanged == [str(root / "b.md")]


def test_sources_only_prune_their_own_files(store: DocStore, tmp_path: Path) -> None:
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.md").write_text(f"# {name}\n\nText of source {name}.\n")
    one = SourceSpec(name="one", type="folder", path=tmp_path / "one")
    two = SourceSpec(name="two", type="folder", path=tmp_path / "two")
    sync(one, store, tmp_path)
    sync(two, store, tmp_path)
    (tmp_path / "one" / "one.md").unlink()
    report = sync(one, store, tmp_path)
    assert [Path(p).name for p in report.deleted] == ["one.md"]
    assert [Path(p).name for p in store.indexed_files()] == ["two.md"]


def test_git_source_reads_tracked_files_only(store: DocStore, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("# Repo\n\nDeploy with make ship.\n")
    (repo / "untracked.md").write_text("# Scratch\n\nnot committed\n")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "README.md"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    report = sync(SourceSpec(name="repo", type="git", path=repo), store, tmp_path)
    assert [Path(p).name for p in report.added] == ["README.md"]

    with pytest.raises(FileNotFoundError, match="not a git checkout"):
        sync(SourceSpec(name="x", type="git", path=tmp_path / "docs-missing"), store, tmp_path)


class _Site(http.server.BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        body = self.pages.get(self.path)
        self.send_response(200 if body is not None else 404)
        self.end_headers()
        self.wfile.write(body or b"missing")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_sitemap_source_fetches_pages_and_keeps_pages_that_failed(
    store: DocStore, tmp_path: Path, site: str
) -> None:
    ns = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
    urls = "".join(f"<url><loc>{site}/{p}</loc></url>" for p in ("oncall", "deploys"))
    _Site.pages = {
        "/index.xml": f"<sitemapindex {ns}><sitemap><loc>{site}/pages.xml</loc></sitemap>"
        f"</sitemapindex>".encode(),
        "/pages.xml": f"<urlset {ns}>{urls}</urlset>".encode(),
        "/oncall": b"<html><body><h1>On-call</h1><p>The SRE rota changes on Mondays.</p>"
        b"</body></html>",
        "/deploys": b"<html><body><h1>Deploys</h1><p>Freeze starts Friday 15:00.</p></body></html>",
    }
    spec = SourceSpec(
        name="site", type="sitemap", url=f"{site}/index.xml", acl=["sre"], private_network=True
    )  # the test site is on loopback: an internal site
    first = sync(spec, store, tmp_path)
    assert sorted(first.added) == [f"{site}/deploys", f"{site}/oncall"]
    assert any("Mondays" in t for t in texts_for(store, "sre rota", ["sre"]))

    del _Site.pages["/oncall"]  # the page is down this time: report it, keep what we had
    second = sync(spec, store, tmp_path)
    assert f"{site}/oncall" in second.failed and "404" in second.failed[f"{site}/oncall"]
    assert second.deleted == [] and second.unchanged == [f"{site}/deploys"]
    assert any("Mondays" in t for t in texts_for(store, "sre rota", ["sre"]))
