"""Sandboxed Python for the `run_python` tool: one Jupyter kernel per conversation inside
bubblewrap, with resource limits (see `isolation.py` for what the kernel can and cannot
see, `pool.py` for kernel lifetimes, `result.py` for what comes back)."""

from __future__ import annotations

from pathlib import Path

from oncall.core.settings import SandboxSettings
from tools.sandbox.isolation import Isolation, detect_isolation
from tools.sandbox.pool import KernelPool, PythonExecutor
from tools.sandbox.result import ExecutionResult

__all__ = [
    "ExecutionResult",
    "Isolation",
    "KernelPool",
    "PythonExecutor",
    "build_executor",
    "detect_isolation",
]


def build_executor(settings: SandboxSettings, data_dir: Path) -> KernelPool | None:
    """The Jupyter pool, or None when `sandbox.enabled` is off. Raises `ConfigError` when
    kernels cannot be isolated here (and `sandbox.allow_unsafe_local` is off). Figures are
    written under `data_dir/sandbox/<conversation hash>/`."""
    if not settings.enabled:
        return None
    return KernelPool(settings, detect_isolation(settings), data_dir / "sandbox")
