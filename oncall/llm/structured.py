"""Schema-constrained replies and what a call cost.

`json_schema_bind` asks the server to constrain the reply to a JSON schema: llama.cpp's
server turns `response_format: {"type": "json_schema", ...}` into a grammar, vLLM into
structured outputs (guided decoding), so the reply always parses and every enum or number
range holds. Such replies are JSON, not prose, so they are tagged `nostream`: LangGraph's
"messages" stream then never shows their tokens to a user.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage

NOSTREAM = "nostream"  # langgraph.constants.TAG_NOSTREAM


def json_schema_bind(model: Any, name: str, schema: dict[str, Any]) -> Any:
    """`model` bound to reply with JSON matching `schema` (and not streamed to users)."""
    bound = model.bind(
        response_format={
            "type": "json_schema",
            "json_schema": {"name": name, "schema": schema, "strict": True},
        }
    )
    return bound.with_config(tags=[NOSTREAM])


def llm_usage(reply: AIMessage) -> dict[str, int]:
    """Prompt tokens evaluated and reused from the server's prompt cache, and generated
    tokens, as the server reported them (llama.cpp and vLLM report `cached_tokens`)."""
    meta: dict[str, Any] = dict(reply.usage_metadata or {})
    details: dict[str, Any] = dict(meta.get("input_token_details") or {})
    prompt = int(meta.get("input_tokens", 0))
    cached = int(details.get("cache_read") or 0)
    return {
        "prompt_tokens": prompt,
        "cached_tokens": cached,
        "evaluated_tokens": max(0, prompt - cached),
        "completion_tokens": int(meta.get("output_tokens", 0)),
    }
