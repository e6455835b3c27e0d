"""Parsed papers and notes on disk, keyed by the PDF's content hash.

The same PDF reached by an arXiv id, a URL or a file path is parsed once; its notes are made
once per model and context budget (the key says which), so a second question about a paper
costs one LLM call, not a re-read. Entries are JSON written atomically (temp file + rename);
one that cannot be read back (an older format, a torn write) is treated as missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def cache_key(*parts: object) -> str:
    """A short stable key from anything that changes the cached result."""
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:24]


class PaperCache:
    """`<dir>/parsed/<hash>-<parser>.json`, `<dir>/notes/<hash>-<key>.json`,
    `<dir>/answers/<key>.json`."""

    def __init__(self, root: Path):
        self.root = root

    def get(self, kind: str, name: str, model: type[M]) -> M | None:
        path = self.root / kind / f"{name}.json"
        try:
            return model.model_validate_json(path.read_bytes())
        except (OSError, ValidationError, ValueError):
            return None

    def put(self, kind: str, name: str, value: BaseModel) -> None:
        folder = self.root / kind
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(value.model_dump_json().encode())
            os.replace(tmp, folder / f"{name}.json")
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
