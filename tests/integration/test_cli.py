"""The `oncall` console script as a user runs it: exit codes and messages, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from ingest.pipeline import IngestReport

ONCALL = str(Path(sys.executable).with_name("oncall"))


def run(*args: str, data_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "ONCALL_DATA_DIR": str(data_dir), "COLUMNS": "200", **env}
    return subprocess.run(
        [ONCALL, *args], capture_output=True, text=True, env=full_env, timeout=300
    )


def test_ask_with_llm_down_names_the_url_and_how_to_start_it(
    handbook_index: tuple[Path, IngestReport],
) -> None:
    result = run(
        "ask",
        "How do I roll back payments-api?",
        data_dir=handbook_index[0],
        ONCALL_LLM__BASE_URL="http://127.0.0.1:9/v1",
        ONCALL_LLM__MAX_RETRIES="0",
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert "http://127.0.0.1:9/v1" in result.stderr
    assert "oncall llm serve" in result.stderr


def test_ask_before_any_ingest_says_to_ingest(tmp_path: Path) -> None:
    result = run(
        "ask", "anything?", data_dir=tmp_path, ONCALL_LLM__BASE_URL="http://127.0.0.1:9/v1"
    )
    assert result.returncode == 2
    assert "oncall ingest" in result.stderr
    assert "Traceback" not in result.stderr


def test_ingest_cli_reports_counts_and_failures(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Deploys\n\nDeploys happen at 10:00 UTC.\n")
    (docs / "bad.pdf").write_bytes(b"not a pdf")
    first = run("ingest", str(docs), data_dir=tmp_path / "data")
    assert first.returncode == 1, first.stderr
    assert "1 added" in first.stdout and "1 failed" in first.stdout
    assert "bad.pdf" in first.stdout
    (docs / "bad.pdf").unlink()
    second = run("ingest", str(docs), data_dir=tmp_path / "data")
    assert second.returncode == 0, second.stderr
    assert "0 added, 0 updated, 1 unchanged" in second.stdout


def test_ingest_missing_path_is_a_clear_error(tmp_path: Path) -> None:
    result = run("ingest", str(tmp_path / "missing"), data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert "missing: no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_sync_registry_then_search_respects_groups(tmp_path: Path) -> None:
    docs = tmp_path / "sre-docs"
    docs.mkdir()
    (docs / "pager.md").write_text("# Pager\n\nThe pager escalation key is kept in vault zeta.\n")
    registry = tmp_path / "sources.yaml"
    registry.write_text(
        "sources:\n  - {name: sre, type: folder, path: sre-docs, acl: [sre], schedule: 1h}\n"
    )
    data = tmp_path / "data"
    synced = run("sync", "--sources", str(registry), data_dir=data)
    assert synced.returncode == 0, synced.stderr
    assert "sre" in synced.stdout and "1 added" in synced.stdout
    again = run("sync", "--sources", str(registry), "--due", data_dir=data)
    assert again.returncode == 0 and "added" not in again.stdout  # not due for an hour

    public = run("search", "pager escalation key", data_dir=data)
    sre = run("search", "pager escalation key", "--groups", "sre", data_dir=data)
    assert public.returncode == sre.returncode == 0, public.stderr + sre.stderr
    assert "vault zeta" not in public.stdout
    assert "vault zeta" in sre.stdout

    bad = tmp_path / "bad.yaml"
    bad.write_text("sources:\n  - {name: x, type: folder}\n")
    broken = run("sync", "--sources", str(bad), data_dir=data)
    assert broken.returncode == 2 and "needs a path" in broken.stderr
    assert "Traceback" not in broken.stderr


def test_empty_and_overlong_questions_fail_before_any_model_starts(tmp_path: Path) -> None:
    data = tmp_path / "data"
    for question, expected in (("", "the question is empty"), ("x" * 5000, "the limit is")):
        started = time.monotonic()
        result = run("ask", question, data_dir=data, COLUMNS="40")
        elapsed = time.monotonic() - started
        assert result.returncode == 2, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and expected in lines[0], result.stderr
        # No model assembled, no server started: checked before anything expensive.
        assert not (data / "models").exists() and not (data / "logs").exists()
        assert elapsed < 10, f"{elapsed:.1f} s"  # ~1 s idle; headroom for a busy CI box


def test_empty_search_fails_at_once(tmp_path: Path) -> None:
    result = run("search", "   ", data_dir=tmp_path / "data")
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: the query is empty: say what to look for, e.g. oncall search 'deploy'"
    ]


def test_ingest_of_a_missing_long_path_is_one_line_at_40_columns(tmp_path: Path) -> None:
    deep = tmp_path / ("a-rather-long-folder-name-" * 4) / ("and-another-one-" * 4)
    deep.mkdir(parents=True)
    missing = deep / "nonexistent"
    started = time.monotonic()
    result = run("ingest", str(missing), data_dir=tmp_path / "data", COLUMNS="40")
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"error: {missing}: no such file or folder"]
    assert "files" not in result.stdout + result.stderr  # no progress bar was drawn
    assert not (tmp_path / "data").exists()  # nothing opened, nothing created
    assert elapsed < 10, f"{elapsed:.1f} s"
