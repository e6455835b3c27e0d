"""Attacks on ingest paths (SECURITY.md "Ingest paths"): a document author who can put a
symlink in an indexed folder or commit one to an indexed repo must not get a file from
outside that source indexed under the source's ACL (a restricted document, or any file
the indexer can read, shown to everyone as "public")."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.pipeline import ingest_paths, sync_source
from ingest.sources import SourceSpec
from ingest.sparse import encode_query
from ingest.store import DocStore
from oncall.core.settings import IngestSettings, StoreSettings
from oncall.testing.fakes import HashEmbedder

EMB = HashEmbedder()
SECRET = "Merger with Initech closes on 3 March; codename BLUEBIRD."


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DocStore]:
    with DocStore(StoreSettings(), tmp_path / "data") as s:
        yield s


@pytest.fixture
def restricted(tmp_path: Path) -> Path:
    """A restricted document and a host file, both outside the public source."""
    (tmp_path / "restricted").mkdir()
    doc = tmp_path / "restricted" / "merger.md"
    doc.write_text(f"# Merger\n\n{SECRET}\n")
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "shadow.txt").write_text("root:$6$hash-of-the-root-password:19000\n")
    return doc


def public_texts(store: DocStore) -> str:
    query = "merger codename root password"
    hits = store.search(EMB.embed_query(query), encode_query(query), ["public"], 20, 50)
    return " ".join(h.text for h in hits)


def public_folder(tmp_path: Path, restricted: Path) -> Path:
    """A public folder whose author planted links: a file link to the restricted doc, a
    `..` link to a host file, a link to a folder outside, and a link that stays inside."""
    docs = tmp_path / "public"
    (docs / "team").mkdir(parents=True)
    (docs / "deploys.md").write_text("# Deploys\n\nDeploys happen at 10:00 UTC.\n")
    (docs / "team" / "plans.md").symlink_to(restricted)
    (docs / "team" / "notes.txt").symlink_to(Path("../../host/shadow.txt"))
    (docs / "outside").symlink_to(restricted.parent, target_is_directory=True)
    (docs / "latest.md").symlink_to(Path("deploys.md"))  # inside the source: fine
    return docs


def test_folder_source_symlinks_out_are_not_indexed(
    store: DocStore, tmp_path: Path, restricted: Path
) -> None:
    docs = public_folder(tmp_path, restricted)
    spec = SourceSpec(name="wiki", type="folder", path=docs, acl=["public"])
    report = sync_source(spec, store, EMB, IngestSettings(), tmp_path / "cache")
    assert sorted(Path(p).name for p in report.added) == ["deploys.md", "latest.md"]
    refused = {Path(p).name: why for p, why in report.failed.items()}
    assert set(refused) == {"plans.md", "notes.txt", "outside"}
    assert all("outside the source" in why for why in refused.values())
    assert SECRET not in public_texts(store) and "root:" not in public_texts(store)


def test_ad_hoc_ingest_of_a_folder_keeps_to_it(
    store: DocStore, tmp_path: Path, restricted: Path
) -> None:
    docs = public_folder(tmp_path, restricted)
    report = ingest_paths([docs], store, EMB, IngestSettings())
    assert sorted(Path(p).name for p in report.added) == ["deploys.md", "latest.md"]
    assert SECRET not in public_texts(store)


def test_git_source_committed_symlinks_out_are_not_indexed(
    store: DocStore, tmp_path: Path, restricted: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "README.md").write_text("# Repo\n\nDeploy with make ship.\n")
    (repo / "plans.md").symlink_to(restricted)
    (repo / "passwd.md").symlink_to(Path("../host/shadow.txt"))
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "README.md", "plans.md", "passwd.md"], check=True)
    subprocess.run([*git, "commit", "-qm", "init"], check=True)
    spec = SourceSpec(name="repo", type="git", path=repo, acl=["public"])
    report = sync_source(spec, store, EMB, IngestSettings(), tmp_path / "cache")
    assert [Path(p).name for p in report.added] == ["README.md"]
    assert sorted(Path(p).name for p in report.failed) == ["passwd.md", "plans.md"]
    assert SECRET not in public_texts(store) and "root:" not in public_texts(store)


def test_a_link_swapped_in_after_indexing_is_pruned_on_the_next_sync(
    store: DocStore, tmp_path: Path, restricted: Path
) -> None:
    """A file indexed honestly, then replaced by a symlink out: the next sync drops it."""
    docs = tmp_path / "public"
    docs.mkdir()
    (docs / "plans.md").write_text("# Plans\n\nNothing planned yet.\n")
    spec = SourceSpec(name="wiki", type="folder", path=docs, acl=["public"])
    first = sync_source(spec, store, EMB, IngestSettings(), tmp_path / "cache")
    assert [Path(p).name for p in first.added] == ["plans.md"]
    (docs / "plans.md").unlink()
    (docs / "plans.md").symlink_to(restricted)
    second = sync_source(spec, store, EMB, IngestSettings(), tmp_path / "cache")
    assert [Path(p).name for p in second.deleted] == ["plans.md"]
    assert SECRET not in public_texts(store)
