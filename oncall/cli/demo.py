"""`oncall demo`: the demo internal platform, started on loopback for the agent to use.

examples/internal_platform/ holds a FastAPI service (service health, deploys, on-call
schedule, incident tickets; OpenAPI spec) and an MCP server (incident history, alert
silences). `demo_platform()` starts the REST service as a subprocess with a fresh API key;
the MCP server is started over stdio by the catalogue loader when the agent starts (the
catalogue, examples/internal_platform/catalogue.yaml, names both).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from oncall.core.errors import OncallError

DEMO_DIR = Path(__file__).resolve().parents[2] / "examples" / "internal_platform"
DEMO_CATALOGUE = DEMO_DIR / "catalogue.yaml"
DEMO_QUESTION = "Who is on call for payments and is it healthy?"
# The demo operator may use every demo tool, writes included (after approval).
DEMO_GROUPS = ["oncall"]
STARTUP_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class DemoPlatform:
    url: str
    api_key: str
    log: Path

    def env(self) -> dict[str, str]:
        """What the demo catalogue expands (`${DEMO_PLATFORM_URL}`) and authenticates with."""
        return {"DEMO_PLATFORM_URL": self.url, "DEMO_PLATFORM_API_KEY": self.api_key}


@contextlib.contextmanager
def demo_platform(port: int, log_dir: Path, host: str = "127.0.0.1") -> Iterator[DemoPlatform]:
    """The demo REST service running on `host:port` for the block, stopped after it."""
    if not (DEMO_DIR / "service.py").is_file():
        raise OncallError(
            "demo_missing",
            f"{DEMO_DIR} not found: run `oncall demo` from a checkout of the repository "
            "(pip install -e .), where examples/ exists",
        )
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "demo-platform.log"
    platform = DemoPlatform(f"http://{host}:{port}", secrets.token_urlsafe(18), log)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, str(DEMO_DIR / "service.py"), "--host", host, "--port", str(port)],
            env={**os.environ, "DEMO_PLATFORM_API_KEY": platform.api_key},
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    try:
        _wait_healthy(proc, platform)
        yield platform
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_healthy(proc: subprocess.Popen[bytes], platform: DemoPlatform) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise OncallError(
                "demo_platform_failed",
                f"the demo platform exited with code {proc.returncode} (port in use? set "
                f"ONCALL_TOOLS__DEMO_PORT to a free port); log: {platform.log}",
            )
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{platform.url}/health", timeout=1.0).status_code == 200:
                return
        time.sleep(0.2)
    proc.terminate()
    raise OncallError(
        "demo_platform_failed",
        f"the demo platform did not answer within {STARTUP_TIMEOUT_S:g} s; log: {platform.log}",
    )
