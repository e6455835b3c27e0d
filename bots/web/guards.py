"""Bad input and failures, mapped once for the whole HTTP surface.

Every error leaves as `{"error": {"code", "message", "type"}}` (the OpenAI error shape,
so `/v1` clients show the message too) with a status that says who must act: 4xx the
caller (what was wrong and what to do), 5xx the operator. `OncallError` codes are mapped
to statuses here and nowhere else.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from bots.web.metrics import WebMetrics
from oncall.core.errors import OncallError

log = logging.getLogger(__name__)

# Infrastructure failures (oncall/core/errors.py codes) -> HTTP status. Unknown codes: 503.
STATUS_BY_CODE = {
    "llm_timeout": 504,
    "llm_unreachable": 503,
    "llm_error": 502,
    "config": 500,
    "store_unavailable": 503,
    "approval_refused": 403,  # agent/approvals.py: not the asker nor a named approver
    "approval_stale": 409,  # the decision named an action that is no longer waiting
}

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    # The page loads only its own script and style: injected markup could not run code.
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    ),
]


class ApiError(HTTPException):
    """A 4xx/5xx with a stable machine-readable code and a message for humans."""

    def __init__(self, status: int, code: str, message: str):
        super().__init__(status, message)
        self.code = code


def status_for(exc: OncallError) -> int:
    return STATUS_BY_CODE.get(exc.code, 503)


def error_body(code: str, message: str, status: int) -> dict[str, Any]:
    kind = "invalid_request_error" if status < 500 else "server_error"
    if status in (401, 403):
        kind = "authentication_error"
    return {"error": {"code": code, "message": message, "type": kind}}


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(error_body(code, message, status), status_code=status)


def describe_validation(exc: RequestValidationError) -> tuple[int, str, str]:
    """(status, code, message) for a request FastAPI could not parse: malformed JSON is a
    400 naming the position; wrong fields are a 422 naming each field and the problem."""
    errors = exc.errors()
    for err in errors:
        if err.get("type") == "json_invalid":
            where = err.get("loc", ("body", "?"))[-1]
            reason = err.get("ctx", {}).get("error", "invalid JSON")
            message = (
                f"the request body is not valid JSON ({reason} at character {where}); "
                "send a JSON object with Content-Type: application/json"
            )
            return 400, "malformed_json", message
    if any(_not_an_object(e) for e in errors):
        message = "the request body must be a JSON object, sent with Content-Type: application/json"
        return 400, "body_not_json_object", message
    parts = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if p != "body"]
        field = ".".join(loc) or "body"
        msg = err.get("msg", "invalid")
        if err.get("type") == "missing" and not loc:
            msg = "a JSON object body is required"
        parts.append(f"{field}: {msg}")
    return 422, "invalid_request", "; ".join(parts)


def _not_an_object(err: Any) -> bool:
    types = {"dict_type", "model_attributes_type", "model_type"}
    return tuple(err.get("loc", ())) == ("body",) and err.get("type") in types


def install_error_handlers(app: FastAPI, metrics: WebMetrics) -> None:
    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        status, code, message = describe_validation(exc)
        metrics.errors.labels(code).inc()
        return error_response(status, code, message)

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        code = getattr(exc, "code", None) or _code_for_status(exc.status_code)
        metrics.errors.labels(code).inc()
        return error_response(exc.status_code, code, str(exc.detail))

    async def on_oncall(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, OncallError)
        metrics.errors.labels(exc.code).inc()
        return error_response(status_for(exc), exc.code, exc.detail)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        metrics.errors.labels("internal").inc()
        return error_response(500, "internal", "internal error; the server log has details")

    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(HTTPException, on_http)
    app.add_exception_handler(OncallError, on_oncall)
    app.add_exception_handler(Exception, on_unexpected)


def _code_for_status(status: int) -> str:
    return {
        400: "bad_request", 401: "unauthenticated", 403: "forbidden", 404: "not_found",
        405: "method_not_allowed", 409: "conflict", 413: "body_too_large",
        415: "unsupported_media_type",
    }.get(status, "http_error")  # fmt: skip


class BodyTooLarge(ApiError):
    def __init__(self, limit: int):
        super().__init__(
            413, "body_too_large",
            f"the request body is larger than {limit // 1024} KiB; send less (questions are "
            "limited to 4000 characters, attachments to ONCALL_WEB__MAX_ATTACHMENT_KB) or "
            "raise ONCALL_WEB__MAX_BODY_KB",
        )  # fmt: skip


class GuardMiddleware:
    """Refuses bodies over `limit` bytes (by Content-Length, or while reading a chunked
    body) before anything parses them, and adds the security headers to every response.
    `path_limits` gives some paths a larger limit (the ask endpoints carry attachments)."""

    def __init__(self, app: Any, limit: int, path_limits: dict[str, int] | None = None):
        self.app = app
        self.default_limit = limit
        self.path_limits = path_limits or {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        limit = self.path_limits.get(scope.get("path", ""), self.default_limit)
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            err = BodyTooLarge(limit)
            response = error_response(413, err.code, str(err.detail))
            await response(scope, receive, send_with_headers)
            return
        received = 0

        async def counting_receive() -> Any:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:  # FastAPI re-raises HTTPExceptions from parsing
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counting_receive, send_with_headers)
