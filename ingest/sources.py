"""The source registry: which document sources to index, who may read them, how often.

A registry is a YAML or TOML file (see `examples/sources.yaml`):

    sources:
      - name: handbook            # unique; files remember which source they came from
        type: folder              # folder | git | sitemap
        path: handbook            # relative to the registry file
        acl: [public]             # ACL groups allowed to read every doc of this source
        schedule: 1h              # how often `oncall sync --due` re-syncs it (m, h, d)
        exclude: ["drafts/**"]    # optional globs, relative to the source root

`git` sources read the files tracked in a checkout (optionally `pull: true` first); an
optional `web_url` template (`https://git.example.com/org/repo/blob/main/{path}`) is where
the web chat links their citations;
`sitemap` sources fetch every page listed in a sitemap (or sitemap index) over HTTP.

Every indexed file stays inside its source: a symlink (file or folder) leading outside the
source's folder or checkout is not followed, and a sitemap's pages must be on the
sitemap's own host (or one listed in `allow_hosts`) and, unless `private_network: true`,
on public addresses (ingest/discover.py, oncall/core/netguard.py).
"""

from __future__ import annotations

import json
import re
import time
import tomllib
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from oncall.core.errors import ConfigError
from oncall.core.identity import PUBLIC_GROUP

_INTERVAL = re.compile(r"^\s*(\d+)\s*([mhd])\s*$")
_SECONDS = {"m": 60, "h": 3600, "d": 86400}


class SourceSpec(BaseModel):
    """One entry of the registry."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$", max_length=64)
    type: Literal["folder", "git", "sitemap"]
    path: Path | None = None
    url: str | None = None
    acl: list[str] = Field(default_factory=lambda: [PUBLIC_GROUP], min_length=1)
    schedule: str | None = Field(None, description="Re-sync interval like 15m, 1h, 1d.")
    exclude: list[str] = Field(default_factory=list)
    pull: bool = Field(False, description="git: `git pull --ff-only` before reading.")
    max_pages: int = Field(1000, ge=1, description="sitemap: most pages fetched per sync.")
    web_url: str | None = Field(
        None,
        description="git: URL of a file in the repository's web UI, `{path}` standing for "
        "the file's path in the checkout; citations link there instead of the server's "
        "document view.",
    )
    allow_hosts: list[str] = Field(
        default_factory=list,
        description="sitemap: hosts besides the sitemap's own that its pages and redirects "
        "may lead to (e.g. [cdn.docs.example.com]). Anything else is refused.",
    )
    private_network: bool = Field(
        False,
        description="sitemap: the site is on the internal network, so private addresses are "
        "allowed (still only on the sitemap's host and `allow_hosts`). Off: public "
        "addresses only.",
    )

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        if value is not None and not _INTERVAL.match(value):
            raise ValueError(f"schedule {value!r} must look like 15m, 1h or 1d")
        return value

    @field_validator("acl")
    @classmethod
    def _valid_groups(cls, groups: list[str]) -> list[str]:
        bad = [g for g in groups if not g.strip()]
        if bad:
            raise ValueError("ACL group names must not be empty")
        return sorted({g.strip() for g in groups})

    @field_validator("web_url")
    @classmethod
    def _valid_web_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        if not value.startswith(("https://", "http://")) or "{path}" not in value:
            raise ValueError(
                f"web_url {value!r} must be an http(s) URL containing {{path}}, e.g. "
                "https://git.example.com/org/repo/blob/main/{path}"
            )
        try:
            value.format(path="x")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(f"web_url {value!r}: only {{path}} may appear in braces") from exc
        return value

    @field_validator("allow_hosts")
    @classmethod
    def _bare_hosts(cls, hosts: list[str]) -> list[str]:
        bad = [h for h in hosts if not re.fullmatch(r"[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\]", h)]
        if bad:
            raise ValueError(f"allow_hosts takes host names without scheme or port: {bad}")
        return sorted({h.lower().strip("[]") for h in hosts})

    @model_validator(mode="after")
    def _location(self) -> SourceSpec:
        if self.type == "sitemap":
            if not self.url or not self.url.startswith(("http://", "https://")):
                raise ValueError(f"source {self.name!r}: a sitemap source needs an http(s) url")
        elif self.path is None:
            raise ValueError(f"source {self.name!r}: a {self.type} source needs a path")
        if self.web_url and self.type != "git":
            raise ValueError(f"source {self.name!r}: web_url is for git sources only")
        return self

    @property
    def interval_s(self) -> int | None:
        if self.schedule is None:
            return None
        m = _INTERVAL.match(self.schedule)
        assert m is not None  # validated above
        return int(m.group(1)) * _SECONDS[m.group(2)]


class Registry(BaseModel):
    sources: list[SourceSpec]

    @model_validator(mode="after")
    def _unique_names(self) -> Registry:
        names = [s.name for s in self.sources]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"source names must be unique; repeated: {', '.join(dupes)}")
        return self

    def select(self, names: list[str] | None) -> list[SourceSpec]:
        if not names:
            return list(self.sources)
        known = {s.name: s for s in self.sources}
        missing = [n for n in names if n not in known]
        if missing:
            raise ConfigError(
                "--only", f"unknown source(s) {', '.join(missing)}; known: {', '.join(known)}"
            )
        return [known[n] for n in names]


def load_registry(path: Path) -> Registry:
    """Read and validate a registry; relative paths are resolved against its folder."""
    if not path.is_file():
        raise ConfigError("--sources", f"{path}: no such registry file")
    text = path.read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError("--sources", f"{path} is not valid {path.suffix[1:]}: {exc}") from exc
    try:
        registry = Registry.model_validate(data or {})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError("--sources", f"{path}: {problems}") from exc
    for spec in registry.sources:
        if spec.path is not None:
            spec.path = (path.parent / spec.path.expanduser()).resolve()
    return registry


class SyncState:
    """When each source last synced successfully (`data_dir/sync_state.json`)."""

    def __init__(self, path: Path):
        self.path = path
        try:
            self._last: dict[str, float] = json.loads(path.read_text())
        except (FileNotFoundError, ValueError):
            self._last = {}

    def due(self, spec: SourceSpec, now: float | None = None) -> bool:
        interval = spec.interval_s
        last = self._last.get(spec.name)
        if last is None:
            return True
        return interval is not None and (now or time.time()) - last >= interval

    def mark(self, name: str, when: float | None = None) -> None:
        self._last[name] = when or time.time()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self._last, indent=1, sort_keys=True))
        tmp.replace(self.path)  # atomic: a crash never leaves a torn state file
