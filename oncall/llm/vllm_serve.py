"""Production serving: launch `vllm serve` with a documented profile (`oncall llm serve
--backend vllm`).

vLLM pins its own torch, transformers and fastapi (0.32.0 resolves, 0.33.0 cannot install
today), so it never enters the project's venv: the launcher only builds the command line
and runs the `vllm` executable of a separate environment (`llm.vllm.executable`). The agent
reaches the server through the same OpenAI-compatible client it uses for llama.cpp.

Every profile turns on what the agent relies on:
- `--enable-prefix-caching`: prompts are laid out system + tools + docs first, so the
  shared prefix is computed once (agent/prompts.py);
- `--enable-auto-tool-choice --tool-call-parser hermes`: DEEP's tool calls arrive as
  structured `tool_calls` (Qwen's chat template writes hermes-style <tool_call> blocks);
- `--reasoning-parser qwen3`: thinking text goes to `reasoning_content`, not the answer;
  `chat_template_kwargs.enable_thinking` toggles it per request (oncall/llm/client.py);
- `--served-model-name` = `llm.model`, so the name the agent sends is the name served.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from oncall.core.errors import ConfigError, OncallError
from oncall.core.settings import LLMSettings, VLLMProfile, VLLMSettings
from oncall.llm.embedded import port_is_free, state_file
from oncall.llm.server_process import spawn_server, stop_process_group, wait_until_healthy


@dataclass(frozen=True)
class Profile:
    """A named serving recipe; `llm.vllm.*` settings refine it."""

    name: VLLMProfile
    max_model_len: int
    fp8: bool
    summary: str


PROFILES: dict[str, Profile] = {
    "default": Profile(
        "default", 32768, False, "Qwen3-8B in bf16, native 32k context, hybrid thinking"
    ),
    "long-context": Profile(
        "long-context", 131072, False, "128k context via YaRN rope scaling (factor 4)"
    ),
    "fp8": Profile(
        "fp8", 32768, True, "FP8 weights and KV cache: half the memory, twice the KV tokens"
    ),
}


def effective_max_model_len(config: VLLMSettings) -> int:
    """The context length served: the explicit setting, else the profile's."""
    return config.max_model_len or PROFILES[config.profile].max_model_len


def yarn_overrides(config: VLLMSettings) -> dict[str, object] | None:
    """`--hf-overrides` turning on static YaRN when the context exceeds the model's native
    one, None otherwise. vLLM >= 0.11.1 removed `--rope-scaling`; the rope dict now goes in
    `rope_parameters`, and as it replaces the model's whole dict it repeats `rope_theta`."""
    length = effective_max_model_len(config)
    if length <= config.native_context:
        return None
    return {
        "rope_parameters": {
            "rope_type": "yarn",
            "factor": round(length / config.native_context, 4),
            "original_max_position_embeddings": config.native_context,
            "rope_theta": int(config.rope_theta)
            if config.rope_theta.is_integer()
            else config.rope_theta,
        }
    }


def build_vllm_command(llm: LLMSettings, executable: str | None = None) -> list[str]:
    """The full `vllm serve` argument list for `llm.vllm` (pure: no file system access)."""
    c = llm.vllm
    cmd = [
        executable or c.executable, "serve", c.model,
        "--served-model-name", llm.model,
        "--host", c.host,
        "--port", str(c.port),
        "--max-model-len", str(effective_max_model_len(c)),
        "--gpu-memory-utilization", str(c.gpu_memory_utilization),
        "--tensor-parallel-size", str(c.tensor_parallel_size),
        "--enable-prefix-caching",
        "--enable-auto-tool-choice",
        "--tool-call-parser", c.tool_call_parser,
    ]  # fmt: skip
    if c.reasoning_parser:
        cmd += ["--reasoning-parser", c.reasoning_parser]
    if (overrides := yarn_overrides(c)) is not None:
        cmd += ["--hf-overrides", json.dumps(overrides, separators=(",", ":"))]
    if PROFILES[c.profile].fp8:
        cmd += ["--quantization", "fp8", "--kv-cache-dtype", "fp8"]
    if c.max_num_seqs is not None:
        cmd += ["--max-num-seqs", str(c.max_num_seqs)]
    return cmd + list(c.extra_args)


def find_vllm(executable: str) -> Path:
    """Resolve `llm.vllm.executable`; refuse one missing or living in the project's venv."""
    found = shutil.which(executable)
    if found is None:
        raise ConfigError(
            "llm.vllm.executable",
            f"{executable!r} is not an executable file or a command on PATH. Install vLLM "
            "0.32.0 in its own environment (`uv venv /opt/vllm && uv pip install --python "
            "/opt/vllm/bin/python vllm==0.32.0`) and set "
            "ONCALL_LLM__VLLM__EXECUTABLE=/opt/vllm/bin/vllm, or run the vllm/vllm-openai "
            "container (deploy/docker-compose.yml)",
        )
    path = Path(found).absolute()  # not resolved: a venv's python links out of the venv
    if Path(sys.prefix).absolute() in path.parents:
        raise ConfigError(
            "llm.vllm.executable",
            f"{path} is inside the project's environment ({sys.prefix}); vLLM pins its own "
            "torch and must live in a separate one: uninstall it here and point "
            "ONCALL_LLM__VLLM__EXECUTABLE at the other environment's `vllm`",
        )
    return path


class VllmServer:
    """One `vllm serve` child process, started and stopped like the embedded LlamaServer."""

    def __init__(self, llm: LLMSettings, log_path: Path):
        self.llm = llm
        self.config = llm.vllm
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.config.host == "0.0.0.0" else self.config.host
        return f"http://{host}:{self.config.port}/v1"

    def _env(self) -> dict[str, str]:
        # The key goes through the environment, not argv, so `ps` does not show it.
        env = dict(os.environ)
        key = self.llm.api_key.get_secret_value()
        if key and key != "not-needed":
            env["VLLM_API_KEY"] = key
        return env

    def start(self) -> None:
        """Start vLLM and block until /health is ok; clear errors otherwise."""
        c = self.config
        if not port_is_free(c.host, c.port):
            raise OncallError(
                "port_in_use",
                f"port {c.port} on {c.host} is already in use; stop what holds it or "
                "choose another with ONCALL_LLM__VLLM__PORT",
            )
        command = build_vllm_command(self.llm, str(find_vllm(c.executable)))
        self.process = spawn_server(command, self.log_path, self._env())
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        assert self.process is not None
        wait_until_healthy(
            self.process,
            self.base_url,
            self.config.startup_timeout_s,
            1.0,
            "vllm",
            self.log_path,
            failed_hint=" (out of GPU memory: lower ONCALL_LLM__VLLM__MAX_MODEL_LEN or try the "
            "fp8 profile)",
            timeout_hint=" (raise ONCALL_LLM__VLLM__STARTUP_TIMEOUT_S for large models)",
        )

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM the process group (vLLM has engine worker processes), then SIGKILL."""
        stop_process_group(self.process, grace_s)

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()


def describe(llm: LLMSettings) -> str:
    """One line for the operator: profile, model, context and quantisation."""
    c = llm.vllm
    profile = PROFILES[c.profile]
    rope = " + YaRN" if yarn_overrides(c) else ""
    return (
        f"vLLM profile {profile.name} ({profile.summary}): {c.model} as {llm.model!r}, "
        f"max_model_len {effective_max_model_len(c)}{rope}"
    )


@contextlib.contextmanager
def vllm_server(llm: LLMSettings, data_dir: Path, publish: bool = False) -> Iterator[VllmServer]:
    """Run vLLM for the duration of the block; with `publish`, other `oncall` commands on
    this host find and reuse it (same state file as the embedded server)."""
    server = VllmServer(llm, data_dir / "logs" / "vllm.log")
    server.start()
    published = state_file(data_dir)
    try:
        if publish:
            published.parent.mkdir(parents=True, exist_ok=True)
            published.write_text(
                json.dumps({"base_url": server.base_url, "pid": server.process.pid})  # type: ignore[union-attr]
            )
        yield server
    finally:
        if publish:
            published.unlink(missing_ok=True)
        server.stop()
