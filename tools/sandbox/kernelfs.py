"""The writable part of a kernel's sandbox: one tmpfs per kernel, mounted by the host.

bubblewrap's `--tmpfs` takes a size but no inode limit, and empty files cost no bytes:
300,000 of them in an "8 MB" scratch dir cost the host about 300 MB of kernel memory. So
the host mounts the tmpfs itself (`size=`, `nr_inodes=`), bubblewrap binds its folders into
the sandbox (`scratch` at /scratch, `kernel` at /run/kernel for ZeroMQ's sockets, `tmp` at
/tmp when /tmp cannot be a symlink, see isolation.py), and the host detaches its own mount
as soon as the kernel is up: nothing stays mounted on the host, and the tmpfs goes away
with the kernel. The three folders share the one size and inode budget.

The host never walks a path that sandboxed code can write. It keeps descriptors of the
folders, opened before any sandboxed code ran; it writes input files with
`openat(O_NOFOLLOW | O_EXCL)`; and it reaches the kernel's sockets through
`/proc/self/fd/N/` only after sealing the socket folder (root-owned 0755, so the kernel's
uid can no longer add, remove or rename entries) and checking every socket with lstat. A
kernel can therefore not swap its sockets for symlinks to host sockets that the agent
(root) would then connect to.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from oncall.core.errors import OncallError

PREFIX = "oncall-kernel-"
FOLDERS = {"scratch": 0o1777, "kernel": 0o777, "tmp": 0o1777}
FILE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
MS_NOSUID, MS_NODEV, MNT_DETACH = 2, 4, 2
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

_libc = ctypes.CDLL(None, use_errno=True)
_libc.mount.argtypes = [ctypes.c_char_p] * 3 + [ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


class KernelFs:
    """A kernel's private folder on the host (root only) holding `fs`, the tmpfs."""

    def __init__(self, size_bytes: int, inodes: int, mount: bool):
        self.private = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))  # 0700
        self.root = self.private / "fs"
        self.root.mkdir(mode=0o700)
        self._mounted = False
        self._fds: dict[str, int] = {}
        try:
            if mount:
                _mount_tmpfs(self.root, size_bytes, inodes)
                self._mounted = True
            for name, mode in FOLDERS.items():
                folder = self.root / name
                folder.mkdir()
                folder.chmod(mode)  # mkdir's mode goes through the umask
                self._fds[name] = os.open(folder, _DIR_FLAGS)
        except BaseException:
            self.close()
            raise

    def host_path(self, folder: str) -> Path:
        """Where `folder` is on the host, until `detach` (for bubblewrap's binds)."""
        return self.root / folder

    @property
    def socket_base(self) -> str:
        """The prefix of the kernel's socket paths as the host connects to them."""
        return f"/proc/self/fd/{self._fds['kernel']}/k"

    def sockets_exist(self, names: Iterable[str]) -> bool:
        return all(self._lstat("kernel", name) is not None for name in names)

    def seal_sockets(self, names: Iterable[str]) -> None:
        """Make the socket folder read-only for the kernel, then check each entry is a
        socket (not a link). Call once the kernel has bound them, before any user code."""
        os.chmod(self._fds["kernel"], 0o755)
        for name in names:
            st = self._lstat("kernel", name)
            if st is None or not stat.S_ISSOCK(st.st_mode):
                raise OncallError("sandbox_start", f"the kernel's socket {name} is not a socket")

    def put_file(self, name: str, data: bytes, uid: int | None) -> None:
        """Write `data` to the scratch folder as `name`, owned by `uid`. Whatever the kernel
        left under that name (a symlink, say) is removed, never followed. Raises ValueError
        for a bad name, OSError (ENOSPC: full) from the file system."""
        if not FILE_NAME.fullmatch(name):
            raise ValueError(
                f"bad file name {name!r}: use letters, digits, '.', '_' and '-' only, "
                "not starting with '.' or '-', at most 128 characters"
            )
        folder = self._fds["scratch"]
        try:
            os.unlink(name, dir_fd=folder)
        except FileNotFoundError:
            pass
        except IsADirectoryError:
            raise ValueError(f"{name} is a folder in the scratch dir; pick another name") from None
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(name, flags, 0o644, dir_fd=folder)
        try:
            if uid is not None:
                os.fchown(fd, uid, uid)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=folder)
            raise
        finally:
            os.close(fd)

    def detach(self) -> None:
        """Drop the host's mount (the sandbox keeps its binds; idempotent)."""
        if self._mounted:
            _umount(self.root)
            self._mounted = False

    def close(self) -> None:
        """Release everything (idempotent): the tmpfs is freed once the sandbox is gone."""
        with contextlib.suppress(OSError):  # still mounted: rmtree never follows links
            self.detach()
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()
        shutil.rmtree(self.private, ignore_errors=True)

    def _lstat(self, folder: str, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=self._fds[folder], follow_symlinks=False)
        except FileNotFoundError:
            return None


def sweep_stale() -> int:
    """Remove kernel folders left by agent processes that died (a crash between a kernel's
    mount and its detach leaves a small empty tmpfs mounted); returns how many."""
    removed = 0
    for private in Path(tempfile.gettempdir()).glob(f"{PREFIX}*-*"):
        pid = private.name[len(PREFIX) :].split("-", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            _umount(private / "fs")
        shutil.rmtree(private, ignore_errors=True)
        removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _mount_tmpfs(target: Path, size_bytes: int, inodes: int) -> None:
    options = f"size={size_bytes},nr_inodes={inodes},mode=0700".encode()
    flags = MS_NOSUID | MS_NODEV
    if _libc.mount(b"tmpfs", os.fsencode(target), b"tmpfs", flags, options) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot mount the kernel's tmpfs: {os.strerror(err)}")


def _umount(target: Path) -> None:
    if _libc.umount2(os.fsencode(target), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"cannot unmount {target}: {os.strerror(err)}")
