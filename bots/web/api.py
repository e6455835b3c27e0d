"""The JSON API under /api: login, ask (whole or streamed as SSE), conversations, approvals,
feedback and figures. Every route that touches a conversation runs as the signed-in user
and checks that the conversation is theirs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import FileResponse, StreamingResponse

from agent.pasted import Attachment
from agent.streaming import event_json
from bots.web.auth import SESSION_COOKIE, Authenticator
from bots.web.chat import ChatService
from bots.web.guards import ApiError
from bots.web.payloads import pending_json, public_turn
from bots.web.schemas import (
    AnswerPayload,
    ApprovalRequest,
    AskRequest,
    ConversationHistory,
    ConversationList,
    FeedbackRequest,
    LoginRequest,
    Me,
)
from oncall.core.identity import Principal

router = APIRouter(prefix="/api")


def chat_service(request: Request) -> ChatService:
    chat: ChatService = request.app.state.chat
    return chat


def current_user(request: Request) -> Principal:
    """The signed-in principal, or 401 saying how to sign in for this server's auth mode."""
    auth: Authenticator = request.app.state.auth
    client = request.client.host if request.client else None
    user = auth.principal(request.headers, request.cookies, client)
    if user is not None:
        return user
    how = (
        "sign in with POST /api/login (or the page), or send Authorization: Bearer <api key>"
        if auth.mode == "login"
        else f"the SSO proxy must send {auth.settings.user_header} (and come from a trusted "
        "proxy address)"
    )
    raise ApiError(401, "unauthenticated", f"not signed in: {how}")


User = Annotated[Principal, Depends(current_user)]
Chat = Annotated[ChatService, Depends(chat_service)]


@router.post("/login", response_model=Me, summary="Sign in (login mode); sets the session cookie")
async def login(body: LoginRequest, request: Request, response: Response) -> Me:
    auth: Authenticator = request.app.state.auth
    if auth.mode != "login":
        raise ApiError(400, "login_disabled", "this server signs users in through its SSO proxy")
    # PBKDF2 takes ~0.3 s of CPU: off the event loop.
    user = await asyncio.to_thread(auth.login, body.username, body.password)
    if user is None:
        raise ApiError(401, "bad_credentials", "unknown user or wrong password")
    response.set_cookie(
        SESSION_COOKIE, auth.issue(user), max_age=auth.signer.ttl_s,
        httponly=True, samesite="strict", secure=auth.settings.secure_cookies,
    )  # fmt: skip
    return about(user.principal(), request)


@router.post("/logout", status_code=204, summary="Sign out (ends the session on the server)")
async def logout(request: Request, response: Response) -> Response:
    auth: Authenticator = request.app.state.auth
    auth.logout(request.cookies.get(SESSION_COOKIE, ""))  # a copied cookie dies with it
    response.delete_cookie(SESSION_COOKIE)
    response.status_code = 204
    return response


@router.get("/me", response_model=Me, summary="Who the server thinks you are")
async def me(user: User, request: Request) -> Me:
    return about(user, request)


def about(user: Principal, request: Request) -> Me:
    """The user, and what they may send (the page checks attachments before uploading)."""
    return Me(
        user_id=user.user_id,
        name=user.name,
        groups=sorted(user.groups),
        auth=request.app.state.auth.mode,
        max_attachment_kb=chat_service(request).max_attachment_kb,
    )


@router.post("/ask", response_model=AnswerPayload, summary="Ask and wait for the whole answer")
async def ask(body: AskRequest, user: User, chat: Chat) -> dict[str, Any]:
    files = chat.attachments([(a.name, a.content) for a in body.attachments])
    thread_id = chat.open_thread(user, body.question, body.thread_id)
    return await chat.ask(user, body.question, thread_id, body.route, files)


@router.post(
    "/ask/stream",
    summary="Ask, streamed as server-sent events",
    description="Events: `thread` {thread_id}, then as the turn goes: `route` {route, reason, "
    "confidence}, `step` {node}, `search` {query}, `retrieval` {query, hits}, `tool_start` "
    "{calls}, `tool_end` {results}, `thinking` {text}, `token` {text}, `draft_reset`; last "
    "`answer` {answer: payload as from /api/ask}, `cancelled` (stopped with POST "
    "/api/conversations/{id}/stop) or `error` {code, message}. See docs/web.md.",
    response_class=StreamingResponse,
)
async def ask_stream(body: AskRequest, user: User, chat: Chat) -> StreamingResponse:
    files = chat.attachments([(a.name, a.content) for a in body.attachments])
    thread_id = chat.open_thread(user, body.question, body.thread_id)
    events = sse_events(chat, user, body, thread_id, files)
    return StreamingResponse(events, media_type="text/event-stream", headers=SSE_HEADERS)


SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def sse_events(
    chat: ChatService,
    user: Principal,
    body: AskRequest,
    thread_id: str,
    files: Sequence[Attachment] = (),
) -> AsyncIterator[str]:
    """The turn as SSE frames (the first, `thread`, names the conversation); a failure
    after the stream began becomes an `error` event (the status line is sent already)."""
    try:
        async for event in chat.stream(user, body.question, thread_id, body.route, files):
            yield ": ping\n\n" if event is None else sse(event.type, event_json(event))
    except ApiError as exc:
        yield sse("error", {"code": exc.code, "message": str(exc.detail)})
    except Exception as exc:
        code = getattr(exc, "code", "internal")
        message = getattr(exc, "detail", None) or "internal error; the server log has details"
        chat.metrics.errors.labels(code).inc()
        yield sse("error", {"code": code, "message": message})
        if code == "internal":
            raise


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.get("/conversations", response_model=ConversationList, summary="Your conversations")
async def conversations(user: User, chat: Chat) -> dict[str, Any]:
    return {"conversations": chat.conversations.threads(user.user_id)}


@router.get(
    "/conversations/{thread_id}",
    response_model=ConversationHistory,
    summary="One of your conversations: its turns and any pending approval",
)
async def conversation(thread_id: str, user: User, chat: Chat) -> dict[str, Any]:
    chat.check_owner(user, thread_id)
    pending = [pending_json(p) for p in chat.agent.pending(thread_id)]
    turns = [public_turn(t, chat.links) for t in chat.conversations.history(thread_id)]
    return {"id": thread_id, "turns": turns, "pending": pending}


@router.post(
    "/conversations/{thread_id}/stop",
    summary="Stop the answer being streamed in your conversation",
    description="The model stops at its next token (its server stops generating), at the "
    "latest before the next step; the stream ends with a `cancelled` event and nothing is "
    "recorded. `stopped` is false when nothing was running.",
)
async def stop(thread_id: str, user: User, chat: Chat) -> dict[str, bool]:
    return {"stopped": chat.stop(user, thread_id)}


@router.post(
    "/conversations/{thread_id}/approval",
    response_model=AnswerPayload,
    summary="Approve or reject the write action waiting in your conversation",
)
async def approval(thread_id: str, body: ApprovalRequest, user: User, chat: Chat) -> dict[str, Any]:
    return await chat.resume(user, thread_id, body.approved)


@router.post("/feedback", status_code=204, summary="Rate one of your answers")
async def feedback(body: FeedbackRequest, user: User, chat: Chat) -> Response:
    if chat.conversations.turn(user.user_id, body.turn_id) is None:
        raise ApiError(404, "turn_not_found", f"no answer {body.turn_id!r} in your conversations")
    recorder = chat.agent.recorder
    if recorder is None:
        raise ApiError(503, "feedback_disabled", "this server does not record turns")
    record = body.model_dump(exclude={"turn_id"})
    try:
        await asyncio.to_thread(recorder.set_feedback, body.turn_id, record)
    except KeyError as exc:
        raise ApiError(404, "turn_not_found", str(exc)) from exc
    chat.metrics.feedback.labels(str(body.helpful).lower()).inc()
    return Response(status_code=204)


@router.get(
    "/conversations/{thread_id}/files/{turn_id}/{tool}/{index}",
    summary="A figure made by run_python in one of your answers (PNG)",
    response_class=FileResponse,
)
async def figure(
    thread_id: str, turn_id: str, tool: int, index: int, user: User, chat: Chat
) -> FileResponse:
    """Only paths the agent recorded for that turn are served, never a client-given path."""
    chat.check_owner(user, thread_id)
    path = _recorded_file(chat, thread_id, turn_id, tool, index)
    if path is None or path.suffix != ".png" or not path.is_file():
        raise ApiError(404, "file_not_found", "no such figure in this conversation")
    return FileResponse(path, media_type="image/png")


def _recorded_file(
    chat: ChatService, thread_id: str, turn_id: str, tool: int, index: int
) -> Path | None:
    recorder = chat.agent.recorder
    if recorder is None:
        return None
    for turn in recorder.turns(thread_id):
        if turn["id"] == turn_id:
            calls = json.loads(turn["tool_calls"])
            if 0 <= tool < len(calls) and 0 <= index < len(calls[tool].get("files", [])):
                return Path(calls[tool]["files"][index])
    return None
