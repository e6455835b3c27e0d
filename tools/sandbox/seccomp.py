"""The seccomp filter every sandboxed kernel runs under, compiled with libseccomp.

Namespaces, a uid of its own and rlimits leave the kernel's whole system-call interface
open; this filter closes the parts that cross those walls or widen the attack surface:

- new namespaces (`unshare`, `setns`, `clone` with a `CLONE_NEW*` flag; `clone3` answers
  ENOSYS so the C library falls back to `clone`, whose flags the filter can read): a new
  user namespace hands its creator every capability inside it (mount, for one);
- mounts of any kind (classic and the new mount API), `chroot`, `open_by_handle_at`;
- the kernel keyring (`add_key`, `keyctl`, `request_key`): keys are per uid and outlive
  the kernel, so a later conversation given the same uid could read them;
- io_uring, bpf, perf_event_open, userfaultfd: large kernel interfaces with a record of
  privilege escalations, and none of them needed for data analysis;
- other processes' memory and descriptors (`ptrace`, `process_vm_*`, `pidfd_getfd`, ...);
- whole-machine calls (kexec, modules, swap, reboot, syslog, ...);
- memory RLIMIT_AS does not see: `memfd_create` files and System V shared memory and
  message queues (bounded by the sandbox's fd and file-size limits otherwise, not by its
  memory cap);
- socket families other than unix, IPv4/IPv6 (already without a route out) and netlink:
  AF_VSOCK, for one, reaches a hypervisor whatever the network namespace says;
- `ioctl(TIOCSTI/TIOCLINUX)`: typing into a terminal.

Everything else is allowed: a deny list keeps numpy, pandas, matplotlib and subprocesses
working. System calls of a foreign ABI (i386, x32) kill the process (libseccomp's default
for a filter with only the native architecture). bubblewrap loads the program (`--seccomp
FD`) right before it executes the kernel's launcher chain, so prlimit, setpriv and the
kernel all run under it; it is inherited by every child and cannot be removed.
"""

from __future__ import annotations

import errno
import functools
import tempfile
from typing import Any

CLONE_NEW_FLAGS = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
DENIED = (
    # namespaces and mounts
    *("unshare", "setns", "mount", "umount2", "pivot_root", "chroot"),
    *("open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr"),
    *("open_tree_attr", "open_by_handle_at", "name_to_handle_at"),
    # the kernel keyring
    *("add_key", "keyctl", "request_key"),
    # large kernel interfaces
    *("io_uring_setup", "io_uring_enter", "io_uring_register", "bpf", "perf_event_open"),
    "userfaultfd",
    # other processes
    *("ptrace", "process_vm_readv", "process_vm_writev", "process_madvise", "pidfd_getfd"),
    "kcmp",
    # the whole machine
    *("kexec_load", "kexec_file_load", "reboot", "init_module", "finit_module"),
    *("delete_module", "swapon", "swapoff", "acct", "quotactl", "quotactl_fd", "syslog"),
    *("vhangup", "uselib", "lookup_dcookie", "iopl", "ioperm", "fanotify_init"),
    # memory outside RLIMIT_AS
    *("memfd_create", "memfd_secret", "shmget", "msgget"),
)
ENOSYS_CALLS = ("clone3",)
ALLOWED_FAMILIES = (1, 2, 10, 16)  # AF_UNIX, AF_INET, AF_INET6, AF_NETLINK
MAX_FAMILY = 46  # AF_MAX on Linux 6.x; anything at or above it is refused too
TERMINAL_IOCTLS = (0x5412, 0x541C)  # TIOCSTI, TIOCLINUX


def seccomp_problem() -> str | None:
    """Why no filter can be built here (None when it can)."""
    try:
        build_filter()
    except ImportError:
        return "the Python package pyseccomp is missing (pip install pyseccomp)"
    except (OSError, RuntimeError, ValueError) as exc:
        return f"libseccomp cannot build the filter ({exc}; apt-get install libseccomp2)"
    return None


@functools.lru_cache(maxsize=1)
def build_filter() -> bytes:
    """The compiled BPF program for this machine's architecture (built once)."""
    with tempfile.TemporaryFile() as out:
        make_filter().export_bpf(out)
        out.seek(0)
        return out.read()


def make_filter() -> Any:
    """The filter as a libseccomp (pyseccomp) object: `export_pfc` shows it readably."""
    import pyseccomp as sc  # raises RuntimeError when libseccomp itself is missing

    flt = sc.SyscallFilter(sc.ALLOW)
    eperm = sc.ERRNO(errno.EPERM)
    for name in DENIED:
        _deny(sc, flt, eperm, name)
    for name in ENOSYS_CALLS:
        _deny(sc, flt, sc.ERRNO(errno.ENOSYS), name)
    for flag in CLONE_NEW_FLAGS:
        _deny(sc, flt, eperm, "clone", sc.Arg(0, sc.MASKED_EQ, flag, flag))
    no_family = sc.ERRNO(errno.EAFNOSUPPORT)
    for call in ("socket", "socketpair"):
        for family in range(MAX_FAMILY):
            if family not in ALLOWED_FAMILIES:
                _deny(sc, flt, no_family, call, sc.Arg(0, sc.EQ, family))
        _deny(sc, flt, no_family, call, sc.Arg(0, sc.GE, MAX_FAMILY))
    for request in TERMINAL_IOCTLS:
        _deny(sc, flt, eperm, "ioctl", sc.Arg(1, sc.MASKED_EQ, 0xFFFFFFFF, request))
    return flt


def _deny(sc: Any, flt: Any, action: int, name: str, *args: Any) -> None:
    """Add one rule. A call newer than this libseccomp release cannot be named and is
    skipped (with libseccomp 2.5.4: `open_tree_attr`, which like `open_tree` needs
    CAP_SYS_ADMIN to copy a mount, and the kernel has no capabilities)."""
    number = sc.resolve_syscall(sc.Arch.NATIVE, name)
    if number < 0:
        return
    flt.add_rule(action, number, *args)
