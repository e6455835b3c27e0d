"""One Jupyter kernel in its sandbox: start, execute with limits, kill.

The kernel is started by us (not by jupyter-client's KernelManager, which cannot wrap the
command in bubblewrap and wants to own the connection file). ZeroMQ runs over `ipc` sockets
in the kernel's own tmpfs; the client connects through a descriptor of their folder, sealed
against the kernel once it is up (kernelfs.py).

Limits enforced here, per execution: a wall-clock timeout (the kernel is killed: an
infinite loop in C code ignores interrupts, and state that ran away is not worth keeping)
and an output cap (the run is interrupted, then killed if it does not stop).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import secrets
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from jupyter_client.blocking.client import BlockingKernelClient

from oncall.core.errors import OncallError
from tools.sandbox.figures import FigureStore
from tools.sandbox.isolation import (
    SCRATCH,
    SOCKET_DIR,
    Isolation,
    Limits,
    bwrap_argv,
    kernel_command,
    kernel_env,
    open_filter,
    prlimit_argv,
)
from tools.sandbox.kernelfs import KernelFs
from tools.sandbox.result import ExecutionResult, OutputCollector

CHANNELS = ("shell", "iopub", "stdin", "control", "hb")
START_TIMEOUT_S = 60.0  # generous: 20 kernels starting at once on 2 cores take a while
INTERRUPT_GRACE_S = 3.0
# bubblewrap's --die-with-parent is PR_SET_PDEATHSIG, which fires when the *thread* that
# started it exits. Kernels are started from warm-up threads and the agent's per-step tool
# threads, so every start goes through this one long-lived thread instead.
_LAUNCHER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sandbox-launcher")


def _spawn(argv: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(argv, **kwargs)

    return _LAUNCHER.submit(start).result()


class SandboxKernel:
    """A started kernel; `execute` is not thread-safe (the pool serializes per kernel)."""

    def __init__(self, iso: Isolation, limits: Limits, uid: int):
        self.uid = uid
        self.last_used = time.monotonic()
        self._isolated = iso.kind == "bwrap"  # else no pid namespace to tear down
        self._fs = KernelFs(
            limits.scratch_mb * 1024 * 1024, limits.scratch_files, mount=self._isolated
        )
        self._info = _connection_info()
        try:
            self._proc = self._launch(iso, limits)
        except BaseException:
            self._fs.close()
            raise
        self._client = BlockingKernelClient()
        info: dict[str, Any] = {**self._info, "ip": self._fs.socket_base}
        self._client.load_connection_info(info)  # type: ignore[arg-type]
        try:
            self._wait_ready()
        except BaseException:
            self.kill()
            raise

    def _launch(self, iso: Isolation, limits: Limits) -> subprocess.Popen[bytes]:
        conn = self._fs.private / "connection.json"  # root-only folder, outside the tmpfs
        if not self._isolated:
            scratch = self._fs.host_path("scratch")
            sockets = str(self._fs.host_path("kernel") / "k")
            conn.write_text(json.dumps({**self._info, "ip": sockets}))
            argv = [*prlimit_argv(iso.prlimit, limits), *kernel_command(iso.python, str(conn))]
            return _spawn(
                argv,
                env=kernel_env(iso.python, str(scratch)),
                cwd=scratch,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        conn.write_text(json.dumps({**self._info, "ip": f"{SOCKET_DIR}/k"}))
        conn.chmod(0o644)  # the kernel's uid must read it; the folder stays root-only
        info_r, info_w = os.pipe()
        try:
            with open_filter(iso.seccomp) as seccomp_fd:
                argv = bwrap_argv(iso, limits, self.uid, conn, info_w, self._fs.root, seccomp_fd)
                proc = _spawn(
                    argv,
                    env={},
                    pass_fds=[info_w, seccomp_fd],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                )
            os.close(info_w)
            info_w = -1
            _read_child_pid(info_r, proc)
        finally:
            os.close(info_r)
            if info_w >= 0:
                os.close(info_w)
        return proc

    def _wait_ready(self) -> None:
        """Sockets exist (then they are sealed against the kernel and the host's mount of
        its tmpfs is dropped), then a kernel_info round trip: jupyter-client's own readiness
        check reads a not-yet-bound heartbeat as a dead kernel."""
        deadline = time.monotonic() + START_TIMEOUT_S
        sockets = [f"k-{self._info[f'{c}_port']}" for c in CHANNELS]
        while not self._fs.sockets_exist(sockets):
            if not self.alive:
                raise OncallError("sandbox_start", f"the kernel exited at start: {self._stderr()}")
            if time.monotonic() > deadline:
                raise OncallError("sandbox_start", "the kernel did not start in time")
            time.sleep(0.01)
        # No user code has run yet: from here on the kernel's uid cannot change the folder.
        self._fs.seal_sockets(sockets)
        self._fs.detach()
        self._client.start_channels()
        self._client.kernel_info()  # answered once the kernel's event loop runs
        while True:
            try:
                reply = self._client.get_shell_msg(timeout=1.0)
            except queue.Empty:
                if not self.alive or time.monotonic() > deadline:
                    raise OncallError("sandbox_start", "the kernel did not answer") from None
                continue
            if reply["msg_type"] == "kernel_info_reply":
                break
        # The kernel announces itself on IOPub; wait until the subscription is live so the
        # first execution's output is not lost.
        while True:
            try:
                self._client.get_iopub_msg(timeout=0.2)
            except queue.Empty:
                break

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def execute(
        self, code: str, timeout_s: float, max_bytes: int, max_images: int, figures: FigureStore
    ) -> ExecutionResult:
        """Run `code`; never raises for the code's own failures (they are in the result)."""
        self.last_used = time.monotonic()
        started = time.perf_counter()
        out = OutputCollector(max_bytes, max_images, figures)
        msg_id = self._client.execute(code, allow_stdin=False, stop_on_error=True)
        deadline = time.monotonic() + timeout_s
        interrupted_at: float | None = None
        while True:
            now = time.monotonic()
            if now > deadline or (interrupted_at and now - interrupted_at > INTERRUPT_GRACE_S):
                self.kill()
                note = (
                    f"stopped: the code ran longer than {timeout_s:g} s"
                    if interrupted_at is None
                    else "stopped: the output cap was hit and the code did not stop"
                )
                note += "; the kernel was killed and its variables are lost"
                return out.finish("timeout", note, _ms(started))
            try:
                msg = self._client.get_iopub_msg(timeout=min(0.5, deadline - now))
            except queue.Empty:
                if not self.alive:
                    return out.finish("died", self._death_note(), _ms(started))
                continue
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "status" and content.get("execution_state") == "idle":
                break
            out.add(kind, content)
            if out.overflowed and interrupted_at is None:
                self.interrupt()
                interrupted_at = time.monotonic()
        self.last_used = time.monotonic()
        return out.finish("ok", None, _ms(started))

    def put_file(self, name: str, data: bytes) -> str:
        """Write `data` into the scratch dir as `name`; the path the code sees. Raises
        ValueError for a bad name, OSError when it does not fit."""
        self._fs.put_file(name, data, self.uid if self._isolated else None)
        scratch = SCRATCH if self._isolated else str(self._fs.host_path("scratch"))
        return f"{scratch}/{name}"

    def interrupt(self) -> None:
        """KeyboardInterrupt in the running code (ipykernel's message interrupt mode)."""
        msg = self._client.session.msg("interrupt_request", {})
        self._client.control_channel.send(msg)

    def _death_note(self) -> str:
        code = self._proc.poll()
        why = {
            -9: "killed (SIGKILL)",
            137: "killed (SIGKILL)",
            152: "CPU-time limit reached",
            134: "aborted, usually out of memory",
            139: "crashed, usually out of memory",
        }
        reason = why.get(code if code is not None else 0, f"exit status {code}")
        return (
            f"the Python kernel died ({reason}), probably by exceeding a sandbox limit; its "
            "variables are lost and the next call starts a fresh kernel"
        )

    def _stderr(self) -> str:
        if self._proc.stderr is None or self.alive:
            return ""
        return self._proc.stderr.read().decode("utf-8", "replace").strip()[-500:]

    def kill(self) -> None:
        """Stop the kernel and everything it started (idempotent). Killing bwrap tears
        down the pid namespace, which SIGKILLs every process inside it."""
        try:
            with contextlib.suppress(Exception):
                self._client.stop_channels()
            if self._proc.poll() is None:
                if self._isolated:
                    self._proc.kill()
                else:
                    os.killpg(self._proc.pid, 9)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=10)
            if self._proc.stderr is not None:
                self._proc.stderr.close()
        finally:
            self._fs.close()


def _connection_info() -> dict[str, Any]:
    info: dict[str, Any] = {f"{c}_port": i + 1 for i, c in enumerate(CHANNELS)}
    info.update(
        transport="ipc",
        key=secrets.token_hex(32),
        signature_scheme="hmac-sha256",
        kernel_name="",
    )
    return info


def _read_child_pid(fd: int, proc: subprocess.Popen[bytes]) -> int:
    """bubblewrap writes `{"child-pid": N, ...}` to --info-fd once the sandbox exists."""
    data = b""
    while not data.rstrip().endswith(b"}"):
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
    try:
        return int(json.loads(data)["child-pid"])
    except (ValueError, KeyError) as exc:
        proc.wait(timeout=10)
        err = proc.stderr.read().decode("utf-8", "replace") if proc.stderr else ""
        raise OncallError("sandbox_start", f"bubblewrap did not start: {err.strip()}") from exc


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
