"""A fake vLLM server on loopback that holds the client to vLLM's request contract.

Requests to `/v1/chat/completions` are validated against vLLM's `ChatCompletionRequest`
(vllm/entrypoints/openai/protocol.py, 0.x): the same fields and the same cross-field rules
(stream_options only with stream, tool_choice needs tools, a named tool must exist, "auto"
needs a server started with --enable-auto-tool-choice), plus what its chat templates need
(tool-call arguments as JSON objects, tool results answering an earlier call). Stricter than
vLLM in one way on purpose: vLLM logs and ignores unknown fields, which would make a
mistyped knob silently do nothing, so here they are a 400.

Replies are scripted (`enqueue`); usage is counted deterministically (whitespace words) so
tests can check the client's token accounting. Thinking follows Qwen3 on vLLM: on unless
`chat_template_kwargs.enable_thinking` is false, and with the reasoning parser the thinking
text arrives as `reasoning_content`, never in `content`.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FunctionDefinition(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class ToolParam(_Strict):
    type: Literal["function"] = "function"
    function: FunctionDefinition


class NamedFunction(_Strict):
    name: str


class NamedToolChoice(_Strict):
    type: Literal["function"] = "function"
    function: NamedFunction


class FunctionCall(_Strict):
    name: str
    arguments: str

    @field_validator("arguments")
    @classmethod
    def _json_object(cls, value: str) -> str:
        # vLLM json-loads arguments before rendering the chat template.
        if not isinstance(json.loads(value), dict):
            raise ValueError("tool call arguments must be a JSON object")
        return value


class ToolCall(_Strict):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class Message(_Strict):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[dict[str, Any]] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None

    @model_validator(mode="after")
    def _role_rules(self) -> Message:
        if self.role == "tool" and not self.tool_call_id:
            raise ValueError("a tool message needs tool_call_id")
        if self.role != "assistant" and self.tool_calls:
            raise ValueError(f"a {self.role} message cannot carry tool_calls")
        if self.role != "assistant" and self.content is None:
            raise ValueError(f"a {self.role} message needs content")
        return self


class StreamOptions(_Strict):
    include_usage: bool | None = True
    continuous_usage_stats: bool | None = False


class ChatCompletionRequest(_Strict):
    messages: list[Message] = Field(min_length=1)
    model: str | None = None
    frequency_penalty: float | None = 0.0
    presence_penalty: float | None = 0.0
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = False
    top_logprobs: int | None = 0
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    n: int | None = Field(1, ge=1, le=1)
    response_format: dict[str, Any] | None = None
    seed: int | None = Field(None, ge=-(2**63), le=2**63 - 1)
    stop: str | list[str] | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    tools: list[ToolParam] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None
    reasoning_effort: Literal["low", "medium", "high"] | None = None
    user: str | None = None
    # vLLM extras (sampling and chat template)
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    chat_template_kwargs: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _vllm_rules(self) -> ChatCompletionRequest:
        if self.stream_options is not None and not self.stream:
            raise ValueError("Stream options can only be defined when `stream=True`.")
        if self.tool_choice not in (None, "none") and not self.tools:
            raise ValueError("When using `tool_choice`, `tools` must be set.")
        if isinstance(self.tool_choice, NamedToolChoice):
            names = {t.function.name for t in self.tools or []}
            if self.tool_choice.function.name not in names:
                raise ValueError("The tool specified in `tool_choice` does not match any tool")
        kwargs = self.chat_template_kwargs or {}
        if "enable_thinking" in kwargs and not isinstance(kwargs["enable_thinking"], bool):
            raise ValueError("chat_template_kwargs.enable_thinking must be a boolean")
        answered: set[str] = set()
        for m in self.messages:
            if m.role == "assistant":
                answered |= {c.id for c in m.tool_calls or []}
            elif m.role == "tool" and m.tool_call_id not in answered:
                raise ValueError(f"tool message answers unknown tool call {m.tool_call_id!r}")
        return self

    @property
    def thinking(self) -> bool:
        return bool((self.chat_template_kwargs or {}).get("enable_thinking", True))


@dataclass
class Reply:
    """One scripted answer: text, thinking text (sent only with thinking on), tool calls."""

    content: str = ""
    reasoning: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def words(text: str) -> int:
    return len(text.split())


class FakeVLLM:
    """`with FakeVLLM() as fake:` serves on 127.0.0.1 at `fake.base_url` until the block ends."""

    def __init__(
        self, served_model: str = "local", max_model_len: int = 32768, auto_tool_choice: bool = True
    ):
        self.served_model = served_model
        self.max_model_len = max_model_len
        self.auto_tool_choice = auto_tool_choice
        self.replies: list[Reply] = []
        self.requests: list[ChatCompletionRequest] = []
        self.raw: list[dict[str, Any]] = []
        self.rejections: list[str] = []
        self.usage: list[dict[str, int]] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def enqueue(self, *replies: Reply | str) -> None:
        self.replies += [r if isinstance(r, Reply) else Reply(content=r) for r in replies]

    def __enter__(self) -> FakeVLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- protocol ---------------------------------------------------------------------

    def check(self, body: Any) -> tuple[int, str, ChatCompletionRequest | None]:
        """Validate one request body the way vLLM would: (status, error, request)."""
        try:
            request = ChatCompletionRequest.model_validate(body)
        except ValidationError as exc:
            return 400, str(exc), None
        if request.model != self.served_model:
            return 404, f"The model `{request.model}` does not exist.", None
        if request.tool_choice == "auto" and not self.auto_tool_choice:
            return 400, '"auto" tool choice requires --enable-auto-tool-choice', None
        return 200, "", request

    def completion(self, request: ChatCompletionRequest) -> tuple[Reply, dict[str, int], str]:
        if not self.replies:
            raise AssertionError("FakeVLLM ran out of scripted replies")
        reply = self.replies.pop(0)
        if not request.thinking:
            reply = Reply(reply.content, "", reply.tool_calls)
        limit = request.max_completion_tokens or request.max_tokens
        cut = bool(limit) and words(reply.content) > (limit or 0)
        if cut:  # as vLLM: the reply stops at the limit with finish_reason "length"
            reply = Reply(" ".join(reply.content.split()[:limit]), reply.reasoning)
        prompt = sum(words(m.content) for m in request.messages if isinstance(m.content, str))
        tool_words = sum(words(json.dumps(args)) + 1 for _, args in reply.tool_calls)
        completion = words(reply.content) + words(reply.reasoning) + tool_words
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        self.usage.append(usage)
        finish = "length" if cut else "tool_calls" if reply.tool_calls else "stop"
        return reply, usage, finish

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _json(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._json(200, {})
                elif self.path == "/v1/models":
                    card = {
                        "id": fake.served_model,
                        "object": "model",
                        "owned_by": "vllm",
                        "root": "Qwen/Qwen3-8B",
                        "max_model_len": fake.max_model_len,
                    }
                    self._json(200, {"object": "list", "data": [card]})
                else:
                    self._json(404, {"error": {"message": "not found", "code": 404}})

            def do_POST(self) -> None:
                if self.path != "/v1/chat/completions":
                    return self._json(404, {"error": {"message": "not found", "code": 404}})
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.raw.append(body)
                status, error, request = fake.check(body)
                if request is None:
                    fake.rejections.append(error)
                    kind = "NotFoundError" if status == 404 else "BadRequestError"
                    return self._json(
                        status, {"error": {"message": error, "type": kind, "code": status}}
                    )
                fake.requests.append(request)
                reply, usage, finish = fake.completion(request)
                if request.stream:
                    return self._stream(request, reply, usage, finish)
                message: dict[str, Any] = {
                    "role": "assistant",
                    "content": reply.content,
                    "reasoning_content": reply.reasoning or None,
                }
                if reply.tool_calls:
                    message["tool_calls"] = _tool_calls(reply, len(fake.usage))
                self._json(
                    200,
                    {
                        **_envelope(fake.served_model, "chat.completion"),
                        "choices": [
                            {
                                "index": 0,
                                "message": message,
                                "finish_reason": finish,
                                "logprobs": None,
                            }
                        ],
                        "usage": usage,
                    },
                )

            def _stream(
                self,
                request: ChatCompletionRequest,
                reply: Reply,
                usage: dict[str, int],
                finish: str,
            ) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                head = _envelope(fake.served_model, "chat.completion.chunk")

                def send(delta: dict[str, Any], finish_reason: str | None = None) -> None:
                    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
                    self.wfile.write(
                        f"data: {json.dumps({**head, 'choices': [choice]})}\n\n".encode()
                    )
                    self.wfile.flush()

                send({"role": "assistant", "content": ""})
                for word in reply.reasoning.split():
                    send({"reasoning_content": word + " "})
                for i, word in enumerate(reply.content.split()):
                    send({"content": word if i == 0 else " " + word})
                for i, call in enumerate(_tool_calls(reply, len(fake.usage))):
                    send({"tool_calls": [{"index": i, **call}]})
                send({}, finish)
                options = request.stream_options
                if options is not None and options.include_usage:
                    chunk = {**head, "choices": [], "usage": usage}
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

        return Handler


def _envelope(model: str, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": kind,
        "created": int(time.time()),
        "model": model,
    }


def _tool_calls(reply: Reply, seq: int) -> list[dict[str, Any]]:
    return [
        {
            "id": f"call_{seq}_{i}",
            "type": "function",
            "function": {"name": name, "arguments": json.dumps(args)},
        }
        for i, (name, args) in enumerate(reply.tool_calls)
    ]
