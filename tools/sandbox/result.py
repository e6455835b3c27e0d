"""What one execution produced, and how it is trimmed for the model.

Pure functions only: the Jupyter side (`kernel.py`) feeds IOPub messages into an
`OutputCollector`, which enforces the output cap while collecting, and
`ExecutionResult.for_model()` renders a bounded text the model can read. Tracebacks are cut to
the frames of the user's own cell: IPython's colouring and its internal frames only cost
tokens.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tools.sandbox.figures import FigureStore

Status = Literal["ok", "error", "timeout", "died"]

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
TRACEBACK_LINES = 12  # the tail of a traceback is where the cause is
MODEL_CHARS = 4000  # what one run_python result may cost the model's context


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text)


def trim_traceback(lines: list[str], keep: int = TRACEBACK_LINES) -> str:
    """The traceback without colour codes, dashes and IPython's own frames, cut to the last
    `keep` lines (the raising line and the error are always at the end)."""
    text = strip_ansi("\n".join(lines))
    kept = [
        line
        for line in text.splitlines()
        if line.strip() and not set(line.strip()) <= {"-"} and "site-packages/IPython" not in line
    ]
    if len(kept) > keep:
        kept = ["...", *kept[-keep:]]
    return "\n".join(kept)


def head_tail(text: str, limit: int) -> str:
    """`text` if it fits, else its start and end with the number of characters cut."""
    if len(text) <= limit:
        return text
    half = max(1, (limit - 40) // 2)
    cut = len(text) - 2 * half
    return f"{text[:half]}\n... [{cut} characters cut] ...\n{text[-half:]}"


@dataclass
class ExecutionResult:
    """Everything one `run` returned. `files` are PNGs on the host that bots can show."""

    status: Status
    stdout: str = ""
    stderr: str = ""
    result: str | None = None  # text/plain of the last expression's value
    error: str | None = None  # trimmed traceback, or why the run was stopped
    files: list[Path] = field(default_factory=list)
    truncated: bool = False  # the output cap was hit; the run was interrupted
    duration_ms: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def for_model(self, limit: int = MODEL_CHARS) -> str:
        """A bounded text for the model: streams, value, error, figures, notes."""
        parts: list[str] = []
        if self.stdout:
            parts.append(f"stdout:\n{self.stdout.rstrip()}")
        if self.stderr:
            parts.append(f"stderr:\n{self.stderr.rstrip()}")
        if self.result is not None:
            parts.append(f"result:\n{self.result}")
        if self.error:
            parts.append(f"error:\n{self.error}")
        if self.files:
            names = ", ".join(p.name for p in self.files)
            parts.append(f"figures saved and shown to the user: {names}")
        if self.truncated:
            parts.append("note: output exceeded the sandbox cap; the run was interrupted.")
        if not parts:
            parts.append("(no output; the code ran without printing anything)")
        return head_tail("\n\n".join(parts), limit)


class OutputCollector:
    """Accumulates IOPub messages of one execution, within `max_bytes` of text and
    `max_images` figures (kept in `figures`, within the conversation's quota).
    `overflowed` tells the caller to interrupt the kernel."""

    def __init__(self, max_bytes: int, max_images: int, figures: FigureStore):
        self.max_bytes = max_bytes
        self.max_images = max_images
        self.figures = figures
        self.figure_notes: list[str] = []
        self.streams: dict[str, list[str]] = {"stdout": [], "stderr": []}
        self.used = 0
        self.result: str | None = None
        self.error: str | None = None
        self.files: list[Path] = []
        self.overflowed = False
        self.images_dropped = 0

    def add(self, msg_type: str, content: dict[str, Any]) -> None:
        if msg_type == "stream":
            name = "stderr" if content.get("name") == "stderr" else "stdout"
            self.streams[name].append(self._take(str(content.get("text", ""))))
        elif msg_type in ("execute_result", "display_data"):
            data = content.get("data") or {}
            png = data.get("image/png")
            if png:
                self._save_png(png)
            elif msg_type == "execute_result":
                self.result = self._take(str(data.get("text/plain", "")))
            elif "text/plain" in data:
                self.streams["stdout"].append(self._take(str(data["text/plain"]) + "\n"))
        elif msg_type == "error":
            tb = content.get("traceback") or [f"{content.get('ename')}: {content.get('evalue')}"]
            self.error = self._take(trim_traceback([str(line) for line in tb]))

    def _take(self, text: str) -> str:
        """As much of `text` as the byte budget still allows."""
        room = self.max_bytes - self.used
        data = text.encode("utf-8", "replace")
        if len(data) > room:
            self.overflowed = True
            data = data[: max(room, 0)]
        self.used += len(data)
        return data.decode("utf-8", "ignore")

    def _save_png(self, encoded: Any) -> None:
        try:
            raw = base64.b64decode(str(encoded), validate=False)
        except (binascii.Error, ValueError):
            return
        if not raw.startswith(b"\x89PNG"):
            return
        if len(self.files) >= self.max_images:
            self.images_dropped += 1
            return
        saved = self.figures.save(raw)
        if isinstance(saved, Path):
            self.files.append(saved)
        elif saved not in self.figure_notes:
            self.figure_notes.append(saved)

    def finish(self, status: Status, note: str | None = None, ms: float = 0.0) -> ExecutionResult:
        error = self.error
        if note:
            error = f"{error}\n{note}" if error else note
        notes = list(self.figure_notes)
        if self.images_dropped:
            notes.append(f"{self.images_dropped} more figure(s) dropped (limit {self.max_images}).")
        for more in notes:
            error = f"{error}\n{more}" if error else more
        return ExecutionResult(
            status=status if status != "ok" or self.error is None else "error",
            stdout="".join(self.streams["stdout"]),
            stderr="".join(self.streams["stderr"]),
            result=self.result,
            error=error,
            files=list(self.files),
            truncated=self.overflowed,
            duration_ms=ms,
        )
