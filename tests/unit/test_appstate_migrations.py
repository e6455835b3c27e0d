"""App-state migrations on SQLite: files from before migrations are adopted with their
rows, every migration is applied once, a failing one leaves nothing behind and names its
file, and badly named files are refused."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from agent.records import TurnRecorder
from bots.slack.store import SlackStore
from bots.web.conversations import ConversationStore
from oncall.appstate import SqliteDatabase, apply_migrations, schema_versions
from oncall.appstate.db import split_sqlite_script, to_pyformat
from oncall.appstate.migrate import migrations
from oncall.core.errors import OncallError

LEGACY_SLACK = """
CREATE TABLE seen (key TEXT PRIMARY KEY, at REAL NOT NULL);
CREATE TABLE refs (ref TEXT PRIMARY KEY, at REAL NOT NULL, data TEXT NOT NULL);
CREATE TABLE threads (thread_id TEXT PRIMARY KEY, at REAL NOT NULL);
INSERT INTO refs VALUES ('r1', 9e9, '{"channel": "C1"}');
INSERT INTO threads VALUES ('slack:C1:1.0', 9e9);
INSERT INTO seen VALUES ('event:E1', 9e12);
"""
LEGACY_WEB = """
CREATE TABLE threads (id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL,
    created_at REAL NOT NULL, updated_at REAL NOT NULL);
CREATE TABLE turns (seq INTEGER PRIMARY KEY AUTOINCREMENT, thread_id TEXT NOT NULL,
    turn_id TEXT, created_at REAL NOT NULL, payload TEXT NOT NULL);
CREATE TABLE transcript_keys (key TEXT PRIMARY KEY, thread_id TEXT NOT NULL);
INSERT INTO threads VALUES ('th1', 'alice', 'old question', 1.0, 2.0);
INSERT INTO turns (thread_id, turn_id, created_at, payload) VALUES ('th1', 't1', 2.0, '{"a": 1}');
"""


def legacy(path: Path, script: str) -> Path:
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
    conn.close()
    return path


def test_a_slack_file_from_before_migrations_keeps_its_rows(tmp_path: Path) -> None:
    store = SlackStore(legacy(tmp_path / "slack.sqlite", LEGACY_SLACK))
    assert store.ref("r1") == {"channel": "C1"}
    assert store.has_thread("slack:C1:1.0")
    assert not store.claim("event:E1"), "an old claim still counts"
    assert schema_versions(store.db) == {"slack": 2}
    store.close()
    reopened = SlackStore(tmp_path / "slack.sqlite")  # nothing left to apply
    assert reopened.ref("r1") == {"channel": "C1"}
    reopened.close()


def test_a_web_file_from_before_migrations_keeps_its_rows(tmp_path: Path) -> None:
    store = ConversationStore(legacy(tmp_path / "web.sqlite", LEGACY_WEB))
    assert store.threads("alice")[0]["title"] == "old question"
    assert store.history("th1") == [{"a": 1}]
    store.add_turn("th1", {"turn_id": "t2"})
    assert [t.get("turn_id") for t in store.history("th1")] == [None, "t2"]
    store.close()


def test_a_turns_file_from_before_migrations_is_adopted(tmp_path: Path) -> None:
    path = tmp_path / "turns.sqlite"
    schema = migrations("turns", "sqlite")[0].path.read_text()
    legacy(path, schema.replace("IF NOT EXISTS ", ""))
    recorder = TurnRecorder(path)
    assert recorder.turns() == [] and schema_versions(recorder.log.db) == {"turns": 1}
    recorder.close()


def test_a_failing_migration_rolls_back_whole_and_names_its_file(tmp_path: Path) -> None:
    root = tmp_path / "migrations"
    (root / "demo").mkdir(parents=True)
    (root / "demo" / "0001_init.sql").write_text("CREATE TABLE a (x INTEGER);\n")
    (root / "demo" / "0002_more.sql").write_text(
        "CREATE TABLE b (y INTEGER);\nINSERT INTO missing VALUES (1);\n"
    )
    db = SqliteDatabase(tmp_path / "demo.sqlite")
    with pytest.raises(OncallError, match=r"0002_more\.sql"):
        apply_migrations(db, ["demo"], root)
    tables = {r[0] for r in db.all("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "b" not in tables and "a" not in tables, "the whole run rolled back"
    (root / "demo" / "0002_more.sql").write_text("CREATE TABLE b (y INTEGER);\n")
    assert [m.version for m in apply_migrations(db, ["demo"], root)] == [1, 2]
    assert apply_migrations(db, ["demo"], root) == [], "applied once"
    db.close()


def test_migration_files_are_named_and_numbered_once(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "d" / "0001_b.sqlite.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="twice"):
        migrations("d", "sqlite", tmp_path)
    assert [m.name for m in migrations("d", "postgres", tmp_path)] == ["a"]
    (tmp_path / "d" / "1_bad.sql").write_text("SELECT 1;")
    with pytest.raises(ValueError, match="NNNN_name"):
        migrations("d", "postgres", tmp_path)


def test_every_domain_has_a_postgres_schema_and_the_files_parse() -> None:
    for domain in ("slack", "web", "turns", "audit", "limits", "leases"):
        for m in migrations(domain, "postgres"):
            assert m.path.read_text().strip()
    for domain in ("slack", "web", "turns"):
        for m in migrations(domain, "sqlite"):
            assert split_sqlite_script(m.path.read_text())


def test_scripts_split_where_sqlite_says_and_placeholders_convert() -> None:
    script = "-- note; not a statement\nCREATE TABLE t (x TEXT DEFAULT 'a;b');\nSELECT 1"
    assert split_sqlite_script(script) == [
        "-- note; not a statement\nCREATE TABLE t (x TEXT DEFAULT 'a;b');",
        "SELECT 1",
    ]
    with pytest.raises(ValueError, match="incomplete"):
        split_sqlite_script("CREATE TABLE t (x TEXT DEFAULT 'a")
    assert to_pyformat("SELECT ? WHERE x LIKE '5%'") == "SELECT %s WHERE x LIKE '5%%'"


def test_refs_update_merges_and_turn_feedback_is_json(tmp_path: Path) -> None:
    store = SlackStore(tmp_path / "slack.sqlite")
    ref = store.put_ref({"a": 1})
    store.update_ref(ref, b=2)
    assert store.ref(ref) == {"a": 1, "b": 2}
    store.close()
    rows = sqlite3.connect(tmp_path / "slack.sqlite").execute("SELECT data FROM slack_refs")
    assert json.loads(rows.fetchone()[0]) == {"a": 1, "b": 2}
