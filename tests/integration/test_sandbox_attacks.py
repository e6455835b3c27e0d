"""The attack suite: real kernels in real bubblewrap sandboxes, each attack must fail.

Every test asserts that the attack was contained AND that afterwards the host is fine (the
bystander conversation still has its variables, canaries are unread, no process of the
attacker's uid is left behind) AND that the next execution in the attacked conversation
works (in the same kernel, or in a fresh one when the attack cost the kernel its life).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from oncall.core.errors import ConfigError
from oncall.core.settings import SandboxSettings
from tests.conftest import REPO
from tools.sandbox import KernelPool, build_executor
from tools.sandbox.result import ExecutionResult

CANARY = "canary-7f3a9c0e5d"
SETTINGS = SandboxSettings(
    timeout_s=8,
    memory_mb=768,
    cpu_seconds=60,
    max_processes=48,
    max_output_kb=64,
    scratch_mb=8,
    warm_kernels=1,
    uid_base=210_000,
)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelPool]:
    os.environ["ONCALL_TEST_SECRET"] = CANARY  # the agent's environment holds a secret
    try:
        executor = build_executor(SETTINGS, tmp_path_factory.mktemp("sandbox-data"))
    except ConfigError as exc:
        if os.geteuid() != 0:
            pytest.skip(f"sandbox isolation needs root here: {exc.detail}")
        raise
    assert executor is not None and executor.isolation.kind == "bwrap"
    executor.run("bystander", f"keep = 'still here'\nopen('mine.txt', 'w').write('{CANARY}')")
    yield executor
    executor.close()
    del os.environ["ONCALL_TEST_SECRET"]


def run(pool: KernelPool, conversation: str, code: str) -> ExecutionResult:
    return pool.run(conversation, code)


def assert_recovered(pool: KernelPool, conversation: str) -> None:
    """The host and both conversations are fine after an attack."""
    again = run(pool, conversation, "print(6 * 7)")
    assert again.ok and again.stdout == "42\n", again
    bystander = run(pool, "bystander", "keep, open('mine.txt').read()")
    assert bystander.ok and bystander.result == f"('still here', '{CANARY}')", bystander
    leftovers = _host_processes_of_uids(SETTINGS.uid_base, SETTINGS.uid_base + 64)
    assert leftovers <= SETTINGS.max_processes * 3, "processes are capped per kernel uid"


def _host_processes_of_uids(low: int, high: int) -> int:
    count = 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                uid = os.stat(f"/proc/{pid}").st_uid
            except FileNotFoundError:
                continue
            count += low <= uid < high
    return count


def test_network_egress_to_the_internet_fails(pool: KernelPool) -> None:
    code = (
        "import socket\n"
        "try:\n"
        "    socket.create_connection(('1.1.1.1', 443), timeout=3); print('CONNECTED')\n"
        "except OSError as e: print('blocked', e.errno)\n"
        "try:\n"
        "    socket.getaddrinfo('pypi.org', 443); print('RESOLVED')\n"
        "except OSError as e: print('no dns')\n"
    )
    result = run(pool, "net", code)
    assert "blocked" in result.stdout and "no dns" in result.stdout, result
    assert "CONNECTED" not in result.stdout and "RESOLVED" not in result.stdout
    assert_recovered(pool, "net")


def test_a_server_on_the_hosts_loopback_is_unreachable(pool: KernelPool) -> None:
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    accepted: list[object] = []
    server.settimeout(5)
    thread = threading.Thread(target=lambda: _accept_once(server, accepted), daemon=True)
    thread.start()
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection(('127.0.0.1', {port}), timeout=3); print('CONNECTED')\n"
        "except OSError as e: print('blocked', e)\n"
    )
    result = run(pool, "loopback", code)
    thread.join(6)
    server.close()
    assert "blocked" in result.stdout and not accepted, result
    assert_recovered(pool, "loopback")


def _accept_once(server: socket.socket, accepted: list[object]) -> None:
    with contextlib.suppress(OSError):
        accepted.append(server.accept())


def test_host_secrets_are_out_of_reach(pool: KernelPool) -> None:
    code = f"""
import os, glob
found = []
if {CANARY!r} in str(os.environ): found.append('env')
for path in glob.glob('/proc/[0-9]*/environ') + ['/proc/1/environ']:
    try:
        if {CANARY!r} in open(path, errors='ignore').read(): found.append(path)
    except OSError:
        pass
for path in ['/root/.ssh', os.path.expanduser('~/.ssh'), {str(REPO / ".env")!r},
             {str(REPO / "pyproject.toml")!r}, '/etc/shadow', '/etc/passwd']:
    if os.path.exists(path): found.append(path)
print('found', found, os.getuid())
"""
    result = run(pool, "secrets", code)
    assert result.ok and result.stdout.startswith("found [] "), result
    assert int(result.stdout.split()[-1]) >= SETTINGS.uid_base, "runs as its own uid"
    assert_recovered(pool, "secrets")


def test_writing_outside_scratch_fails(pool: KernelPool) -> None:
    targets = ["/usr/pwned", "/etc/pwned", "/pwned", "/root/pwned", str(REPO / "pwned")]
    targets.append(str(Path(shutil.which("python3") or "/usr/bin/python3").parent / "pwned"))
    code = f"""
written = []
for path in {targets!r}:
    try:
        open(path, 'w').write('x'); written.append(path)
    except OSError:
        pass
import tempfile  # TMPDIR is the scratch dir (/tmp is only a symlink to it when the
open(tempfile.gettempdir() + '/ok.txt', 'w').write('fine')  # interpreter is not under /tmp)
print('written', written, open('/scratch/ok.txt').read())
"""
    result = run(pool, "write", code)
    assert result.ok and result.stdout == "written [] fine\n", result
    assert not any(Path(t).exists() for t in targets), "nothing appeared on the host"
    assert_recovered(pool, "write")


def test_fork_bomb_is_capped(pool: KernelPool) -> None:
    code = """
import os, time
n = 0
try:
    while True:
        if os.fork() == 0:
            try:
                while True:
                    os.fork()
            except OSError:
                pass
            time.sleep(2)
            os._exit(0)
        n += 1
except OSError as e:
    print('fork refused after', n)
"""
    result = run(pool, "forkbomb", code)
    assert "fork refused after" in result.stdout, result
    assert _host_processes_of_uids(SETTINGS.uid_base, SETTINGS.uid_base + 64) < 200
    time.sleep(2.5)  # the bomb's children exit on their own
    assert_recovered(pool, "forkbomb")


def test_memory_bomb_raises_memory_error(pool: KernelPool) -> None:
    code = "hog = []\nwhile True:\n    hog.append(bytearray(50 * 1024 * 1024))"
    result = run(pool, "memory", code)
    assert result.status in ("error", "died"), result
    if result.status == "error":
        assert "MemoryError" in (result.error or "")
        run(pool, "memory", "del hog")
    assert_recovered(pool, "memory")


def test_infinite_loop_is_killed_at_the_wall_clock_limit(pool: KernelPool) -> None:
    started = time.monotonic()
    result = run(pool, "loop", "x = 1\nwhile True:\n    pass")
    assert result.status == "timeout" and time.monotonic() - started < SETTINGS.timeout_s + 5
    assert "lost" in (result.error or "")
    lost = run(pool, "loop", "'x' in globals()")
    assert lost.result == "False", "a fresh kernel after the kill"
    assert_recovered(pool, "loop")


def test_huge_output_is_capped_and_interrupted(pool: KernelPool) -> None:
    result = run(pool, "output", "for i in range(3000):\n    print('y' * 10_000)")
    assert result.truncated and len(result.stdout) <= SETTINGS.max_output_kb * 1024, result
    assert len(result.for_model()) < 5000
    # Unbounded: ipykernel buffers faster than it sends, so the kernel may run out of
    # memory before the cap interrupts it; either way the flood is contained.
    flood = run(pool, "output", "while True:\n    print('y' * 10_000)")
    assert flood.truncated or flood.status == "died", flood
    assert len(flood.stdout) <= SETTINGS.max_output_kb * 1024
    assert_recovered(pool, "output")


def test_killing_the_parent_and_everything_else_only_hurts_the_attacker(
    pool: KernelPool,
) -> None:
    code = (
        "import os, signal\n"
        "for target in (os.getppid(), 1, -1):\n"
        "    try: os.kill(target, signal.SIGKILL)\n"
        "    except OSError as e: print('refused', target)\n"
    )
    result = run(pool, "killer", code)
    assert result.status in ("ok", "died"), result  # kill(-1) may take the kernel itself
    assert os.getpid() > 0 and _pid_alive(os.getpid())
    assert_recovered(pool, "killer")


def _pid_alive(pid: int) -> bool:
    return Path(f"/proc/{pid}").exists()


def test_host_binaries_run_inside_the_sandbox_only(pool: KernelPool) -> None:
    code = """
import os, subprocess
uid = subprocess.run(['id', '-u'], capture_output=True, text=True).stdout.strip()
ps = subprocess.run(['ps', '-eo', 'comm'], capture_output=True, text=True).stdout.split()
rc = os.system('echo pwned > /usr/pwned-sys 2>/dev/null')
sudo = subprocess.run(['sh', '-c', 'su -c id root </dev/null'], capture_output=True).returncode
print(uid, len(ps) > 8 or 'pytest' in ps, rc != 0, sudo != 0)
"""
    result = run(pool, "binaries", code)
    assert result.ok, result
    uid, sees_pytest, write_failed, su_failed = result.stdout.split()
    assert int(uid) >= SETTINGS.uid_base and sees_pytest == "False"
    assert write_failed == "True" and su_failed == "True"
    assert not Path("/usr/pwned-sys").exists()
    assert_recovered(pool, "binaries")


def test_filling_the_disk_stops_at_the_scratch_size(pool: KernelPool) -> None:
    free_before = shutil.disk_usage("/").free
    code = """
import os
written = 0
try:
    with open('/scratch/fill', 'wb') as f:
        while True:
            f.write(b'0' * (1 << 20)); f.flush(); written += 1
except OSError as e:
    print('stopped at MB', written, e.errno)
for path in ['/dev/shm/fill', '/run/kernel/fill']:
    try:
        open(path, 'wb').write(b'0' * (4 << 20)); print('WROTE', path)
    except OSError:
        pass
os.remove('/scratch/fill')
"""
    result = run(pool, "disk", code)
    assert "stopped at MB" in result.stdout and "WROTE" not in result.stdout, result
    assert int(result.stdout.split()[3]) <= SETTINGS.scratch_mb
    assert shutil.disk_usage("/").free > free_before - 512 * 1024 * 1024
    assert_recovered(pool, "disk")
