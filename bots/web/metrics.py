"""Prometheus metrics for `GET /metrics`, one registry per app (tests start several apps
in one process, and the default global registry would refuse the second)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)
OVERHEAD_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class WebMetrics:
    """HTTP traffic, answers by route and outcome, time to first token, and the server's
    own overhead (answer time minus time spent waiting for the model)."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.requests = Counter(
            "oncall_http_requests", "HTTP requests", ["method", "path", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "oncall_http_request_seconds", "HTTP request time (streams: until the last byte)",
            ["method", "path"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.active_chats = Gauge("oncall_chats_active", "Answers being computed", registry=r)
        self.answers = Counter("oncall_answers", "Finished turns", ["route", "outcome"], registry=r)
        self.answer_seconds = Histogram(
            "oncall_answer_seconds", "Question to final answer", ["route"],
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.first_token_seconds = Histogram(
            "oncall_first_token_seconds", "Question to first streamed answer token",
            buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.overhead_seconds = Histogram(
            "oncall_server_overhead_seconds", "Answer time minus LLM time",
            buckets=OVERHEAD_BUCKETS, registry=r,
        )  # fmt: skip
        self.errors = Counter("oncall_errors", "Errors answered, by code", ["code"], registry=r)
        self.feedback = Counter("oncall_feedback", "Feedback received", ["helpful"], registry=r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def observe_answer(self, payload: dict[str, Any], server_s: float) -> None:
        """Count a finished turn; `server_s` is the server's wall time for it."""
        if payload.get("pending"):
            outcome = "pending_approval"
        elif payload.get("abstained"):
            outcome = "abstained"
        else:
            outcome = "answered"
        route = str(payload.get("route", "direct"))
        self.answers.labels(route, outcome).inc()
        self.answer_seconds.labels(route).observe(server_s)
        llm_s = float(payload.get("timings_ms", {}).get("llm", 0.0)) / 1000
        self.overhead_seconds.observe(max(server_s - llm_s, 0.0))


Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Any]


class MetricsMiddleware:
    """Counts every request by method, route template (not the raw path: ids would explode
    the label set) and status, and times it until the response's last byte."""

    def __init__(self, app: ASGIApp, metrics: WebMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        import time

        started = time.perf_counter()
        status = 500

        async def send_wrapper(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.request_seconds.labels(method, path).observe(time.perf_counter() - started)
