"""`create_app(settings, agent)`: the FastAPI app behind `oncall serve`.

The page (bots/web/static: one HTML, one JS, one CSS file, no build step, nothing from a
CDN), the JSON API (/api), the OpenAI-compatible endpoint (/v1), health and readiness,
Prometheus metrics, and the API reference (/openapi.json, rendered without JavaScript at
/docs because Swagger UI would be fetched from a CDN at run time).
"""

from __future__ import annotations

import contextlib
import html
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from agent.service import Agent
from bots.web import api, docs_api, openai_compat
from bots.web.auth import Authenticator
from bots.web.chat import ChatService
from bots.web.docview import ExampleQuestions
from bots.web.guards import GuardMiddleware, error_response, install_error_handlers
from bots.web.links import SourceLinks
from bots.web.metrics import MetricsMiddleware, WebMetrics
from bots.web.sessions import SqliteRevocations
from ingest.sources import load_registry
from oncall.appstate import AppState
from oncall.core.errors import ConfigError
from oncall.core.settings import Settings, WebSettings

STATIC = Path(__file__).parent / "static"


def create_app(settings: Settings, agent: Agent, state: AppState | None = None) -> FastAPI:
    """The web app over `agent`, which the caller (`oncall serve`, tests) builds, owns and
    closes, like `state` (where conversations live: SQLite under the data dir, or the
    replicas' shared Postgres); without it, the app opens the embedded state itself.
    Configuration errors (users file, proxies) raise here, before anything listens."""
    revoked = SqliteRevocations(settings.data_dir / "web_sessions.sqlite")
    auth = Authenticator(settings.web, revoked)
    metrics = WebMetrics()
    links = source_links(settings.web)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with contextlib.ExitStack() as stack:
            own = state or stack.enter_context(AppState(settings.appstate, settings.data_dir))
            chat = ChatService(
                agent, own.conversations(), metrics, settings.web.max_concurrent_chats,
                links=links, leases=own.leases(),
                max_attachment_kb=settings.web.max_attachment_kb,
            )  # fmt: skip
            stack.callback(chat.close)
            app.state.chat = chat
            yield

    app = FastAPI(
        title="oncall-agent",
        summary="Cited answers from internal docs: web chat, JSON API, OpenAI-compatible API.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.auth = auth
    app.state.metrics = metrics
    app.state.links = links
    app.state.public_url = settings.web.public_url
    app.state.examples = ExampleQuestions(agent.deps.store, settings.web.example_questions)
    install_error_handlers(app, metrics)
    # Added last = outermost: metrics also count what the guard refuses.
    app.add_middleware(
        GuardMiddleware, limit=settings.web.max_body_kb * 1024, path_limits=ask_limits(settings.web)
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.include_router(api.router, tags=["chat"])
    app.include_router(docs_api.router)
    app.include_router(openai_compat.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _add_service_routes(app)
    return app


def ask_limits(web: WebSettings) -> dict[str, int]:
    """Body limits of the ask endpoints: a question plus its attachments, with room for
    JSON escaping (a CSV's quotes and newlines take two characters each in JSON)."""
    limit = (web.max_body_kb + 2 * web.max_attachment_kb) * 1024
    return {"/api/ask": limit, "/api/ask/stream": limit}


def source_links(web: WebSettings) -> SourceLinks:
    """Citation links; git sources with a `web_url` in `web.sources_file` link there."""
    if web.sources_file is None:
        return SourceLinks()
    try:
        registry = load_registry(web.sources_file)
    except ConfigError as exc:
        raise ConfigError("web.sources_file", exc.detail.removeprefix("--sources: ")) from exc
    return SourceLinks.from_registry(registry)


def _add_service_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/docs/view/{key}", include_in_schema=False)
    async def document_page(key: str) -> FileResponse:
        """The page behind citation links; its script reads /api/docs/{key} as the user."""
        return FileResponse(STATIC / "doc.html", headers={"Cache-Control": "no-cache"})

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> FileResponse:
        return FileResponse(STATIC / "favicon.ico", headers={"Cache-Control": "max-age=86400"})

    @app.get("/healthz", tags=["service"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["service"], summary="Readiness: the agent and its index are up")
    async def readyz(request: Request) -> JSONResponse:
        chat: ChatService | None = getattr(request.app.state, "chat", None)
        if chat is None:
            return error_response(503, "starting", "the agent is still starting")
        count = getattr(chat.agent.deps.store, "count", None)
        try:
            chunks = count() if callable(count) else None
        except Exception as exc:  # the index backend is down: not ready, say why
            return error_response(503, "store_unavailable", f"the document index failed: {exc}")
        return JSONResponse({"status": "ready", "chunks": chunks})

    @app.get("/metrics", tags=["service"], summary="Prometheus metrics (text format)")
    async def prometheus(request: Request) -> Response:
        body = request.app.state.metrics.exposition()
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.get("/docs", include_in_schema=False)
    async def docs(request: Request) -> HTMLResponse:
        return HTMLResponse(api_reference(request.app.openapi()))


def api_reference(spec: dict[str, Any]) -> str:
    """A plain HTML list of the endpoints in the OpenAPI document (no scripts)."""
    rows = []
    for path, operations in spec.get("paths", {}).items():
        for method, op in operations.items():
            summary = html.escape(op.get("summary", ""))
            detail = html.escape(op.get("description", ""))
            rows.append(
                f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}"
                f"</code></td><td>{summary}<br><small>{detail}</small></td></tr>"
            )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>oncall-agent API</title>"
        "<link rel='stylesheet' href='/static/app.css'></head><body class='docs'>"
        "<h1>oncall-agent API</h1><p>Machine-readable: <a href='/openapi.json'>/openapi.json"
        "</a> (load it into any OpenAPI viewer or client generator).</p>"
        f"<table>{''.join(rows)}</table></body></html>"
    )
