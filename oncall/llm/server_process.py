"""Child model-server processes (llama-server, vLLM): start, wait for health, stop for good.

Both servers run in their own session (process group), so a stop reaches their workers too;
but that also means the terminal's or a supervisor's signal does not reach them. Every
server started here (`spawn_server`) is therefore tracked, and the first one installs
process-wide handlers: on SIGTERM or SIGHUP every tracked server is stopped before the
process goes on to exit (any handler installed before is then called; with none, the
process exits with status 128 + signal). A signal that was ignored when the first server
started (SIGHUP under `nohup`) stays ignored. On a normal exit `atexit` stops what is left.
SIGKILL cannot be caught: a server of a killed process outlives it.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import Any

import httpx

from oncall.core.errors import OncallError

log = logging.getLogger(__name__)
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)
_children: set[subprocess.Popen[bytes]] = set()
_children_lock = threading.Lock()
_previous: dict[int, Any] = {}  # signal -> the handler ours replaced


def spawn_server(
    command: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a model server in its own session, output appended to `log_path`, and track
    it so that SIGTERM/SIGHUP of this process stop it too."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    with _children_lock:
        _children.add(proc)
    _install_handlers()
    return proc


def _install_handlers() -> None:
    """Once per process, from the main thread (Python allows signal handlers nowhere else;
    servers started from other threads are still stopped at exit and by an earlier
    installation)."""
    if _previous or threading.current_thread() is not threading.main_thread():
        return
    for sig in STOP_SIGNALS:
        current = signal.getsignal(sig)
        if current == signal.SIG_IGN:
            continue  # e.g. nohup: the user asked this process to survive a hang-up
        _previous[sig] = current
        signal.signal(sig, _on_stop_signal)
    atexit.register(stop_all_servers)


def _on_stop_signal(signum: int, frame: FrameType | None) -> None:
    stop_all_servers()
    previous = _previous.get(signum)
    if callable(previous):
        previous(signum, frame)
        return
    raise SystemExit(128 + signum)  # unwinds `finally` blocks, like the default's status


def stop_all_servers() -> None:
    """Stop every tracked server (signal handlers, atexit)."""
    with _children_lock:
        running = list(_children)
    for proc in running:
        stop_process_group(proc)


def server_is_healthy(base_url: str, timeout: float = 2.0) -> bool:
    """True when the server at `base_url` (…/v1) answers /health with 200."""
    root = base_url.removesuffix("/").removesuffix("/v1")
    try:
        response = httpx.get(f"{root}/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def wait_until_healthy(
    proc: subprocess.Popen[bytes],
    base_url: str,
    timeout_s: float,
    poll_s: float,
    code: str,
    log_path: Path,
    failed_hint: str = "",
    timeout_hint: str = "",
) -> None:
    """Block until /health is ok; `{code}_failed` if the process dies, `{code}_timeout`
    (after stopping it) if it never gets healthy. Hints say what to try next."""
    name = code.replace("_", "-")
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise OncallError(
                f"{code}_failed",
                f"{name} exited with code {proc.returncode} during start-up; "
                f"see {log_path}{failed_hint}",
            )
        if server_is_healthy(base_url, timeout=min(2.0, poll_s * 4)):
            return
        time.sleep(poll_s)
    stop_process_group(proc)
    raise OncallError(
        f"{code}_timeout",
        f"{name} did not become healthy within {timeout_s:.0f}s; see {log_path}{timeout_hint}",
    )


def stop_process_group(proc: subprocess.Popen[bytes] | None, grace_s: float = 10.0) -> None:
    """SIGTERM the group, wait `grace_s`, then SIGKILL: never leave a model server behind."""
    if proc is None:
        return
    with _children_lock:
        _children.discard(proc)
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
