"""Child model-server processes (llama-server, vLLM): wait for health, stop for good.

Both servers run in their own session (process group), so a stop reaches their workers too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

import httpx

from oncall.core.errors import OncallError


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
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
