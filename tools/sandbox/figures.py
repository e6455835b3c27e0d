"""Figures a conversation's kernel displayed, kept on the host within a quota.

PNGs arrive as IOPub messages (the kernel never writes to the host) and are written under
`<data dir>/sandbox/<conversation hash>/` so bots can show them. Without a bound, a kernel
could fill the host's data disk one `display()` at a time, so each conversation has a
quota of files and bytes (counted from the folder itself, so it holds across calls and
kernels), and its folder is deleted with the conversation: reset, idle reaping, eviction
and shutdown (`KernelPool`).
"""

from __future__ import annotations

import re
import shutil
import time
import uuid
from pathlib import Path

CONVERSATION_DIR = re.compile(r"[0-9a-f]{16}")  # pool._safe_name's output


class FigureStore:
    """One conversation's figure folder and its quota."""

    def __init__(self, folder: Path, max_files: int, max_bytes: int, max_file_bytes: int):
        self.folder = folder
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.max_file_bytes = max_file_bytes

    def usage(self) -> tuple[int, int]:
        """(files, bytes) kept now."""
        if not self.folder.is_dir():
            return 0, 0
        sizes = [p.stat().st_size for p in self.folder.glob("figure-*.png")]
        return len(sizes), sum(sizes)

    def save(self, png: bytes) -> Path | str:
        """Write one PNG; the path, or why it was not kept (a sentence for the model)."""
        if len(png) > self.max_file_bytes:
            return (
                f"a figure of {len(png) // 1024} KB was dropped (limit "
                f"{self.max_file_bytes // 1024} KB per figure; lower the dpi or size)"
            )
        files, used = self.usage()
        if files + 1 > self.max_files or used + len(png) > self.max_bytes:
            return (
                f"a figure was dropped: this conversation's figure quota ({self.max_files} "
                f"figures, {self.max_bytes // (1024 * 1024)} MB) is used up; describe the "
                "result in text, or call run_python with reset=true to clear the quota (it "
                "also deletes the variables, files and earlier figures)"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"figure-{uuid.uuid4().hex[:12]}.png"
        path.write_bytes(png)
        return path

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def sweep_figures(files_dir: Path, idle_s: float) -> int:
    """Delete conversation figure folders under `files_dir` unchanged for `idle_s` (left
    by an agent that stopped without closing its pool; a live conversation's folder, even
    another process's, changes with each figure); returns how many."""
    if not files_dir.is_dir():
        return 0
    cutoff = time.time() - idle_s
    removed = 0
    for folder in files_dir.iterdir():
        if not (folder.is_dir() and CONVERSATION_DIR.fullmatch(folder.name)):
            continue
        if folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed
