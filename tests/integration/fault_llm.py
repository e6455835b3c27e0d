"""A misbehaving OpenAI-compatible chat server on loopback, for fault-injection tests.

Each request to `/v1/chat/completions` takes the next scripted `Behaviour` (the last one
repeats): answer normally, die in the middle of the reply (headers and part of the body
or of the SSE stream sent, then the socket is closed), answer too slowly, answer with
malformed tool calls, or fail with an HTTP status. `stop()` / `start()` take the port down
and bring it back (a server killed and restarted). Every request is logged with its time,
so tests can check retries and backoff.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Kind = Literal["ok", "die", "slow", "malformed_tool_call", "status"]


@dataclass(frozen=True)
class Behaviour:
    kind: Kind = "ok"
    text: str = "All good."
    delay_s: float = 0.0  # slow: wait this long before answering
    status: int = 500  # status: the HTTP status sent
    tool_args: str = '{"query": "payments'  # malformed_tool_call: not valid JSON


@dataclass
class RequestLog:
    at: float
    stream: bool
    messages: list[dict[str, Any]]


@dataclass
class FaultyLLM:
    script: list[Behaviour] = field(default_factory=lambda: [Behaviour()])
    requests: list[RequestLog] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self._server: ThreadingHTTPServer | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def then(self, *behaviours: Behaviour) -> None:
        """Replace the script: these behaviours in order, the last one repeating."""
        with self._lock:
            self.script = list(behaviours)

    def start(self) -> FaultyLLM:
        server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        server.daemon_threads = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """The process is gone: the port refuses connections until `start()`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FaultyLLM:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _next(self) -> Behaviour:
        with self._lock:
            return self.script.pop(0) if len(self.script) > 1 else self.script[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stream = bool(body.get("stream"))
                fake.requests.append(RequestLog(time.monotonic(), stream, body["messages"]))
                behaviour = fake._next()
                if behaviour.kind == "slow":
                    time.sleep(behaviour.delay_s)
                try:
                    if behaviour.kind == "status":
                        self._send(behaviour.status, {"error": {"message": "server exploded"}})
                    elif stream:
                        self._stream(behaviour)
                    else:
                        self._complete(behaviour)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up first
                    self.close_connection = True

            def _send(self, status: int, payload: Any) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _complete(self, behaviour: Behaviour) -> None:
                message: dict[str, Any] = {"role": "assistant", "content": behaviour.text}
                if behaviour.kind == "malformed_tool_call":
                    calls = [_bad_call(behaviour)]
                    message = {"role": "assistant", "content": "", "tool_calls": calls}
                payload = _envelope("chat.completion")
                payload["choices"] = [{"index": 0, "message": message, "finish_reason": "stop"}]
                if behaviour.kind != "die":
                    self._send(200, payload)
                    return
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])  # half the body, then the crash
                self._crash()

            def _stream(self, behaviour: Behaviour) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                words = behaviour.text.split(" ")
                for i, word in enumerate(words):
                    if behaviour.kind == "die" and i == len(words) // 2:
                        self._crash()
                        return
                    chunk = _envelope("chat.completion.chunk")
                    delta: dict[str, Any] = {"content": word + (" " if i < len(words) - 1 else "")}
                    if i == 0:
                        delta["role"] = "assistant"  # as OpenAI, vLLM and llama.cpp send it
                    chunk["choices"] = [{"index": 0, "delta": delta, "finish_reason": None}]
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                    self.wfile.flush()
                self.wfile.write(b"data: [DONE]\n\n")

            def _crash(self) -> None:
                self.wfile.flush()
                # RST instead of FIN where possible: the client sees the peer die.
                self.connection.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
                self.connection.close()
                self.close_connection = True

        return Handler


def _envelope(kind: str) -> dict[str, Any]:
    return {"id": "cmpl-fault", "object": kind, "created": int(time.time()), "model": "local"}


def _bad_call(behaviour: Behaviour) -> dict[str, Any]:
    function = {"name": "search_docs", "arguments": behaviour.tool_args}
    return {"id": f"call_{time.monotonic_ns()}", "type": "function", "function": function}
