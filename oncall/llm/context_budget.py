"""How much retrieved text a DEEP question may use, from the server's context length.

`agent.context_chars` (6000) is the floor (it fits a 4096-token context). A vLLM
server for Qwen3-8B holds 32k tokens (128k with YaRN), so at start-up the agent asks the
server what it serves and raises the budget to fit, bounded by `agent.max_context_chars`
because prefill time grows with every token packed. The budget never drops below the
configured value: an operator's explicit choice wins over a server that reports less.

Both servers say it on `GET /v1/models`: vLLM as `data[i].max_model_len`, llama-server as
`data[i].meta.n_ctx` (its /props has the same number under default_generation_settings).
"""

from __future__ import annotations

from typing import Any

import httpx

from oncall.core.settings import AgentSettings, LLMSettings, Settings

# Conservative: English prose is ~4 chars per Qwen token, commands, ids and non-English
# text are denser. Under-filling costs some recall; over-filling fails the request.
CHARS_PER_TOKEN = 2.5
# System prompt and tool schemas (about 300 tokens with the Qwen template), conversation
# history (3 turns), the question and DEEP's own tool-call messages, in tokens.
PROMPT_OVERHEAD_TOKENS = 1536
# Typical chunk (ingest.chunk_soft_chars 1000 .. chunk_max_chars 1500) plus its location.
CHUNK_CHARS = 1200


def parse_context_tokens(payload: Any, model: str | None = None) -> int | None:
    """The served context length in a `/v1/models` answer, or None when it says nothing.

    The entry named `model` is preferred; otherwise the first that reports a length.
    """
    entries = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(entries, list):
        return None
    lengths: list[tuple[bool, int]] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        meta = entry.get("meta")
        value = entry.get("max_model_len") or (
            meta.get("n_ctx") if isinstance(meta, dict) else None
        )
        if isinstance(value, int) and value > 0:
            lengths.append((entry.get("id") == model, value))
    if not lengths:
        return None
    named = [v for is_named, v in lengths if is_named]
    return named[0] if named else lengths[0][1]


def server_context_tokens(
    base_url: str, model: str | None = None, api_key: str | None = None, timeout: float = 3.0
) -> int | None:
    """Ask the server at `base_url` (…/v1) for its context length; None if it cannot say
    (down, an API without the field): the caller keeps its configured budget."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        response = httpx.get(f"{base_url.rstrip('/')}/models", headers=headers, timeout=timeout)
        response.raise_for_status()
        return parse_context_tokens(response.json(), model)
    except (httpx.HTTPError, ValueError):
        return None


def context_budget_chars(n_ctx: int, llm: LLMSettings, agent: AgentSettings) -> int:
    """Characters of retrieved text a DEEP prompt may hold in an `n_ctx`-token context:
    what is left after the generation cap and the fixed prompt parts, at a conservative
    characters-per-token rate; within [agent.context_chars, agent.max_context_chars]."""
    usable_tokens = n_ctx - llm.max_tokens - PROMPT_OVERHEAD_TOKENS
    derived = int(max(0, usable_tokens) * CHARS_PER_TOKEN)
    upper = max(agent.context_chars, agent.max_context_chars)
    return min(upper, max(agent.context_chars, derived))


def deep_search_k(context_chars: int, top_k: int, prefetch_k: int) -> int:
    """Hits one DEEP search may return: `top_k` on a small budget; with a long context,
    enough to fill about half of it (a seeded step runs several searches), never more than
    the fused candidates (`prefetch_k`) or 50."""
    wanted = context_chars // (2 * CHUNK_CHARS)
    return max(top_k, min(wanted, prefetch_k, 50))


def fit_agent_settings(settings: Settings, base_url: str) -> AgentSettings:
    """`settings.agent` with the DEEP budget sized to the server at `base_url`."""
    agent = settings.agent
    if not agent.context_from_server:
        return agent
    key = settings.llm.api_key.get_secret_value()
    n_ctx = server_context_tokens(base_url, settings.llm.model, key)
    if n_ctx is None:
        return agent
    budget = context_budget_chars(n_ctx, settings.llm, agent)
    return agent.model_copy(update={"context_chars": budget})
