"""Kernels per conversation: a warm spare for latency, idle reaping, reset.

Each conversation (thread id) owns one kernel, so variables survive between calls in a
thread and never leak across threads. Calls in one conversation are serialized; different
conversations run in parallel. A new conversation takes a spare kernel that was started
(and had numpy/pandas/matplotlib imported) in the background, so its first call costs
milliseconds, not a kernel start. A conversation's figures (figures.py) live as long as the
conversation does here: reset, idle reaping, eviction and `close` delete them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Protocol

from oncall.core.errors import OncallError
from oncall.core.settings import SandboxSettings
from tools.sandbox.figures import FigureStore, sweep_figures
from tools.sandbox.isolation import Isolation, Limits, build_font_cache
from tools.sandbox.kernel import SandboxKernel
from tools.sandbox.kernelfs import sweep_stale
from tools.sandbox.result import ExecutionResult

MB = 1024 * 1024

WARMUP = "import numpy, pandas, matplotlib.pyplot\ndel numpy, pandas, matplotlib"


class PythonExecutor(Protocol):
    """Runs Python for a conversation. The Jupyter pool is the implementation; tests may
    provide their own."""

    def run(self, conversation: str, code: str) -> ExecutionResult: ...

    def reset(self, conversation: str) -> None: ...

    def close(self) -> None: ...


@dataclass
class _Session:
    figures: FigureStore
    kernel: SandboxKernel | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    last_used: float = field(default_factory=time.monotonic)


class KernelPool:
    """The Jupyter executor: one sandboxed kernel per conversation."""

    def __init__(self, settings: SandboxSettings, isolation: Isolation, files_dir: Path):
        self.settings = settings
        self.isolation = isolation
        self.files_dir = files_dir
        self._limits = Limits.from_settings(settings)
        self._lock = threading.Lock()
        self._sessions: OrderedDict[str, _Session] = OrderedDict()  # least recent first
        self._spares: list[SandboxKernel] = []
        self._warming = 0
        capacity = settings.max_kernels + settings.warm_kernels
        self._free_uids = list(range(settings.uid_base, settings.uid_base + capacity))
        self._closed = threading.Event()
        self._reaper: threading.Thread | None = None
        self._font_lock = threading.Lock()
        self._font_checked = False
        # Leftovers of an agent that died: mounts of half-started kernels, and figures of
        # conversations no process can still be using.
        sweep_stale()
        sweep_figures(files_dir, settings.idle_timeout_s)

    # --- public ---------------------------------------------------------------------

    def run(self, conversation: str, code: str) -> ExecutionResult:
        """Execute `code` in the conversation's kernel (started or taken from the spares if
        it has none). Raises `OncallError` only when no kernel can be had."""
        session = self._session(conversation)
        with session.lock:
            if self._sessions.get(conversation) is not session:  # reaped while we waited
                return self.run(conversation, code)
            kernel = self._live_kernel(session)
            result = kernel.execute(
                code,
                timeout_s=self.settings.timeout_s,
                max_bytes=self.settings.max_output_kb * 1024,
                max_images=self.settings.max_images,
                figures=session.figures,
            )
            session.last_used = time.monotonic()
            if not kernel.alive:
                self._release(kernel)
                session.kernel = None
        self._refill()
        return result

    def put_file(self, conversation: str, name: str, data: bytes) -> str:
        """Put `data` into the conversation's scratch dir as `name` (replacing a file of that
        name) and return the path its code opens. The file lives as long as the kernel:
        a reset, a timeout or a crash loses it. Raises `OncallError` ("sandbox_file") for a
        bad name, a file over `input_file_mb`, or a full scratch dir."""
        cap = self.settings.input_file_mb * MB
        if len(data) > cap:
            raise OncallError(
                "sandbox_file",
                f"{name} is {len(data) / MB:.1f} MB; files handed to run_python may be at "
                f"most {self.settings.input_file_mb} MB (sandbox.input_file_mb)",
            )
        session = self._session(conversation)
        with session.lock:
            if self._sessions.get(conversation) is not session:
                return self.put_file(conversation, name, data)
            kernel = self._live_kernel(session)
            try:
                return kernel.put_file(name, data)
            except ValueError as exc:
                raise OncallError("sandbox_file", str(exc)) from exc
            except OSError as exc:
                raise OncallError(
                    "sandbox_file",
                    f"{name} does not fit in the conversation's scratch dir "
                    f"({self.settings.scratch_mb} MB, {self.settings.scratch_files} files): "
                    f"{exc.strerror}",
                ) from exc

    def reset(self, conversation: str) -> None:
        """Forget the conversation's variables, scratch files and figures (its kernel is
        stopped)."""
        with self._lock:
            session = self._sessions.pop(conversation, None)
        if session is not None:
            with session.lock:
                if session.kernel is not None:
                    self._release(session.kernel)
                    session.kernel = None
                session.figures.clear()

    def prewarm(self) -> None:
        """Start the spare kernels now (servers call this at start-up; the CLI does not)."""
        self._refill()

    def stats(self) -> dict[str, int]:
        with self._lock:
            live = sum(1 for s in self._sessions.values() if s.kernel is not None)
            return {"conversations": live, "spares": len(self._spares), "warming": self._warming}

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            sessions, self._sessions = list(self._sessions.values()), OrderedDict()
            spares, self._spares = self._spares, []
        for session in sessions:
            if session.kernel is not None:
                session.kernel.kill()
            session.figures.clear()
        for kernel in spares:
            kernel.kill()

    def __enter__(self) -> KernelPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- kernels --------------------------------------------------------------------

    def _session(self, conversation: str) -> _Session:
        if self._closed.is_set():
            raise OncallError("sandbox_closed", "the sandbox pool is shut down")
        self._start_reaper()
        with self._lock:
            session = self._sessions.get(conversation)
            if session is None:
                session = self._sessions[conversation] = _Session(self._figures(conversation))
            self._sessions.move_to_end(conversation)
            return session

    def _figures(self, conversation: str) -> FigureStore:
        s = self.settings
        return FigureStore(
            self.files_dir / _safe_name(conversation),
            max_files=s.conversation_figures,
            max_bytes=s.conversation_figures_mb * MB,
            max_file_bytes=s.max_figure_kb * 1024,
        )

    def _live_kernel(self, session: _Session) -> SandboxKernel:
        """The session's kernel, replaced when it died (call with `session.lock` held)."""
        kernel = session.kernel
        if kernel is None or not kernel.alive:
            if kernel is not None:
                self._release(kernel)
            kernel = session.kernel = self._take_kernel()
        return kernel

    def _take_kernel(self) -> SandboxKernel:
        with self._lock:
            while self._spares:
                kernel = self._spares.pop()
                if kernel.alive:
                    return kernel
                self._free_uids.append(kernel.uid)
        return self._start_kernel(warm=False)

    def _isolation(self) -> Isolation:
        """The isolation, with matplotlib's font cache built once on first use."""
        with self._font_lock:
            if not self._font_checked:
                cache = build_font_cache(self.isolation.python, self.files_dir / "mpl-cache")
                self.isolation = replace(self.isolation, font_cache=cache)
                self._font_checked = True
            return self.isolation

    def _start_kernel(self, warm: bool) -> SandboxKernel:
        isolation = self._isolation()
        uid = self._claim_uid()
        try:
            kernel = SandboxKernel(isolation, self._limits, uid)
        except BaseException:
            with self._lock:
                self._free_uids.append(uid)
            raise
        if warm:
            nowhere = FigureStore(self.files_dir / "warm-up", 0, 0, 0)  # max_images=0 below
            try:
                kernel.execute(WARMUP, self.settings.timeout_s * 2, 64 * 1024, 0, nowhere)
            except BaseException:
                self._release(kernel)
                raise
        return kernel

    def _claim_uid(self) -> int:
        with self._lock:
            if not self._free_uids:
                self._evict_idle_locked()
            if not self._free_uids:
                raise OncallError(
                    "sandbox_busy",
                    f"all {self.settings.max_kernels} sandbox kernels are busy; try again in "
                    "a moment (or raise ONCALL_SANDBOX__MAX_KERNELS)",
                )
            return self._free_uids.pop(0)

    def _evict_idle_locked(self) -> None:
        """Stop the least recently used conversation kernel that is not running."""
        for name, session in self._sessions.items():
            if session.kernel is not None and session.lock.acquire(blocking=False):
                try:
                    kernel, session.kernel = session.kernel, None
                finally:
                    session.lock.release()
                del self._sessions[name]
                kernel.kill()
                session.figures.clear()
                self._free_uids.append(kernel.uid)
                return

    def _release(self, kernel: SandboxKernel) -> None:
        kernel.kill()
        with self._lock:
            self._free_uids.append(kernel.uid)

    def _refill(self) -> None:
        """Top the spares up to `warm_kernels`, in the background."""
        with self._lock:
            missing = self.settings.warm_kernels - len(self._spares) - self._warming
            if missing <= 0 or self._closed.is_set():
                return
            self._warming += missing
        for _ in range(missing):
            threading.Thread(target=self._warm_one, name="sandbox-warm", daemon=True).start()

    def _warm_one(self) -> None:
        kernel: SandboxKernel | None = None
        try:
            kernel = self._start_kernel(warm=True)
        except (OncallError, OSError):
            kernel = None  # no room or no start: the next call starts one and says why
        with self._lock:
            self._warming -= 1
            if kernel is not None and not self._closed.is_set():
                self._spares.append(kernel)
                kernel = None
        if kernel is not None:
            self._release(kernel)

    # --- reaping --------------------------------------------------------------------

    def _start_reaper(self) -> None:
        with self._lock:
            if self._reaper is None:
                self._reaper = threading.Thread(
                    target=self._reap_loop, name="sandbox-reaper", daemon=True
                )
                self._reaper.start()

    def _reap_loop(self) -> None:
        interval = min(30.0, self.settings.idle_timeout_s / 4)
        while not self._closed.wait(interval):
            self.reap_idle()

    def reap_idle(self, now: float | None = None) -> int:
        """Stop conversation kernels idle for longer than `idle_timeout_s`; returns how
        many were stopped. Dead spares are dropped too."""
        now = time.monotonic() if now is None else now
        stopped: list[SandboxKernel] = []
        ended: list[_Session] = []
        with self._lock:
            for name, session in list(self._sessions.items()):
                idle = now - session.last_used > self.settings.idle_timeout_s
                if idle and session.lock.acquire(blocking=False):
                    try:
                        if session.kernel is not None:
                            stopped.append(session.kernel)
                        del self._sessions[name]
                        ended.append(session)
                    finally:
                        session.lock.release()
            dead = [k for k in self._spares if not k.alive]
            self._spares = [k for k in self._spares if k.alive]
        for kernel in stopped + dead:
            self._release(kernel)
        for session in ended:
            session.figures.clear()
        return len(stopped)


def _safe_name(conversation: str) -> str:
    """A file-system-safe folder name for a thread id (ids come from users' clients)."""
    return hashlib.sha256(conversation.encode()).hexdigest()[:16]
