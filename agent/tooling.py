"""The tools the DEEP loop offers the model, and how a tool call is executed.

`TOOLS` is the explicit list: each entry pairs the model-facing schema (from a typed
signature whose docstring is the description) with the function that runs it against the
runtime dependencies. Arguments are validated before anything runs; a bad call comes back
to the model as a `ToolError` message it can correct.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, Field, ValidationError

from agent.state import Deps
from oncall.core.errors import OncallError, ToolError
from oncall.llm.context_budget import deep_search_k
from tools.search_docs import DocHit


@dataclass(frozen=True)
class ToolOutput:
    text: str  # what the model reads (for search tools: only when there are no hits)
    hits: list[DocHit]  # citable evidence gathered by the call
    files: tuple[Path, ...] = ()  # files for the user (run_python figures), bots show them


class SearchDocsArgs(BaseModel):
    """Search the internal engineering docs (runbooks, service READMEs, on-call playbooks,
    postmortems, FAQs) and return the most relevant passages with where they come from.
    Call it once per distinct sub-question; several calls may run in parallel."""

    query: str = Field(description="What to look for, in a few specific words.", min_length=2)


def _run_search_docs(deps: Deps, args: SearchDocsArgs) -> ToolOutput:
    # A long-context server's budget holds more than top_k chunks: fetch enough to fill it.
    r = deps.retrieval
    hits = deps.search(
        args.query, k=deep_search_k(deps.agent_settings.context_chars, r.top_k, r.prefetch_k)
    )
    # The agent formats hits itself (each chunk once per question, within its budget);
    # `text` is what the model reads when nothing was found.
    return ToolOutput(f"No passages found for {args.query!r}.", hits)


class RunPythonArgs(BaseModel):
    """Run Python 3.11 code in a sandboxed Jupyter kernel and get its stdout, stderr, the
    value of the last expression, the error (trimmed traceback) and any matplotlib figures
    (saved as PNG and shown to the user). Use it to compute and check: arithmetic on
    metrics, parsing a log excerpt or JSON pasted in the question, testing a regex, time
    zones and dates, small tables, a latency histogram. numpy, pandas and matplotlib are
    installed (plus the standard library); nothing else can be installed. There is no
    network and no access to company systems or files: put the data in the code. Variables
    and files in the working folder persist across calls in this conversation. Each call
    has a time limit (about 30 s) and memory, output and disk limits; a run that exceeds
    them is stopped and its variables are lost."""

    code: str = Field(
        description="Python source; the last line's value is returned, print() for more.",
        min_length=1,
        max_length=20_000,
    )
    reset: bool = Field(
        False, description="Start from a fresh kernel (forget all variables) before running."
    )


def _run_python(deps: Deps, args: RunPythonArgs) -> ToolOutput:
    if deps.sandbox is None:
        raise ToolError("run_python is not available here")
    conversation = deps.thread_id or "default"
    try:
        if args.reset:
            deps.sandbox.reset(conversation)
        result = deps.sandbox.run(conversation, args.code)
    except OncallError as exc:  # no kernel to be had: the model answers without it
        raise ToolError(f"the Python sandbox is unavailable: {exc.detail}") from exc
    return ToolOutput(result.for_model(), [], tuple(result.files))


class SummarizePaperArgs(BaseModel):
    """Read one or more research papers and return reading notes: the problem, the method,
    key results with their numbers, and limitations, each point cited with the paper's
    section and page; with a question, also an answer saying how the papers relate to it.
    Use it when the user names a paper: an arXiv id (2401.01234) or arXiv link, a link to a
    PDF, or the title of a paper in the team's paper library. Numbers that the paper does
    not contain are flagged. Long papers take a while (they are read section by section);
    results are cached, so asking again about the same paper is fast."""

    papers: list[str] = Field(
        description="arXiv ids, arXiv or PDF URLs, or library paper titles (1-5).",
        min_length=1,
        max_length=5,
    )
    question: str = Field(
        "",
        description="What the user wants to know about the paper(s), e.g. whether it applies "
        "to their system; empty for plain notes.",
        max_length=2000,
    )


def _run_summarize_paper(deps: Deps, args: SummarizePaperArgs) -> ToolOutput:
    from tools.papers import report_hits, unsupported_numbers

    if deps.papers is None:
        raise ToolError("summarize_paper is not available here")
    try:
        report = deps.papers.read(
            args.papers, deps.chat_model, args.question, groups=deps.principal.read_groups
        )
    except OncallError as exc:  # a wrong id, a dead link, a timed-out read: the model can
        raise ToolError(f"{exc.code}: {exc.detail}") from exc  # fix it or answer without
    flagged = unsupported_numbers(report)
    note = f" Numbers not found in the paper: {', '.join(flagged)}." if flagged else ""
    return ToolOutput(f"Notes on {len(report.notes)} paper(s).{note}", report_hits(report))


@dataclass(frozen=True)
class Tool:
    name: str
    args_model: type[BaseModel]
    run: Callable[[Deps, Any], ToolOutput]
    write: bool = False  # changes something: runs only after a human approves the call

    @property
    def schema(self) -> dict[str, Any]:
        spec = convert_to_openai_tool(self.args_model)
        spec["function"]["name"] = self.name
        return spec


TOOLS: list[Tool] = [
    Tool("search_docs", SearchDocsArgs, _run_search_docs),
    Tool("run_python", RunPythonArgs, _run_python),  # offered only with a sandbox in Deps
    Tool("summarize_paper", SummarizePaperArgs, _run_summarize_paper),  # with Deps.papers
]
TOOLS_BY_NAME = {t.name: t for t in TOOLS}


def tools_for(deps: Deps) -> list[Tool]:
    """What the model may call for this asker: the built-in tools plus the internal tools
    of the catalogue that the asker's groups allow (the others are never shown)."""
    offered = [t for t in TOOLS if t.name != "run_python" or deps.sandbox is not None]
    offered = [t for t in offered if t.name != "summarize_paper" or deps.papers is not None]
    if deps.catalogue is not None:
        offered += [_internal(t) for t in deps.catalogue.permitted(deps.principal)]
    if deps.allowed_tools is not None:  # a front end's narrower policy (Slack channel config)
        offered = [t for t in offered if t.name in deps.allowed_tools]
    return offered


def _internal(tool: Any) -> Tool:
    """A catalogue tool (tools.internal.InternalTool) as an agent `Tool`."""

    def run(deps: Deps, args: BaseModel) -> ToolOutput:
        payload = args.model_dump(mode="json", by_alias=True, exclude_unset=True)
        if deps.catalogue is None:
            raise ToolError(f"{tool.name} is not available here")
        return ToolOutput(deps.catalogue.call(tool.name, payload, deps.principal), [])

    return Tool(tool.name, tool.args_model, run, write=tool.write)


def execute_tool_call(
    deps: Deps, name: str, args: dict[str, Any], approved: bool = False
) -> ToolOutput:
    """Validate and run one call; unknown tools and bad arguments raise `ToolError`. A
    write tool runs only with `approved=True` (the graph's human approval step)."""
    available = {t.name: t for t in tools_for(deps)}
    tool = available.get(name)
    if tool is None:
        raise ToolError(f"unknown tool {name!r}; available: {', '.join(available)}")
    try:
        parsed = tool.args_model.model_validate(args)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ToolError(f"invalid arguments for {name}: {problems}") from exc
    if tool.write and not approved:
        raise ToolError(f"{name} changes something and needs a human's approval first")
    return tool.run(deps, parsed)
