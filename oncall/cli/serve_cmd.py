"""`oncall serve`, `oncall slack` and `oncall llm serve`: the long-running processes."""

from __future__ import annotations

import signal
import sys
from enum import StrEnum
from typing import Annotated

import typer

from oncall.cli.console import (
    agent_session,
    byte_progress,
    console,
    err_console,
    friendly_errors,
    load_settings,
)
from oncall.core.errors import OncallError
from oncall.core.settings import Settings


def slack(
    socket_mode: Annotated[
        bool, typer.Option("--socket", help="Socket Mode (needs an app token, no public URL).")
    ] = False,
    http: Annotated[
        bool, typer.Option("--http", help="HTTP events on --port (needs the signing secret).")
    ] = False,
    port: Annotated[
        int | None, typer.Option(help="HTTP mode port (default: slack.port, 3000).")
    ] = None,
) -> None:
    """Run the Slack bot (docs/slack.md). Without --socket/--http: Socket Mode when
    an app token is set, else HTTP."""
    import logging
    import os

    from bots.slack.run import choose_mode, serve, with_env_fallback
    from oncall.cli.compose import app_state

    if socket_mode and http:
        err_console.print("[bold red]error[/]: choose one of --socket and --http")
        raise typer.Exit(2)
    settings = load_settings()
    slack_settings = with_env_fallback(settings.slack, os.environ)  # entry point: env ok
    if port is not None:
        slack_settings = slack_settings.model_copy(update={"port": port})
    settings = settings.model_copy(update={"slack": slack_settings})
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with friendly_errors():
        mode = choose_mode(settings.slack, "socket" if socket_mode else "http" if http else None)
        with app_state(settings) as state, agent_session(settings, state) as agent:
            serve(settings, agent, mode, state)


def serve(
    host: Annotated[
        str | None, typer.Option(help="Bind address (default: web.host, 127.0.0.1).")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: web.port, 8080).")] = None,
) -> None:
    """Web chat, JSON API (/docs) and OpenAI-compatible /v1/chat/completions, with the
    configured auth (docs/web.md)."""
    from bots.web.server import serve as serve_web
    from oncall.cli.compose import app_state

    settings = load_settings()
    with friendly_errors(), app_state(settings) as state, agent_session(settings, state) as agent:
        serve_web(settings, agent, host or settings.web.host, port or settings.web.port, state)


class ServeBackend(StrEnum):
    embedded = "embedded"
    vllm = "vllm"


def llm_serve(
    backend: Annotated[
        ServeBackend,
        typer.Option(help="embedded: llama.cpp on this CPU; vllm: vLLM on a GPU host."),
    ] = ServeBackend.embedded,
    profile: Annotated[
        str | None,
        typer.Option(help="vLLM profile: default, long-context or fp8 (docs/vllm.md)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="vLLM: print the command line and exit.")
    ] = False,
) -> None:
    """Run the LLM server in the foreground; other commands on this host reuse it."""
    from oncall.llm.embedded import embedded_server

    settings = load_settings()
    if backend is ServeBackend.vllm:
        serve_vllm(settings, profile, dry_run)
        return
    if settings.llm.base_url:
        err_console.print(
            f"[yellow]note[/]: ONCALL_LLM__BASE_URL is set ({settings.llm.base_url}); "
            "other commands will use that, not this server"
        )
    with (
        friendly_errors(),
        byte_progress("assembling model") as progress,
        embedded_server(settings.llm.embedded, settings.data_dir, progress, publish=True) as srv,
    ):
        console.print(
            f"[green]serving[/] {settings.llm.embedded.model} at {srv.base_url} "
            "(OpenAI-compatible). Ctrl-C to stop."
        )
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        code = srv.wait()
        if code != 0:
            raise OncallError("llama_server_failed", f"llama-server exited with code {code}")


def serve_vllm(settings: Settings, profile: str | None, dry_run: bool) -> None:
    """`oncall llm serve --backend vllm`: launch the configured profile, publish its URL."""
    import shlex

    from oncall.llm.vllm_serve import PROFILES, build_vllm_command, describe, vllm_server

    with friendly_errors():
        if profile is not None:
            if profile not in PROFILES:
                raise ValueError(f"--profile {profile!r}: choose one of {', '.join(PROFILES)}")
            vllm = settings.llm.vllm.model_copy(update={"profile": profile})
            settings = settings.model_copy(
                update={"llm": settings.llm.model_copy(update={"vllm": vllm})}
            )
        console.print(describe(settings.llm))
        if dry_run:
            console.print(shlex.join(build_vllm_command(settings.llm)), soft_wrap=True)
            return
        with vllm_server(settings.llm, settings.data_dir, publish=True) as srv:
            console.print(
                f"[green]serving[/] at {srv.base_url} (OpenAI-compatible). Point the agent at "
                f"it with ONCALL_LLM__BASE_URL={srv.base_url} "
                "ONCALL_LLM__SUPPORTS_THINKING=true. Ctrl-C to stop."
            )
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            code = srv.wait()
            if code != 0:
                raise OncallError("vllm_failed", f"vllm exited with code {code}")
