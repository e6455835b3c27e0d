"""What the graph needs from the components it is given, as protocols.

`Deps` (agent/state.py) is typed with these, so the real parts (built by the composition
root, oncall.cli.compose) and the fakes in oncall.testing are checked against one shape.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from agent.router import RouteDecision
    from oncall.core.identity import Principal
    from tools.internal.catalogue import InternalTool
    from tools.papers.model import PaperReport
    from tools.sandbox.result import ExecutionResult

__all__ = ["CodeExecutor", "PaperReading", "RouteDecider", "ToolCatalogue"]


class RouteDecider(Protocol):
    """Auto-think: DIRECT or DEEP for a question (agent.router.Router)."""

    def decide(self, question: str, override: Any = None) -> RouteDecision: ...


class ToolCatalogue(Protocol):
    """Internal tools with their permissions and audit log (tools.internal.Catalogue)."""

    @property
    def tools(self) -> Mapping[str, InternalTool]: ...

    def permitted(self, principal: Principal) -> list[InternalTool]: ...

    def call(
        self,
        name: str,
        args: Mapping[str, Any],
        principal: Principal,
        approver: str | None = None,
    ) -> str: ...

    def record_decision(
        self, name: str, args: dict[str, Any], principal: Principal, status: Any, approver: str
    ) -> None: ...

    def close(self) -> None: ...


class CodeExecutor(Protocol):
    """run_python's sandbox: one kernel per conversation (tools.sandbox.KernelPool)."""

    def run(self, conversation: str, code: str) -> ExecutionResult: ...

    def reset(self, conversation: str) -> None: ...

    def close(self) -> None: ...


class PaperReading(Protocol):
    """summarize_paper's reader (tools.papers.PaperReader)."""

    def read(
        self,
        refs: Sequence[str],
        model: Any,
        question: str = "",
        groups: Sequence[str] = ("public",),
        allow_local: bool = False,
    ) -> PaperReport: ...

    def close(self) -> None: ...
