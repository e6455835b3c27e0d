"""Attacks on the operating system's interface from inside a run_python kernel: the kernel
keyring, new namespaces and io_uring (the seccomp filter), the host following links the
sandbox planted (kernel sockets, input files), and resources the size caps did not see
(inodes, figures). Real kernels in real bubblewrap sandboxes, like test_sandbox_attacks.py;
each test also checks the attacked conversation and a bystander still work.

System call numbers are x86_64's: the module is skipped on other machines.
"""

from __future__ import annotations

import ast
import base64
import contextlib
import os
import platform
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncall.core.errors import ConfigError, OncallError
from oncall.core.settings import SandboxSettings
from tools.sandbox import KernelPool, build_executor

pytestmark = pytest.mark.skipif(platform.machine() != "x86_64", reason="x86_64 syscall numbers")

CANARY = "canary-keyring-51e0"
SETTINGS = SandboxSettings(
    timeout_s=20,
    memory_mb=768,
    max_output_kb=64,
    scratch_mb=8,
    scratch_files=1024,
    max_images=8,
    max_figure_kb=256,
    conversation_figures=5,
    conversation_figures_mb=1,
    input_file_mb=1,
    warm_kernels=0,
    max_kernels=6,
    uid_base=215_000,
)
# ctypes helpers the attacks share: raw system calls, returning (result, errno).
SYSCALLS = """
import ctypes, errno, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys_call(nr, *args):
    ctypes.set_errno(0)
    args = [ctypes.c_long(a) if isinstance(a, int) else a for a in args]
    res = libc.syscall(ctypes.c_long(nr), *args)
    return res, errno.errorcode.get(ctypes.get_errno(), ctypes.get_errno())
"""


def _pool(data: Path, **changes: object) -> KernelPool:
    settings = SETTINGS.model_copy(update=changes)
    try:
        executor = build_executor(settings, data)
    except ConfigError as exc:
        if os.geteuid() != 0:
            pytest.skip(f"sandbox isolation needs root here: {exc.detail}")
        raise
    assert executor is not None and executor.isolation.kind == "bwrap"
    return executor


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelPool]:
    executor = _pool(tmp_path_factory.mktemp("sandbox-os"))
    executor.run("bystander", "keep = 'still here'")
    yield executor
    executor.close()


def assert_recovered(pool: KernelPool, conversation: str) -> None:
    again = pool.run(conversation, "print(6 * 7)")
    assert again.ok and again.stdout == "42\n", again
    bystander = pool.run("bystander", "keep")
    assert bystander.ok and bystander.result == "'still here'", bystander


# --- 4: the kernel keyring ---------------------------------------------------------------


def test_keys_do_not_pass_to_the_next_conversation_or_survive_a_restart(
    tmp_path: Path,
) -> None:
    # One uid only, so the second conversation (and the restarted pool) gets the same one.
    add = SYSCALLS + (
        f"key = sys_call(248, b'user', b'oncall-attack', b'{CANARY}', {len(CANARY)}, -4)\n"
        "print('add', *key)"
    )
    read = SYSCALLS + (
        "key = sys_call(250, 10, -4, b'user', b'oncall-attack', 0)\n"  # KEYCTL_SEARCH @u
        "buf = ctypes.create_string_buffer(256)\n"
        "got = sys_call(250, 11, key[0], buf, 256) if key[0] > 0 else key\n"  # KEYCTL_READ
        "print('read', buf.value.decode(errors='replace'), *got)"
    )
    with _pool(tmp_path / "a", max_kernels=1, uid_base=218_000) as first:
        planted = first.run("alice", add)
        first.reset("alice")
        later = first.run("mallory", read)
        uids = first.run("mallory", "import os; os.getuid()")
    assert uids.result == "218000"
    with _pool(tmp_path / "b", max_kernels=1, uid_base=218_000) as restarted:
        after_restart = restarted.run("mallory", read)
    assert planted.ok and planted.stdout.split()[1:] == ["-1", "EPERM"], planted
    for result in (later, after_restart):
        assert result.ok and CANARY not in result.stdout, result
        assert "EPERM" in result.stdout, result


# --- 5: namespaces, io_uring and the rest of the filter ---------------------------------


def test_namespaces_cannot_be_created_in_any_way(pool: KernelPool) -> None:
    code = (
        SYSCALLS
        + """
import ast
CLONE_NEWUSER, CLONE_NEWNS, SIGCHLD = 0x10000000, 0x20000, 17
r, w = os.pipe()
if os.fork() == 0:  # unshare(CLONE_NEWUSER) wants a single-threaded process
    res = libc.unshare(CLONE_NEWUSER | CLONE_NEWNS)
    got = [res, errno.errorcode.get(ctypes.get_errno())]
    if res == 0:  # the hole: root in a namespace of its own, where mount works
        got.append(libc.mount(b'none', b'/scratch', b'tmpfs', 0, None))
    os.write(w, repr(got).encode())
    os._exit(0)
os.close(w)
got = ast.literal_eval(os.read(r, 200).decode())
os.wait()
out = {'unshare': tuple(got[:2])}
if len(got) > 2:
    out['mount'] = got[2]
pid = sys_call(56, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)  # clone(2)
if pid[0] == 0:
    os._exit(0)
if pid[0] > 0:
    os.waitpid(pid[0], 0)
out['clone'] = pid
args = (ctypes.c_uint64 * 11)(CLONE_NEWUSER, 0, 0, 0, SIGCHLD)
out['clone3'] = sys_call(435, args, 88)
if out['clone3'][0] == 0:
    os._exit(0)
out['setns'] = sys_call(308, os.open('/proc/self/ns/user', os.O_RDONLY), 0)
print(out)
"""
    )
    result = pool.run("userns", code)
    assert result.ok, result
    assert "'mount'" not in result.stdout, result
    out = ast.literal_eval(result.stdout)  # {call: (result, errno)}
    assert out["unshare"] == (-1, "EPERM") and out["clone"] == (-1, "EPERM"), out
    assert out["clone3"] == (-1, "ENOSYS") and out["setns"] == (-1, "EPERM"), out
    assert_recovered(pool, "userns")


def test_the_filter_is_on_and_data_science_still_works(pool: KernelPool) -> None:
    code = (
        SYSCALLS
        + """
params = ctypes.create_string_buffer(120)
blocked = {
    'io_uring_setup': sys_call(425, 4, params),
    'keyctl': sys_call(250, 0, -3, 0, 0, 0),
    'bpf': sys_call(321, 0, 0, 0),
    'perf_event_open': sys_call(298, 0, 0, -1, -1, 0),
    'userfaultfd': sys_call(323, 0),
    'ptrace': sys_call(101, 16, 1, 0, 0),
    'memfd_create': sys_call(319, b'x', 0),
    'vsock': sys_call(41, 40, 1, 0),
}
status = open('/proc/self/status').read()
import subprocess, sys  # the filter holds in children, and a foreign ABI (x32) is killed
x32_getpid = 'import ctypes; ctypes.CDLL(None).syscall(0x40000000 | 39)'
x32 = subprocess.run([sys.executable, '-c', x32_getpid])
import numpy as np, pandas as pd, matplotlib.pyplot as plt
df = pd.DataFrame({'a': np.arange(6), 'b': list('xyxyxy')})
total = int(df.groupby('b').a.sum().loc['y'])
plt.plot(df.a, df.a ** 2); plt.savefig('/scratch/plot.png'); plt.close()
png = open('/scratch/plot.png', 'rb').read(4)
import socket; socket.socket(socket.AF_INET6).close(); socket.socketpair()
print(blocked, 'Seccomp:\\t2' in status, x32.returncode, total, png)
"""
    )
    result = pool.run("filter", code)
    assert result.ok, result
    blocked, rest = result.stdout.rsplit("}", 1)
    calls = ast.literal_eval(blocked + "}")
    assert all(res == -1 for res, _ in calls.values()), calls
    assert {e for _, e in calls.values()} <= {"EPERM", "ENOSYS", "EAFNOSUPPORT"}, calls
    assert calls["vsock"][1] == "EAFNOSUPPORT"
    on, x32, total, png = rest.split(maxsplit=3)
    assert on == "True" and x32 == "-31", "seccomp mode 2; SIGSYS for a foreign ABI"
    assert total == "9" and png.strip() == "b'\\x89PNG'"
    assert_recovered(pool, "filter")


# --- 6: the host following links in the sandbox's writable tree -------------------------


def test_kernel_sockets_cannot_be_swapped_for_links_to_host_sockets(
    pool: KernelPool, tmp_path: Path
) -> None:
    bait_path = tmp_path / "host-service.sock"  # stands for any host socket (docker, ...)
    bait = socket.socket(socket.AF_UNIX)
    bait.bind(str(bait_path))
    bait.listen(8)
    bait.settimeout(6)
    connected: list[object] = []
    waiter = threading.Thread(target=lambda: _accept(bait, connected), daemon=True)
    waiter.start()
    code = f"""
import os, glob, time
done = []
for path in sorted(glob.glob('/run/kernel/k-*')):
    try:
        os.unlink(path); os.symlink({str(bait_path)!r}, path); done.append(path)
    except OSError as e:
        pass
k = get_ipython().kernel
k.stdin_socket.close(linger=0)  # the host's stdin channel reconnects, by path
time.sleep(2)
print('swapped', done, os.access('/run/kernel', os.W_OK))
"""
    result = pool.run("sockets", code)
    waiter.join(8)
    bait.close()
    assert not connected, "the agent (root) connected to a host socket through a link"
    assert result.stdout == "swapped [] False\n", result
    pool.reset("sockets")
    assert_recovered(pool, "sockets")


def _accept(server: socket.socket, connected: list[object]) -> None:
    with contextlib.suppress(OSError):  # the timeout: nobody came, as it should be
        connected.append(server.accept())


def test_input_files_never_follow_a_planted_link(pool: KernelPool, tmp_path: Path) -> None:
    target = tmp_path / "host-file.txt"
    target.write_text("host data")
    planted = pool.run("files", f"import os; os.symlink({str(target)!r}, '/scratch/data.csv')")
    assert planted.ok, planted
    where = pool.put_file("files", "data.csv", b"a,b\n1,2\n")
    assert target.read_text() == "host data", "the host wrote through the link"
    read = pool.run("files", f"import os; open({where!r}).read(), os.stat({where!r}).st_uid")
    text, owner = ast.literal_eval(read.result or "")
    assert text == "a,b\n1,2\n" and owner >= SETTINGS.uid_base, "the kernel's own file"
    for bad in ("../x", ".hidden", "a/b", ""):
        with pytest.raises(OncallError, match="bad file name"):
            pool.put_file("files", bad, b"x")
    with pytest.raises(OncallError, match="at most 1 MB"):
        pool.put_file("files", "big.bin", b"0" * (2 << 20))
    assert_recovered(pool, "files")


# --- 7: resources the byte caps did not see ---------------------------------------------


def test_empty_files_stop_at_the_inode_limit(pool: KernelPool) -> None:
    code = """
n = 0
try:
    while n < 100_000:
        open(f'/scratch/f{n}', 'w').close(); n += 1
except OSError as e:
    print('stopped', n, e.errno)
for i in range(n):
    os.remove(f'/scratch/f{i}')
"""
    result = pool.run("inodes", "import os\n" + code)
    assert result.ok and result.stdout.startswith("stopped "), result
    created, err = result.stdout.split()[1:]
    assert int(created) <= SETTINGS.scratch_files and err == "28", "ENOSPC at the inode cap"
    assert_recovered(pool, "inodes")


FIGURES = """
import io, base64, matplotlib.pyplot as plt
from IPython.display import display
def figure(i):
    buf = io.BytesIO(); plt.figure(); plt.plot([0, i]); plt.savefig(buf, format='png')
    plt.close(); return buf.getvalue()
for i in range(4):
    display({'image/png': base64.b64encode(figure(i)).decode()}, raw=True)
"""


def test_figures_are_bounded_per_conversation_and_reset_deletes_them(pool: KernelPool) -> None:
    huge = base64.b64encode(b"\x89PNG\r\n\x1a\n" + os.urandom(400 * 1024)).decode()
    big = pool.run("figures", f"display({{'image/png': {huge!r}}}, raw=True)")
    assert not big.files and "per figure" in (big.error or ""), big
    results = [pool.run("figures", FIGURES) for _ in range(3)]
    folders = {f.parent for r in results for f in r.files}
    assert len(folders) == 1, results
    kept = list(folders.pop().glob("*.png"))
    assert len(kept) == SETTINGS.conversation_figures, "the quota holds across calls"
    assert sum(p.stat().st_size for p in kept) <= SETTINGS.conversation_figures_mb << 20
    assert "quota" in results[-1].for_model() and "reset=true" in results[-1].for_model()
    pool.reset("figures")
    assert not kept[0].parent.exists(), "reset deletes the conversation's figures"
    again = pool.run("figures", FIGURES)
    assert len(again.files) == 4, again
    assert_recovered(pool, "figures")


def test_idle_reaping_and_closing_delete_figures(tmp_path: Path) -> None:
    executor = _pool(tmp_path, uid_base=219_000, max_kernels=2)
    reaped = executor.run("c1", FIGURES)
    assert len(reaped.files) == 4, reaped
    executor.reap_idle(now=time.monotonic() + SETTINGS.idle_timeout_s + 1)
    assert not reaped.files[0].parent.exists(), "idle reaping deletes them"
    closed = executor.run("c2", FIGURES)
    assert closed.files, closed
    executor.close()
    assert not closed.files[0].parent.exists(), "closing the pool deletes them"
