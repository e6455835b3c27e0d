"""Build the runtime dependencies once per entry point, from settings."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from typing import Any

from agent.memory import open_checkpointer
from agent.records import TurnRecorder
from agent.router import Router, load_router_artefact
from agent.service import Agent
from agent.state import Deps
from ingest.embed import Embedder, load_embedder, similarity_gate
from ingest.store import DocStore
from oncall.appstate import AppState
from oncall.core.redact import install_log_redaction, secret_values
from oncall.core.settings import AgentSettings, RetrievalSettings, Settings
from oncall.llm.client import build_chat_model
from oncall.llm.context_budget import fit_agent_settings
from oncall.llm.embedded import embedded_server, read_running_server
from tools.papers import build_paper_reader


@contextlib.contextmanager
def llm_endpoint(
    settings: Settings, on_progress: Callable[[int, int], None] | None = None
) -> Iterator[str]:
    """The chat server's base URL: the configured one, a running embedded one, or one
    started for the duration of the block (and stopped after it)."""
    if settings.llm.base_url:
        yield settings.llm.base_url
        return
    running = read_running_server(settings.data_dir)
    if running:
        yield running
        return
    with embedded_server(settings.llm.embedded, settings.data_dir, on_progress) as server:
        yield server.base_url


def build_deps(
    settings: Settings,
    base_url: str,
    embedder: Embedder | None = None,
    state: AppState | None = None,
) -> Deps:
    """Real components: embedded or remote Qdrant, sentence-transformers, ChatOpenAI (one
    with thinking off for DIRECT, one with thinking on for DEEP), the trained router. The
    DEEP context budget is sized to the server's context length (oncall/llm/context_budget.py).
    Internal tools audit and rate-limit through `state` (the app state, shared by replicas
    on Postgres)."""
    embedder = embedder or load_embedder(settings.embedding)
    sandbox = build_sandbox(settings)  # refuses here if kernels cannot be isolated
    catalogue = load_internal_tools(settings, state)  # first: it may fail on a config error
    # Every configured secret is cut from tool output, answers and this process's logs.
    secrets = (*secret_values(settings), *(catalogue.audit.secrets if catalogue else ()))
    install_log_redaction(secrets)
    return Deps(
        store=DocStore(settings.store, settings.data_dir),
        embedder=embedder,
        chat_model=build_chat_model(settings.llm, base_url, thinking=False),
        deep_model=build_chat_model(settings.llm, base_url, thinking=True),
        router=Router(embedder, load_router_artefact(embedder=embedder.name)),
        retrieval=retrieval_for(settings, embedder),
        agent=_resolve_tool_planning(fit_agent_settings(settings, base_url), settings),
        catalogue=catalogue,
        sandbox=sandbox,
        secrets=tuple(dict.fromkeys(secrets)),
        papers=build_paper_reader(settings, base_url),
    )


def retrieval_for(settings: Settings, embedder: Embedder) -> RetrievalSettings:
    """Retrieval settings with the embedder's calibrated similarity gate, unless
    `retrieval.min_similarity` was set explicitly (ingest/embed.py: SIMILARITY_GATES)."""
    r = settings.retrieval
    if "min_similarity" in r.model_fields_set:
        return r
    return r.model_copy(update={"min_similarity": similarity_gate(embedder.name, r.min_similarity)})


def _resolve_tool_planning(agent: AgentSettings, settings: Settings) -> AgentSettings:
    """Unset `plan_internal_tools` means: plan for the embedded model only."""
    if agent.plan_internal_tools is not None:
        return agent
    return agent.model_copy(update={"plan_internal_tools": settings.llm.base_url is None})


def build_sandbox(settings: Settings) -> Any:
    """The run_python executor (tools.sandbox), or None when `sandbox.enabled` is off.
    Checks the isolation now (about 0.1 s) but starts kernels only when first used."""
    if not settings.sandbox.enabled:
        return None
    from tools.sandbox import build_executor

    return build_executor(settings.sandbox, settings.data_dir)


def load_internal_tools(settings: Settings, state: AppState | None = None) -> Any:
    """The internal-tool catalogue (tools.internal) if `tools.catalogue_path` is set. It
    reads the secrets its sources name (`auth.secret_env`) from the environment here, at
    the entry point, and starts the MCP servers it lists."""
    if settings.tools.catalogue_path is None:
        return None
    from tools.internal import load_catalogue

    return load_catalogue(settings.tools.catalogue_path, os.environ, settings.data_dir, state)


@contextlib.contextmanager
def app_state(settings: Settings) -> Iterator[AppState]:
    """The process's app state (SQLite files, or the replicas' Postgres at `appstate.url`,
    migrated before anything listens), closed after the block."""
    with AppState(settings.appstate, settings.data_dir) as state:
        yield state


@contextlib.contextmanager
def running_agent(
    settings: Settings, base_url: str, state: AppState | None = None
) -> Iterator[Agent]:
    """An `Agent` with memory (checkpointer) and turn records, closed after the block.
    Front ends that keep state of their own pass the `state` they use too (one pool)."""
    with contextlib.ExitStack() as stack:
        if state is None:
            state = stack.enter_context(app_state(settings))
        deps = build_deps(settings, base_url, state=state)
        stack.callback(close_deps, deps)
        yield stack.enter_context(agent_over(deps, settings, state))


@contextlib.contextmanager
def agent_over(deps: Deps, settings: Settings, state: AppState) -> Iterator[Agent]:
    """An `Agent` over ready `deps` with the memory and turn records `settings` and `state`
    call for: the checkpointer is `agent.checkpoint_url`, else the app state's Postgres
    (pending approvals then survive the replica that asked), else SQLite."""
    url = settings.agent.checkpoint_url or state.checkpoint_url
    setting = "agent.checkpoint_url" if settings.agent.checkpoint_url else "appstate.url"
    recorder = TurnRecorder(state.turns())
    durable = settings.appstate.durable_commits
    with open_checkpointer(
        settings.data_dir, url, settings.appstate.pool_size, setting, durable
    ) as saver:
        yield Agent(
            deps,
            checkpointer=saver,
            recorder=recorder,
            approval_timeout_s=settings.tools.approval_timeout_s,
        )


def close_deps(deps: Deps) -> None:
    """Close what `build_deps` opened (index, tool connections, kernels, paper cache)."""
    deps.store.close()
    if deps.catalogue is not None:
        deps.catalogue.close()
    if deps.sandbox is not None:
        deps.sandbox.close()
    if deps.papers is not None:
        deps.papers.close()
