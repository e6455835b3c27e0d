"""The local API under /local/v1: how `oncall ask/chat/search/ingest/sync` on this host use a
running `oncall serve` instead of opening the embedded index themselves (the index and the
model server belong to one process; docs/service.md).

Only for the operator's own commands: every request must come over loopback (or from the
host's own address, when the server is bound to one) and carry the token `oncall serve`
wrote to DATA_DIR/service.json, a file only its user can read. Such a caller could read the
index files anyway, so it acts with the groups it asks for, like the CLI without a service.
Ingest and sync stream their progress as JSON lines (`event` names the kind).
"""

from __future__ import annotations

import dataclasses
import hmac
import ipaddress
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from agent.service import Agent, Answer
from bots.web.guards import ApiError
from oncall.core.errors import OncallError
from oncall.core.identity import Principal
from oncall.core.settings import Settings

log = logging.getLogger(__name__)
PREFIX = "/local/v1"
TOKEN_HEADER = "X-Oncall-Local-Token"


def install(app: FastAPI, settings: Settings, token: str) -> None:
    """Add the local routes to `app`, answering only callers that hold `token`."""
    app.state.local_token = token
    app.state.local_settings = settings
    app.state.local_writer = threading.Lock()  # one ingest or sync at a time
    app.include_router(router)


_PROXY_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip")


def _is_local(request: Request) -> bool:
    """Loopback, or the address the server itself listens on (a connection from the host
    to its own interface has that address as its source too). A request relayed by a
    proxy on this host comes over loopback too, but this host's commands never send the
    proxy headers: such a request is not local."""
    if any(name in request.headers for name in _PROXY_HEADERS):
        return False
    client = request.client.host if request.client else ""
    server = request.scope.get("server") or ("", 0)
    try:
        address = ipaddress.ip_address(client)
    except ValueError:
        return False
    return address.is_loopback or client == server[0]


def local_caller(request: Request) -> None:
    """Refuse anyone but this host's own `oncall` commands (403 / 401, said why)."""
    if not _is_local(request):
        raise ApiError(403, "not_local", "the local API answers only on this host (loopback)")
    expected: str = request.app.state.local_token
    given = request.headers.get(TOKEN_HEADER, "")
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise ApiError(
            401, "bad_local_token", f"missing or wrong {TOKEN_HEADER} (see DATA_DIR/service.json)"
        )


router = APIRouter(prefix=PREFIX, dependencies=[Depends(local_caller)], include_in_schema=False)


def _agent(request: Request) -> Agent:
    chat = getattr(request.app.state, "chat", None)
    if chat is None:
        raise ApiError(503, "starting", "the service is still starting; try again in a moment")
    agent: Agent = chat.agent
    return agent


class SearchBody(BaseModel):
    query: str
    k: int = Field(5, ge=1, le=50)
    groups: list[str] = Field(default_factory=list)
    mode: Literal["hybrid", "dense", "bm25"] = "hybrid"


class AskBody(BaseModel):
    question: str
    thread: str | None = None
    route: Literal["direct", "deep"] | None = None
    groups: list[str] = Field(default_factory=list)


class ResumeBody(BaseModel):
    thread: str
    approved: bool
    groups: list[str] = Field(default_factory=list)


class IngestBody(BaseModel):
    paths: list[str] = Field(min_length=1, description="Absolute paths on this host.")
    prune: bool = False
    acl: list[str] = Field(default_factory=list)


class SyncBody(BaseModel):
    sources: str = Field(description="Absolute path of the source registry.")
    names: list[str] = Field(description="Sources to sync now (the caller chose what is due).")


@router.get("/health")
async def health(request: Request) -> dict[str, Any]:
    """Who answers: the caller checks the data dir is the one it would open."""
    settings: Settings = request.app.state.local_settings
    ready = getattr(request.app.state, "chat", None) is not None
    return {"service": "oncall", "data_dir": str(settings.data_dir.resolve()),
            "pid": os.getpid(), "ready": ready}  # fmt: skip


@router.post("/search")
def search(body: SearchBody, request: Request) -> dict[str, Any]:
    from tools.search_docs import search_docs

    deps = _agent(request).deps
    r = request.app.state.local_settings.retrieval
    who = Principal.local(body.groups)
    hits = _checked(
        lambda: search_docs(
            body.query, deps.store, deps.embedder, body.k, r.prefetch_k,
            groups=who.read_groups, mode=body.mode, rrf_k=r.rrf_k, title_boost=r.title_boost,
        )
    )  # fmt: skip
    return {"hits": [dataclasses.asdict(h) for h in hits]}


@router.post("/ask")
def ask(body: AskBody, request: Request) -> dict[str, Any]:
    agent = _agent(request)
    who = Principal.local(body.groups)
    answer = _checked(lambda: agent.ask(body.question, body.thread, body.route, user=who))
    return {"answer": answer_wire(answer)}


@router.post("/resume")
def resume(body: ResumeBody, request: Request) -> dict[str, Any]:
    agent = _agent(request)
    who = Principal.local(body.groups)
    answer = _checked(
        lambda: agent.resume(body.thread, body.approved, approver=who.user_id, user=who)
    )
    return {"answer": answer_wire(answer)}


def _checked(fn: Callable[[], Any]) -> Any:
    """Bad input is the caller's (400, the message as it is); OncallError keeps its code
    and goes to the app's error handler."""
    try:
        return fn()
    except (ValueError, FileNotFoundError) as exc:
        raise ApiError(400, "bad_request", str(exc)) from exc


def answer_wire(answer: Answer) -> dict[str, Any]:
    """The whole `Answer` as JSON (the CLI renders it as it renders a local one)."""
    wire: dict[str, Any] = json.loads(json.dumps(dataclasses.asdict(answer), default=str))
    return wire


@router.post("/ingest")
def ingest(body: IngestBody, request: Request) -> StreamingResponse:
    from ingest.pipeline import ingest_paths

    agent = _agent(request)
    settings: Settings = request.app.state.local_settings
    paths = [Path(p) for p in body.paths]

    def work(emit: Emit) -> None:
        started = time.perf_counter()
        report = ingest_paths(
            paths, agent.deps.store, agent.deps.embedder, settings.ingest,
            prune=body.prune, acl=body.acl,
            on_start=lambda n: emit({"event": "start", "label": "ingest", "files": n}),
            on_file=lambda doc, chunks: emit(
                {"event": "file", "label": "ingest", "doc_id": doc, "chunks": chunks}
            ),
        )  # fmt: skip
        emit(_report_event("ingest", report, started, agent.deps.store.count()))

    return _stream(request.app.state.local_writer, work)


@router.post("/sync")
def sync(body: SyncBody, request: Request) -> StreamingResponse:
    from ingest.pipeline import sync_source
    from ingest.sources import SyncState, load_registry

    agent = _agent(request)
    settings: Settings = request.app.state.local_settings
    specs = load_registry(Path(body.sources)).select(body.names or None)
    state = SyncState(settings.data_dir / "sync_state.json")

    def work(emit: Emit) -> None:
        store = agent.deps.store
        for spec in specs:
            label = spec.name
            started = time.perf_counter()
            try:
                report = sync_source(
                    spec, store, agent.deps.embedder, settings.ingest,
                    settings.data_dir / "sources",
                    on_start=lambda n, label=label: emit(  # type: ignore[misc]
                        {"event": "start", "label": label, "files": n}
                    ),
                    on_file=lambda doc, chunks, label=label: emit(  # type: ignore[misc]
                        {"event": "file", "label": label, "doc_id": doc, "chunks": chunks}
                    ),
                )  # fmt: skip
            except (FileNotFoundError, RuntimeError, ValueError, OSError) as exc:
                emit({"event": "failed", "label": label, "detail": str(exc)})
                continue  # one failing source never stops the others
            event = _report_event(label, report, started, store.count())
            event["source"] = {"name": spec.name, "type": spec.type, "acl": list(spec.acl)}
            emit(event)
            state.mark(spec.name)

    return _stream(request.app.state.local_writer, work)


Emit = Callable[[dict[str, Any]], None]


def _report_event(label: str, report: Any, started: float, total: int) -> dict[str, Any]:
    return {
        "event": "report",
        "label": label,
        "report": dataclasses.asdict(report),
        "seconds": time.perf_counter() - started,
        "total_chunks": total,
    }


def _stream(writer: threading.Lock, work: Callable[[Emit], None]) -> StreamingResponse:
    """Run `work` on its own thread (one writer at a time) and stream what it emits as
    JSON lines, ending with `end` or a fatal `error`. A caller that goes away does not stop
    the work: the index is left consistent by the pipeline, not by the connection."""
    events: queue.Queue[dict[str, Any] | None] = queue.Queue()

    def run() -> None:
        try:
            if not writer.acquire(blocking=False):
                events.put({"event": "waiting", "detail": "another ingest or sync is running"})
                writer.acquire()
            try:
                work(events.put)
                events.put({"event": "end"})
            finally:
                writer.release()
        except OncallError as exc:
            events.put({"event": "error", "code": exc.code, "detail": exc.detail})
        except (FileNotFoundError, ValueError) as exc:
            events.put({"event": "error", "code": None, "detail": str(exc)})
        except Exception as exc:  # a bug or a failing disk: the command must not hang
            log.exception("local API job failed")
            detail = f"{type(exc).__name__}: {exc} (the service's log has the details)"
            events.put({"event": "error", "code": "service_error", "detail": detail})
        finally:
            events.put(None)

    threading.Thread(target=run, name="local-api-writer", daemon=True).start()

    def lines() -> Iterator[bytes]:
        while (event := events.get()) is not None:
            yield (json.dumps(event) + "\n").encode()

    return StreamingResponse(lines(), media_type="application/x-ndjson")
