"""Model servers never outlive the command that started them (SECURITY.md "Child
processes"): `oncall eval run` (or ask, chat, serve) killed with SIGTERM by a supervisor,
or with SIGHUP when its terminal closes, used to leave llama-server / vLLM running in its
own session, holding the port, memory and the model. A small stand-in plays the server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

STAND_IN = """\
#!{python}
# Stands in for llama-server / `vllm serve`: serves /health on --port until killed.
import sys
from http.server import BaseHTTPRequestHandler, HTTPServer
port = int(sys.argv[sys.argv.index("--port") + 1])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"{{}}")
    def log_message(self, *a):
        pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
"""

# The command's side, reduced to what matters: start a server the way the CLI does, then
# work (sleep) until a signal arrives.
PARENT = """\
import sys, time
from pathlib import Path
kind, exe, port, log = sys.argv[1], sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
if kind == "llama":
    from oncall.core.settings import EmbeddedLLMSettings
    from oncall.llm import embedded
    embedded.find_llama_server = lambda: Path(exe)
    server = embedded.LlamaServer(EmbeddedLLMSettings(port=port), Path("model.gguf"), log)
else:
    from oncall.core.settings import LLMSettings, VLLMSettings
    from oncall.llm.vllm_serve import VllmServer
    server = VllmServer(LLMSettings(vllm=VLLMSettings(executable=exe, port=port)), log)
server.start()
print(server.process.pid, flush=True)
time.sleep(120)
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[-1][:1] != "Z"  # a zombie is gone in all but name
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("kind", ["llama", "vllm"])
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signalled_command_stops_its_model_server(
    tmp_path: Path, kind: str, sig: signal.Signals
) -> None:
    exe = tmp_path / "env" / ("vllm" if kind == "vllm" else "llama-server")
    exe.parent.mkdir()
    exe.write_text(STAND_IN.format(python=sys.executable))
    exe.chmod(0o755)
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, kind, str(exe), str(free_port()), str(tmp_path / "s.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    server_pid = 0
    try:
        assert parent.stdout is not None
        server_pid = int(parent.stdout.readline())
        assert alive(server_pid)
        parent.send_signal(sig)
        assert parent.wait(timeout=30) in (128 + sig, -sig)
        deadline = time.monotonic() + 15
        while alive(server_pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not alive(server_pid), f"the {kind} server outlived its command ({sig.name})"
    finally:
        parent.kill()
        if server_pid and alive(server_pid):
            os.killpg(server_pid, signal.SIGKILL)
