"""`POST /v1/chat/completions` (and `GET /v1/models`): the agent behind the OpenAI chat API,
so existing chat UIs and IDE plugins can use it.

Models: `oncall` (auto-think routing), `oncall-deep` (always the tool loop), `oncall-direct`.
The agent answers the last user message; earlier messages are not re-sent to the model:
a client resends the whole transcript each time, and the transcript maps back to the
agent's own conversation (with its memory) through `ConversationStore.remember_transcript`.
Citations (as absolute links: `web.public_url`, else the request's URL), a pending approval
or a hand-over are appended as Markdown.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from agent.state import Route
from bots.web.api import SSE_HEADERS, Chat, User
from bots.web.chat import ChatService
from bots.web.guards import ApiError, error_body
from bots.web.payloads import sources_footer
from oncall.core.identity import Principal

router = APIRouter(prefix="/v1", tags=["openai-compatible"])
MODELS: dict[str, Route | None] = {"oncall": None, "oncall-deep": "deep", "oncall-direct": "direct"}


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """The OpenAI request; sampling fields (temperature, max_tokens...) are accepted and
    ignored: the agent's own settings decide."""

    model_config = ConfigDict(extra="allow")
    model: str = "oncall"
    messages: list[ChatMessage] = Field(min_length=1, max_length=500)
    stream: bool = False
    stream_options: dict[str, Any] | None = None


@router.get("/models", summary="The agent's models (routing variants)")
async def models(user: User) -> dict[str, Any]:
    data = [{"id": m, "object": "model", "created": 0, "owned_by": "oncall-agent"} for m in MODELS]
    return {"object": "list", "data": data}


@router.post("/chat/completions", summary="OpenAI-compatible chat completion (runs the agent)")
async def chat_completions(
    body: ChatCompletionRequest, user: User, chat: Chat, request: Request
) -> Any:
    if body.model not in MODELS:
        raise ApiError(
            404, "model_not_found",
            f"model {body.model!r} does not exist; use one of {', '.join(MODELS)}",
        )  # fmt: skip
    turns = [(m.role, m.text()) for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1][0] != "user" or not turns[-1][1].strip():
        raise ApiError(
            400, "invalid_messages",
            "messages must end with a non-empty user message (the question to answer)",
        )  # fmt: skip
    question, prior = turns[-1][1], turns[:-1]
    known = chat.conversations.thread_for_transcript(user.user_id, prior) if prior else None
    thread_id = chat.open_thread(user, question, known)
    completion = _Completion(body.model, chat, user, [*prior, ("user", question)], thread_id)
    completion.base_url = request.app.state.public_url or str(request.base_url)
    if body.stream:
        usage = bool((body.stream_options or {}).get("include_usage"))
        events = completion.chunks(question, MODELS[body.model], usage)
        return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)
    payload = await chat.ask(user, question, thread_id, MODELS[body.model])
    text = payload["answer"] + sources_footer(payload, completion.base_url)
    completion.remember(text)
    return completion.response(text, payload.get("usage", {}))


class _Completion:
    """One /v1 completion: ids, chunk framing, and the transcript key it leaves behind."""

    def __init__(
        self, model: str, chat: ChatService, user: Principal, transcript: list[Any], thread: str
    ):
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.model, self.chat, self.user = model, chat, user
        self.transcript, self.thread_id = transcript, thread
        self.base_url = ""  # links in the sources footer are made absolute with it

    def remember(self, sent: str) -> None:
        transcript = [*self.transcript, ("assistant", sent)]
        self.chat.conversations.remember_transcript(self.user.user_id, transcript, self.thread_id)

    def response(self, text: str, usage: dict[str, int]) -> dict[str, Any]:
        return {
            "id": self.id, "object": "chat.completion", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": "stop"}],
            "usage": _usage(usage),
        }  # fmt: skip

    def chunk(self, delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }  # fmt: skip
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    async def chunks(self, question: str, route: Route | None, usage: bool) -> AsyncIterator[str]:
        """Tokens as deltas; at the end whatever the final answer adds to what was streamed
        (an answer made without the model, sources), then `[DONE]`."""
        yield self.chunk({"role": "assistant", "content": ""})
        sent = ""
        try:
            async for event in self.chat.stream(self.user, question, self.thread_id, route):
                if event is None:
                    yield ": ping\n\n"
                elif event.type == "token":
                    sent += event.data["text"]
                    yield self.chunk({"content": event.data["text"]})
                elif event.type == "cancelled":  # stopped from the web chat
                    yield self.chunk({}, "stop")
                elif event.answer is not None:
                    footer = sources_footer(event.data["answer"], self.base_url)
                    rest = _unsent(event.answer.text, sent) + footer
                    sent += rest
                    if rest:
                        yield self.chunk({"content": rest})
                    yield self.chunk({}, "stop")
                    if usage:
                        yield self._usage_chunk(event.data["answer"].get("usage", {}))
        except ApiError as exc:
            yield f"data: {json.dumps(error_body(exc.code, str(exc.detail), exc.status_code))}\n\n"
        except Exception as exc:
            code = getattr(exc, "code", "internal")
            message = getattr(exc, "detail", None) or "internal error; see the server log"
            yield f"data: {json.dumps(error_body(code, message, 500))}\n\n"
        else:
            self.remember(sent)
        yield "data: [DONE]\n\n"

    def _usage_chunk(self, usage: dict[str, int]) -> str:
        body = {
            "id": self.id, "object": "chat.completion.chunk", "created": self.created,
            "model": self.model, "choices": [], "usage": _usage(usage),
        }  # fmt: skip
        return f"data: {json.dumps(body)}\n\n"


def _usage(usage: dict[str, int]) -> dict[str, int]:
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion}  # fmt: skip


def _unsent(final: str, sent: str) -> str:
    """What of the final text the client has not seen: all of it when nothing streamed (an
    answer made without the model), the tail when the stream was its prefix, else nothing
    (the final text was tidied, e.g. an invalid [n] removed: the streamed one stands)."""
    if not sent:
        return final
    return final[len(sent) :] if final.startswith(sent) else ""
