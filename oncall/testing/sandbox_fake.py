"""A sandbox double for front-end tests of the computation path: the executor's contract
(`put_file`, `run`) with what it was handed kept for assertions, and a fixed printed line.
The real kernel and its isolation are tested in tests/integration/test_sandbox*.py."""

from __future__ import annotations

from typing import Any


class RecordingSandbox:
    """Keeps the files put into it and the programs it ran; every run prints `printed`."""

    def __init__(self, printed: str, figures: list[Any] | None = None):
        self.printed = printed
        self.figures = list(figures or [])
        self.files: dict[str, bytes] = {}
        self.ran: list[str] = []

    def put_file(self, conversation: str, name: str, data: bytes) -> str:
        self.files[name] = data
        return name

    def run(self, conversation: str, code: str) -> Any:
        from tools.sandbox.result import ExecutionResult

        self.ran.append(code)
        return ExecutionResult("ok", stdout=self.printed + "\n", files=self.figures)
