"""The one place that knows how to talk to the chat model.

Every backend (embedded llama.cpp, vLLM, any OpenAI-compatible server) is reached through
`ChatOpenAI(base_url=...)`; backend-specific knobs such as the thinking toggle live here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai
from langchain_core.messages import AIMessage, BaseMessage
from langchain_openai import ChatOpenAI

from oncall.core.errors import OncallError
from oncall.core.settings import LLMSettings


def build_chat_model(settings: LLMSettings, base_url: str, thinking: bool = False) -> ChatOpenAI:
    """A chat model for `base_url`; `thinking` is sent only to models that have the toggle."""
    extra_body: dict[str, Any] | None = None
    if settings.supports_thinking:
        extra_body = {"chat_template_kwargs": {"enable_thinking": thinking}}
    return ChatOpenAI(
        base_url=base_url,
        api_key=settings.api_key,
        model=settings.model,
        temperature=settings.temperature,
        seed=settings.seed,
        max_completion_tokens=settings.max_tokens,
        timeout=settings.timeout_s,
        max_retries=settings.max_retries,
        extra_body=extra_body,
        # Token usage in streamed replies too (`stream_options.include_usage`): langchain
        # only turns it on by itself for api.openai.com; vLLM and llama-server support it.
        stream_usage=True,
    )


def invoke_chat(model: Any, messages: Sequence[BaseMessage]) -> AIMessage:
    """Call the model; connection problems become an `OncallError` naming the server."""
    base_url = getattr(model, "openai_api_base", None) or "the configured LLM server"
    try:
        reply = model.invoke(list(messages))
    except openai.LengthFinishReasonError as exc:
        # A schema-bound reply that hit max_tokens: the client refuses to parse it. Hand the
        # partial text on; the callers treat a cut-off JSON reply as (partly) unusable.
        return _cut_off_reply(exc.completion)
    except openai.APITimeoutError as exc:
        raise OncallError(
            "llm_timeout",
            f"the LLM server at {base_url} did not answer in time; it may be overloaded "
            "(raise ONCALL_LLM__TIMEOUT_S or check the server)",
        ) from exc
    except openai.APIConnectionError as exc:
        if _dropped_mid_reply(exc):
            raise OncallError(
                "llm_unreachable",
                f"the LLM server at {base_url} closed the connection in the middle of its reply; "
                "it may have crashed or restarted: ask again shortly, and check the server's "
                "logs if it keeps happening",
            ) from exc
        raise OncallError(
            "llm_unreachable",
            f"cannot reach the LLM server at {base_url}. Start the embedded one with "
            "`oncall llm serve`, or unset ONCALL_LLM__BASE_URL to let `oncall ask` start it, "
            "or fix the URL",
        ) from exc
    except openai.APIStatusError as exc:
        raise OncallError(
            "llm_error",
            f"the LLM server at {base_url} answered HTTP {exc.status_code}: {exc.message}",
        ) from exc
    if not isinstance(reply, AIMessage):
        raise OncallError("llm_error", f"unexpected reply type {type(reply).__name__}")
    return reply


def _cut_off_reply(completion: Any) -> AIMessage:
    """The partial reply of a completion that stopped at the token limit, with its usage."""
    choices = getattr(completion, "choices", None) or []
    content = (choices[0].message.content or "") if choices else ""
    usage = getattr(completion, "usage", None)
    prompt = int(getattr(usage, "prompt_tokens", 0) or 0)
    output = int(getattr(usage, "completion_tokens", 0) or 0)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0)
    return AIMessage(
        content=content,
        response_metadata={"finish_reason": "length"},
        usage_metadata={
            "input_tokens": prompt,
            "output_tokens": output,
            "total_tokens": prompt + output,
            "input_token_details": {"cache_read": cached},
        },
    )


_DROPPED = {"RemoteProtocolError", "ReadError", "IncompleteRead"}


def _dropped_mid_reply(exc: BaseException) -> bool:
    """The server accepted the request and then went away (not: nobody listening). By
    class name: the openai client may use its own copy of httpx (`httpx2`)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionResetError) or type(seen).__name__ in _DROPPED:
            return True
        seen = seen.__cause__ or seen.__context__
    return False
