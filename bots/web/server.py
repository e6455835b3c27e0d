"""Running the web app: `oncall serve` in the foreground, or a server on a background
thread for tests and benchmarks (a real uvicorn on loopback, not a test client)."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator

import uvicorn
from fastapi import FastAPI

from agent.service import Agent
from bots.web.app import create_app
from oncall.appstate import AppState
from oncall.core.settings import Settings

# Plain formatters: uvicorn's own access formatter re-reads the record's arguments, which
# the log redaction (oncall/core/redact.py) has already folded into the message.
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "bots.web": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
    },
}


def serve(
    settings: Settings,
    agent: Agent,
    host: str,
    port: int,
    state: AppState | None = None,
    local_token: str | None = None,
) -> None:
    """Serve `agent` until Ctrl-C / SIGTERM. The caller builds the agent (and the app
    `state` its conversations live in) first, so a model or configuration problem fails
    before anything listens. `local_token` opens the local API (bots/web/local_api.py)."""
    app = create_app(settings, agent, state, local_token)
    config = uvicorn.Config(
        app, host=host, port=port, log_config=LOG_CONFIG, proxy_headers=False,
        timeout_graceful_shutdown=10,
    )  # fmt: skip
    # uvicorn re-raises the signal it caught once it has shut down gracefully: SIGTERM must
    # then leave through Python (SystemExit), so the caller's `with` blocks close the agent
    # and stop the llama-server it may have started, instead of orphaning it.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.Server(config).run()


@contextlib.contextmanager
def serve_in_thread(app: FastAPI, host: str = "127.0.0.1") -> Iterator[str]:
    """The app on a free loopback port in a daemon thread; yields its base URL and stops
    it (lifespan shutdown included) after the block."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", backlog=512)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start; see the log above")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
