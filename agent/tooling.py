"""The tools the DEEP loop offers the model, and how a tool call is executed.

`TOOLS` is the explicit list: each entry pairs the model-facing schema (from a typed
signature whose docstring is the description) with the function that runs it against the
runtime dependencies. Arguments are validated before anything runs; a bad call comes back
to the model as a `ToolError` message it can correct.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, ValidationError

from agent.errors import ToolError
from agent.state import Deps
from tools.search_docs import DocHit, search_docs


@dataclass(frozen=True)
class ToolOutput:
    text: str  # what the model reads (for search tools: only when there are no hits)
    hits: list[DocHit]  # citable evidence gathered by the call


class SearchDocsArgs(BaseModel):
    """Search the internal engineering docs (runbooks, service READMEs, on-call playbooks,
    postmortems, FAQs) and return the most relevant passages with where they come from.
    Call it once per distinct sub-question; several calls may run in parallel."""

    query: str = Field(description="What to look for, in a few specific words.", min_length=2)


def _run_search_docs(deps: Deps, args: SearchDocsArgs) -> ToolOutput:
    hits = search_docs(
        args.query, deps.store, deps.embedder, deps.retrieval.top_k, deps.retrieval.prefetch_k
    )
    # The agent formats hits itself (each chunk once per question, within its budget);
    # `text` is what the model reads when nothing was found.
    return ToolOutput(f"No passages found for {args.query!r}.", hits)


@dataclass(frozen=True)
class Tool:
    name: str
    args_model: type[BaseModel]
    run: Callable[[Deps, Any], ToolOutput]

    @property
    def schema(self) -> dict[str, Any]:
        spec = convert_to_openai_tool(self.args_model)
        spec["function"]["name"] = self.name
        return spec


TOOLS: list[Tool] = [Tool("search_docs", SearchDocsArgs, _run_search_docs)]
TOOLS_BY_NAME = {t.name: t for t in TOOLS}


def execute_tool_call(deps: Deps, name: str, args: dict[str, Any]) -> ToolOutput:
    """Validate and run one call; unknown tools and bad arguments raise `ToolError`."""
    tool = TOOLS_BY_NAME.get(name)
    if tool is None:
        raise ToolError(f"unknown tool {name!r}; available: {', '.join(TOOLS_BY_NAME)}")
    try:
        parsed = tool.args_model.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ToolError(f"invalid arguments for {name}: {problems}") from exc
    return tool.run(deps, parsed)
