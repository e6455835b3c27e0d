"""The source registry: validation with clear errors, schedules, sync state."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.sources import SyncState, load_registry
from oncall.core.errors import ConfigError

EXAMPLE = Path(__file__).parents[2] / "examples" / "sources.yaml"


def write(tmp_path: Path, text: str, name: str = "sources.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_example_loads_with_paths_resolved() -> None:
    (handbook,) = load_registry(EXAMPLE).sources
    assert handbook.path == (EXAMPLE.parent / "handbook").resolve()
    assert handbook.acl == ["public"] and handbook.interval_s == 3600


def test_yaml_and_toml_are_equivalent(tmp_path: Path) -> None:
    y = write(tmp_path, "sources:\n - {name: a, type: folder, path: d, acl: [sre, eng]}\n")
    t = write(
        tmp_path,
        '[[sources]]\nname = "a"\ntype = "folder"\npath = "d"\nacl = ["sre", "eng"]\n',
        "sources.toml",
    )
    assert load_registry(y) == load_registry(t)
    assert load_registry(y).sources[0].acl == ["eng", "sre"]  # normalised, sorted


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("sources:\n - {name: a, type: folder}\n", "needs a path"),
        ("sources:\n - {name: a, type: sitemap, url: 'ftp://x'}\n", "http(s) url"),
        ("sources:\n - {name: a, type: folder, path: d, schedule: weekly}\n", "15m, 1h or 1d"),
        ("sources:\n - {name: a, type: svn, path: d}\n", "type"),
        ("sources:\n - {name: 'a b', type: folder, path: d}\n", "name"),
        ("sources:\n - {name: a, type: folder, path: d, acl: []}\n", "acl"),
        (
            "sources:\n - {name: a, type: folder, path: d}\n - {name: a, type: git, path: e}\n",
            "repeated: a",
        ),
        ("sources: [\n", "not valid yaml"),
        ("sources:\n - {name: a, type: git, path: d, web_url: 'https://g/x'}\n", "{path}"),
        ("sources:\n - {name: a, type: git, path: d, web_url: 'file:///{path}'}\n", "http(s)"),
        ("sources:\n - {name: a, type: git, path: d, web_url: 'https://g/{path}/{x}'}\n", "braces"),
        ("sources:\n - {name: a, type: folder, path: d, web_url: 'https://g/{path}'}\n", "git"),
    ],
)
def test_bad_registries_name_the_problem(tmp_path: Path, text: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_registry(write(tmp_path, text))
    assert complaint in str(err.value)
    assert "sources.yaml" in str(err.value)


def test_missing_registry_and_unknown_source(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such registry"):
        load_registry(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="unknown source"):
        load_registry(EXAMPLE).select(["nope"])


def test_schedule_decides_what_is_due(tmp_path: Path) -> None:
    reg = load_registry(
        write(
            tmp_path,
            "sources:\n"
            " - {name: hourly, type: folder, path: d, schedule: 1h}\n"
            " - {name: manual, type: folder, path: d}\n",
        )
    )
    hourly, manual = reg.sources
    state = SyncState(tmp_path / "state.json")
    assert state.due(hourly) and state.due(manual)  # never synced: due
    state.mark("hourly", when=1000.0)
    state.mark("manual", when=1000.0)
    again = SyncState(tmp_path / "state.json")  # persisted
    assert not again.due(hourly, now=1000.0 + 3599)
    assert again.due(hourly, now=1000.0 + 3600)
    assert not again.due(manual, now=1e12)  # no schedule: only explicit syncs
