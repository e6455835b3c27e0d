"""The web side of a turn: ownership checks, one answer at a time per conversation, the
agent run on a worker thread, metrics, and the rendered turn kept for history.

`Agent.ask/stream/resume` are synchronous (LangGraph's sync API, SQLite checkpointer), so
each answer runs on a bounded thread pool and its events cross into the event loop
through a queue; the loop itself never blocks on the model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

from agent.pasted import Attachment
from agent.service import Agent, Answer, validate_question
from agent.state import Route
from agent.streaming import AgentEvent
from bots.attachments import AttachmentRefused, check_total, text_attachment
from bots.web.conversations import ConversationState
from bots.web.guards import ApiError
from bots.web.links import SourceLinks
from bots.web.metrics import WebMetrics
from bots.web.payloads import answer_payload
from oncall.appstate import Leases, MemoryLeases
from oncall.core.identity import Principal

HEARTBEAT_S = 15.0  # an SSE comment this often keeps proxies from closing idle streams


class ChatService:
    """Front-end logic shared by the JSON API, the SSE stream and the `/v1` endpoint."""

    def __init__(
        self,
        agent: Agent,
        conversations: ConversationState,
        metrics: WebMetrics,
        max_concurrent: int,
        links: SourceLinks | None = None,
        leases: Leases | None = None,
        max_attachment_kb: int = 256,
    ):
        self.agent = agent
        self.max_attachment_kb = max_attachment_kb
        self.conversations = conversations
        # One turn at a time per conversation across replicas (in process by default).
        self.leases: Leases = leases or MemoryLeases()
        self.metrics = metrics
        self.links = links or SourceLinks()
        self.executor = ThreadPoolExecutor(max_concurrent, thread_name_prefix="oncall-chat")
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()
        self._cancels: dict[str, threading.Event] = {}  # streamed turns that can be stopped

    def open_thread(self, user: Principal, question: str, thread_id: str | None) -> str:
        """Check the question, then the caller's existing thread, or start a new one."""
        try:
            question = validate_question(question)
        except ValueError as exc:
            raise ApiError(422, "invalid_question", str(exc)) from exc
        if thread_id is None:
            return self.conversations.create(user.user_id, question)
        self.check_owner(user, thread_id)
        if thread_id in self._busy:
            raise _busy_error()
        return thread_id

    def attachments(self, files: Sequence[tuple[str, str]]) -> list[Attachment]:
        """Uploaded (name, text) files as agent attachments, or a 4xx saying what is wrong
        with them: too many or too large (413), not text data (415)."""
        if not files:
            return []
        if self.max_attachment_kb == 0:
            raise ApiError(
                413, "attachments_disabled",
                "this server takes no attached files (ONCALL_WEB__MAX_ATTACHMENT_KB=0); "
                "paste the relevant lines into the question",
            )  # fmt: skip
        taken: list[Attachment] = []
        try:
            check_total([(n, len(c.encode())) for n, c in files], self.max_attachment_kb)
            for name, content in files:
                taken.append(text_attachment(name, content, [a.name for a in taken]))
        except AttachmentRefused as exc:
            status = 415 if exc.code == "unsupported_attachment" else 413
            raise ApiError(status, exc.code, str(exc)) from exc
        except ValueError as exc:  # agent/pasted.py's own limits
            raise ApiError(413, "attachment_too_large", str(exc)) from exc
        return taken

    def check_owner(self, user: Principal, thread_id: str) -> None:
        """404 for a thread that is not the caller's (the same as for none at all)."""
        if not self.conversations.owns(user.user_id, thread_id):
            raise ApiError(
                404, "conversation_not_found",
                f"no conversation {thread_id!r} for user {user.user_id!r}; list yours with "
                "GET /api/conversations, or omit thread_id to start a new one",
            )  # fmt: skip

    async def ask(
        self,
        user: Principal,
        question: str,
        thread_id: str,
        route: Route | None,
        attachments: Sequence[Attachment] = (),
    ) -> dict[str, Any]:
        """A whole answer (no streaming)."""
        started = time.perf_counter()
        with self._turn(thread_id):
            answer = await self._in_worker(
                partial(self.agent.ask, question, thread_id, route, user, attachments)
            )
        return self._finish(answer, started, attached=attachments)

    async def resume(self, user: Principal, thread_id: str, approved: bool) -> dict[str, Any]:
        """Approve or reject the write waiting in the caller's thread; the turn goes on."""
        self.check_owner(user, thread_id)
        started = time.perf_counter()
        with self._turn(thread_id):  # checked inside: another replica may have decided
            if not self.agent.pending(thread_id):
                raise ApiError(
                    409, "nothing_pending", f"conversation {thread_id!r} has no action "
                    "waiting for approval (it may have been answered or superseded already)",
                )  # fmt: skip
            answer = await self._in_worker(
                partial(self.agent.resume, thread_id, approved, user.user_id, user)
            )
        return self._finish(answer, started)

    async def stream(
        self,
        user: Principal,
        question: str,
        thread_id: str,
        route: Route | None,
        attachments: Sequence[Attachment] = (),
    ) -> AsyncIterator[AgentEvent | None]:
        """The turn's events as they happen, starting with `thread` {thread_id} once the
        conversation is marked busy; None is a heartbeat (nothing new yet). The final
        `answer` event carries the payload in `data["answer"]`; a turn stopped with `stop`
        (or abandoned by the client) ends with `cancelled` instead."""
        started = time.perf_counter()
        first_token: float | None = None
        cancel = threading.Event()
        with self._turn(thread_id):
            self._cancels[thread_id] = cancel
            try:
                yield AgentEvent("thread", {"thread_id": thread_id})
                run = partial(
                    self.agent.stream, question, thread_id, route, user, attachments, cancel
                )
                events = self._events_in_worker(run, cancel)
                async for event in events:
                    if event is not None and event.type == "token" and first_token is None:
                        first_token = time.perf_counter() - started
                        self.metrics.first_token_seconds.observe(first_token)
                    if event is not None and event.answer is not None:
                        payload = self._finish(event.answer, started, first_token, attachments)
                        event = AgentEvent("answer", {"answer": payload}, event.answer)
                    yield event
            finally:
                self._cancels.pop(thread_id, None)

    def stop(self, user: Principal, thread_id: str) -> bool:
        """Stop the caller's turn being streamed in `thread_id`; False if none is."""
        self.check_owner(user, thread_id)
        cancel = self._cancels.get(thread_id)
        if cancel is None:
            return False
        cancel.set()
        return True

    def _finish(
        self,
        answer: Answer,
        started: float,
        first_token_s: float | None = None,
        attached: Sequence[Attachment] = (),
    ) -> dict[str, Any]:
        payload = answer_payload(answer, self.links)
        payload["attachments"] = [a.name for a in attached]  # shown with the question
        server_s = time.perf_counter() - started
        payload["timings_ms"]["server"] = round(server_s * 1000, 1)
        if first_token_s is not None:
            payload["timings_ms"]["first_token"] = round(first_token_s * 1000, 1)
        self.metrics.observe_answer(payload, server_s)
        self.conversations.add_turn(answer.thread_id, payload)
        return payload

    def _turn(self, thread_id: str) -> _Turn:
        return _Turn(self, thread_id)

    async def _in_worker(self, call: Callable[[], Answer]) -> Answer:
        loop = asyncio.get_running_loop()
        self.metrics.active_chats.inc()
        try:
            return await loop.run_in_executor(self.executor, call)
        finally:
            self.metrics.active_chats.dec()

    async def _events_in_worker(
        self, make: Callable[[], Iterator[AgentEvent]], cancel: threading.Event
    ) -> AsyncIterator[AgentEvent | None]:
        """Run a sync event generator on the pool, yielding its events in the loop. If
        the consumer goes away (client disconnected), `cancel` is set (the model stops at
        its next token) and the generator is closed at its next event: the turn is
        abandoned."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        stop = threading.Event()

        def put(kind: str, value: Any) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
            except RuntimeError:  # the loop is gone (server shutting down)
                stop.set()

        def produce() -> None:
            events = make()
            try:
                for event in events:
                    if stop.is_set():
                        break
                    put("event", event)
                put("done", None)
            except BaseException as exc:
                put("error", exc)
            finally:
                events.close()  # type: ignore[attr-defined]

        self.metrics.active_chats.inc()
        loop.run_in_executor(self.executor, produce)
        try:
            while True:
                try:
                    kind, value = await asyncio.wait_for(queue.get(), HEARTBEAT_S)
                except TimeoutError:
                    yield None
                    continue
                if kind == "done":
                    return
                if kind == "error":
                    raise value
                yield value
        finally:
            cancel.set()
            stop.set()
            self.metrics.active_chats.dec()

    def close(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


class _Turn:
    """Marks a thread busy for one turn, in this process and (through the lease) on every
    replica: a second question while the first is being answered would interleave two
    turns in the same memory."""

    def __init__(self, service: ChatService, thread_id: str):
        self.service = service
        self.thread_id = thread_id

    def __enter__(self) -> None:
        with self.service._busy_lock:
            if self.thread_id in self.service._busy:
                raise _busy_error()
            self.service._busy.add(self.thread_id)
        try:
            taken = self.service.leases.acquire(f"web-turn:{self.thread_id}")
        except BaseException:
            self._unmark()
            raise
        if not taken:
            self._unmark()
            raise _busy_error()

    def __exit__(self, *exc: object) -> None:
        try:
            self.service.leases.release(f"web-turn:{self.thread_id}")
        finally:
            self._unmark()

    def _unmark(self) -> None:
        with self.service._busy_lock:
            self.service._busy.discard(self.thread_id)


def _busy_error() -> ApiError:
    return ApiError(
        409, "conversation_busy",
        "this conversation is still answering the previous question; wait for it to finish",
    )  # fmt: skip
