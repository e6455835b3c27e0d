"""How a kernel is isolated: detection at start-up and the bubblewrap command line.

A kernel runs as `bwrap ... -- prlimit ... -- setpriv ... -- python -m ipykernel_launcher`:

- bubblewrap gives it new mount, pid, network, ipc, uts (and cgroup) namespaces. The root is
  an empty tmpfs with only /usr, a few /etc files, the interpreter's prefixes (read-only), a
  fresh /proc of its own pid namespace and a minimal /dev. The only writable places are the
  folders of the kernel's own tmpfs (kernelfs.py: capped in bytes and in files): /scratch,
  /run/kernel for the ZeroMQ sockets (sealed once the kernel is up) and /tmp where it cannot
  be a symlink to /scratch. Nothing of the host's home, the project (its `.env`) or other
  processes is visible; the network namespace has no interface but a downed loopback.
- bubblewrap loads a seccomp filter (seccomp.py) before the launcher chain runs: no new
  namespaces, mounts, keyrings, io_uring, bpf, ptrace and the like.
- prlimit caps address space, CPU time, processes, file size and open files.
- setpriv drops to a uid/gid of its own (`uid_base + slot`) with no capabilities and
  no_new_privs. RLIMIT_NPROC is not enforced for root, and counting it per uid makes the
  process cap per kernel.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from oncall.core.errors import ConfigError
from oncall.core.settings import SandboxSettings
from tools.sandbox.kernelfs import KernelFs
from tools.sandbox.seccomp import build_filter, seccomp_problem

SOCKET_DIR = "/run/kernel"  # inside the sandbox
CONNECTION_FILE = f"{SOCKET_DIR}/connection.json"
SCRATCH = "/scratch"
ETC_FILES = ("/etc/ld.so.cache", "/etc/localtime", "/etc/fonts", "/etc/mime.types")
PROBE_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Limits:
    memory_mb: int
    cpu_seconds: int
    max_processes: int
    scratch_mb: int
    scratch_files: int = 4096

    @classmethod
    def from_settings(cls, s: SandboxSettings) -> Limits:
        return cls(s.memory_mb, s.cpu_seconds, s.max_processes, s.scratch_mb, s.scratch_files)


@dataclass(frozen=True)
class Isolation:
    """What start-up found: `bwrap` (full isolation) or `unsafe-local` (rlimits only)."""

    kind: Literal["bwrap", "unsafe-local"]
    python: Path
    python_roots: tuple[Path, ...]  # read-only inside the sandbox (venv and base prefix)
    font_cache: Path | None = None  # matplotlib's fontlist JSON, built once on the host
    bwrap: str = ""
    setpriv: str = ""
    prlimit: str = ""
    seccomp: bytes = b""  # the compiled BPF filter bubblewrap loads (seccomp.py)


def prlimit_argv(prlimit: str, limits: Limits) -> list[str]:
    mb = 1024 * 1024
    return [
        prlimit,
        f"--as={limits.memory_mb * mb}",
        f"--cpu={limits.cpu_seconds}",
        f"--nproc={limits.max_processes}",
        f"--fsize={limits.scratch_mb * mb}",
        "--nofile=512",
        "--core=0",
        "--",
    ]


def kernel_env(python: Path, scratch: str) -> dict[str, str]:
    """The kernel's whole environment: nothing is inherited from the agent's."""
    return {
        "HOME": scratch,
        "TMPDIR": scratch,
        "PATH": f"{python.parent}:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        # The parent poller would take pid 1 (our namespace's init) for a dead parent.
        "JPY_PARENT_PID": "1",
        "MPLBACKEND": "module://matplotlib_inline.backend_inline",
        "MPLCONFIGDIR": f"{scratch}/.config/matplotlib",
        "IPYTHONDIR": f"{scratch}/.ipython",
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYDEVD_DISABLE_FILE_VALIDATION": "1",
        # Each thread's malloc arena reserves 64 MB of address space; with ~10 kernel
        # threads that alone would eat most of the RLIMIT_AS budget.
        "MALLOC_ARENA_MAX": "2",
    }


def kernel_command(python: Path, connection_file: str) -> list[str]:
    return [
        str(python),
        "-m",
        "ipykernel_launcher",
        "-f",
        connection_file,
        "--HistoryManager.enabled=False",
        "--IPKernelApp.interrupt_mode=message",
    ]


def _dirs_for(paths: list[Path], existing: frozenset[Path] = frozenset()) -> list[str]:
    """`--dir` for every ancestor of the bound paths (except `existing` mount points):
    directories bwrap creates on its own are mode 0700, which the unprivileged kernel could
    not traverse."""
    args: list[str] = []
    seen: set[Path] = set(existing)
    for path in paths:
        for parent in reversed(path.parents):
            if parent != Path("/") and parent not in seen:
                seen.add(parent)
                args += ["--perms", "0755", "--dir", str(parent)]
    return args


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr"]
    for name in ("bin", "lib", "lib64", "sbin"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    args += ["--perms", "0755", "--dir", "/etc"]
    for etc in ETC_FILES:
        if Path(etc).exists():
            args += ["--ro-bind", etc, etc]
    return args


def _font_cache_binds(cache: Path | None) -> list[str]:
    """matplotlib scans every font on first import (seconds); a read-only copy of the cache
    it wrote on the host makes that instant. Its folder must stay writable, so only the
    file is bound into the scratch tmpfs."""
    if cache is None or not cache.is_file():
        return []
    mpl = f"{SCRATCH}/.config/matplotlib"
    dirs = ["--perms", "1777", "--dir", f"{SCRATCH}/.config", "--perms", "1777", "--dir", mpl]
    return [*dirs, "--ro-bind", str(cache), f"{mpl}/{cache.name}"]


def build_font_cache(python: Path, folder: Path) -> Path | None:
    """Have `python` write matplotlib's font cache into `folder` (once; later calls reuse
    it). None when matplotlib is missing or fails: kernels then build their own."""
    existing = sorted(folder.glob("fontlist-*.json"))
    if existing:
        return existing[-1]
    folder.mkdir(parents=True, exist_ok=True)
    code = "import matplotlib.font_manager"  # builds and writes the cache at import
    env = {"MPLCONFIGDIR": str(folder), "HOME": str(folder), "PATH": "/usr/bin:/bin"}
    try:
        subprocess.run([str(python), "-c", code], env=env, capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    made = sorted(folder.glob("fontlist-*.json"))
    return made[-1] if made else None


def bwrap_argv(
    iso: Isolation,
    limits: Limits,
    uid: int,
    connection_file: Path,
    info_fd: int,
    fs_root: Path,
    seccomp_fd: int,
) -> list[str]:
    """The full command that starts one isolated kernel (pure: no side effects). `fs_root`
    is the kernel's tmpfs on the host (kernelfs.py), `seccomp_fd` a readable descriptor
    holding the compiled filter."""
    roots = sorted(set(iso.python_roots))
    isolation = [
        iso.bwrap,
        *("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"),
        *("--unshare-cgroup-try", "--die-with-parent", "--new-session"),
        *("--hostname", "sandbox", "--info-fd", str(info_fd), "--seccomp", str(seccomp_fd)),
    ]
    # /tmp is normally a symlink to the scratch dir; when the interpreter itself lives under
    # /tmp (a CI checkout, say) /tmp must be a real directory holding that bind instead, so
    # it is the tmpfs's `tmp` folder, bound before the binds that go inside it.
    under_tmp = any(root.is_relative_to("/tmp") for root in roots)
    tmp_mount = ("--bind", str(fs_root / "tmp"), "/tmp")
    filesystem = [
        *_system_binds(),
        *(tmp_mount if under_tmp else ()),
        *_dirs_for(roots, frozenset({Path("/tmp")}) if under_tmp else frozenset()),
        *[arg for root in roots for arg in ("--ro-bind", str(root), str(root))],
        *("--proc", "/proc", "--dev", "/dev"),
        *("--bind", str(fs_root / "scratch"), SCRATCH),
        *("--perms", "0755", "--dir", str(Path(SOCKET_DIR).parent)),
        *("--bind", str(fs_root / "kernel"), SOCKET_DIR),
        *("--ro-bind", str(connection_file), CONNECTION_FILE),
        *_font_cache_binds(iso.font_cache),
        *(() if under_tmp else ("--symlink", SCRATCH, "/tmp")),
        *("--chdir", SCRATCH, "--clearenv"),
    ]
    env = [arg for k, v in kernel_env(iso.python, SCRATCH).items() for arg in ("--setenv", k, v)]
    drop = [
        iso.setpriv,
        f"--reuid={uid}",
        f"--regid={uid}",
        *("--clear-groups", "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all", "--"),
    ]
    return [
        *isolation,
        *filesystem,
        *env,
        "--",
        *prlimit_argv(iso.prlimit, limits),
        *drop,
        *kernel_command(iso.python, CONNECTION_FILE),
    ]


def detect_isolation(settings: SandboxSettings) -> Isolation:
    """What this machine can do, checked by actually starting the sandbox once. Raises
    `ConfigError` rather than fall back to running code unsandboxed, unless
    `sandbox.allow_unsafe_local` is on."""
    python = Path(settings.python) if settings.python else Path(_current_python())
    return _detect(python, settings.allow_unsafe_local, settings.uid_base)


def _current_python() -> str:
    import sys

    return sys.executable


@functools.lru_cache(maxsize=4)
def _detect(python: Path, allow_unsafe: bool, uid: int) -> Isolation:
    roots = _python_roots(python)
    prlimit = shutil.which("prlimit") or ""
    if not prlimit:
        raise ConfigError(
            "sandbox", "`prlimit` (util-linux) is missing: apt-get install util-linux"
        )
    problem = _bwrap_problem()
    if problem is None:
        iso = Isolation(
            "bwrap",
            python,
            roots,
            bwrap=shutil.which("bwrap") or "",
            setpriv=shutil.which("setpriv") or "",
            prlimit=prlimit,
            seccomp=build_filter(),
        )
        problem = _smoke_test(iso, uid)
        if problem is None:
            return iso
    if allow_unsafe:
        return Isolation("unsafe-local", python, roots, prlimit=prlimit)
    raise ConfigError(
        "sandbox.allow_unsafe_local",
        f"run_python cannot be isolated here: {problem}. Fix that (scripts/setup.sh installs "
        "bubblewrap), or set ONCALL_SANDBOX__ENABLED=false to run without the tool, or "
        "ONCALL_SANDBOX__ALLOW_UNSAFE_LOCAL=true on a single-user development machine only",
    )


def _python_roots(python: Path) -> tuple[Path, ...]:
    code = (
        "import sys, importlib.util as u; assert u.find_spec('ipykernel'), 'no ipykernel'; "
        "print(sys.prefix); print(sys.base_prefix)"
    )
    try:
        out = subprocess.run(
            [str(python), "-c", code], env={}, capture_output=True, text=True, timeout=60
        )
    except OSError as exc:
        raise ConfigError("sandbox.python", f"cannot run {python}: {exc}") from exc
    if out.returncode != 0:
        raise ConfigError(
            "sandbox.python",
            f"{python} cannot import ipykernel ({out.stderr.strip()[-200:]}); install "
            "ipykernel, numpy, pandas and matplotlib into it, or point ONCALL_SANDBOX__PYTHON "
            "at an interpreter that has them",
        )
    return tuple(Path(line) for line in out.stdout.split())


def _bwrap_problem() -> str | None:
    if not shutil.which("bwrap"):
        return "bubblewrap is not installed (apt-get install bubblewrap)"
    if not shutil.which("setpriv"):
        return "`setpriv` (util-linux) is missing"
    if os.geteuid() != 0:
        return (
            "the agent does not run as root, so kernels cannot get a uid of their own "
            "(needed for a per-kernel process limit)"
        )
    return seccomp_problem()


# Run inside the sandbox by the start-up probe: prints "ok", or the checks that failed.
PROBE = """
import importlib.util, os
status = open('/proc/self/status').read()
checks = {
    'ipykernel importable': importlib.util.find_spec('ipykernel') is not None,
    'seccomp filter active': 'Seccomp:\\t2' in status,
    'own uid': os.getuid() != 0,
    'scratch writable': os.access('/scratch', os.W_OK),
}
print(' '.join(f'not {name};' for name, ok in checks.items() if not ok) or 'ok')
"""


def _smoke_test(iso: Isolation, uid: int) -> str | None:
    """Start the real sandbox once with a trivial command: namespaces or mounts may be
    forbidden (nested containers) even where bwrap is installed, and the filter must load."""
    try:
        fs = KernelFs(1024 * 1024, 256, mount=True)
    except OSError as exc:
        return f"the kernel's scratch tmpfs cannot be mounted ({exc.strerror})"
    info = os.open(os.devnull, os.O_WRONLY)  # bwrap's --info-fd report is not needed here
    try:
        with open_filter(iso.seccomp) as seccomp_fd:
            limits = Limits(512, 10, 32, 1, 256)
            argv = bwrap_argv(iso, limits, uid, Path(os.devnull), info, fs.root, seccomp_fd)
            cut = argv.index("-m")  # keep the launcher chain, replace `-m ipykernel_launcher`
            out = subprocess.run(
                [*argv[:cut], "-c", PROBE],
                env={},
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_S,
                pass_fds=[info, seccomp_fd],
            )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"bubblewrap failed to start: {exc}"
    finally:
        os.close(info)
        fs.close()
    if out.returncode != 0 or out.stdout.strip() != "ok":
        detail = out.stdout.strip()[-300:] or out.stderr.strip()[-300:] or out.returncode
        return f"the sandbox failed its start-up probe ({detail})"
    return None


@contextlib.contextmanager
def open_filter(program: bytes) -> Iterator[int]:
    """A readable descriptor holding `program`, for `bwrap --seccomp` (closed on exit)."""
    read, write = os.pipe()
    try:
        if len(program) > 65536:  # more than a pipe holds without a reader
            raise ValueError("the seccomp program is larger than a pipe buffer")
        os.write(write, program)
        os.close(write)
        write = -1
        yield read
    finally:
        os.close(read)
        if write >= 0:
            os.close(write)
