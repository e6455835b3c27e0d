"""The kernel pool on real sandboxed kernels: state per conversation, reset, reaping,
figures, parallel conversations, and the agent's run_python tool end to end."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.tooling import execute_tool_call
from oncall.core.errors import ConfigError
from oncall.core.settings import SandboxSettings
from oncall.testing.fakes import ScriptedChatModel
from tests.unit.test_agent_loop import deps_for
from tools.sandbox import KernelPool, build_executor

SETTINGS = SandboxSettings(timeout_s=20, warm_kernels=1, max_kernels=4, uid_base=230_000)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KernelPool]:
    try:
        executor = build_executor(SETTINGS, tmp_path_factory.mktemp("sandbox-pool"))
    except ConfigError as exc:
        if os.geteuid() != 0:
            pytest.skip(f"sandbox isolation needs root here: {exc.detail}")
        raise
    assert executor is not None
    executor.prewarm()
    yield executor
    executor.close()


def test_state_is_kept_per_conversation_and_reset_forgets_it(pool: KernelPool) -> None:
    assert pool.run("alice", "secret = 41").ok
    assert pool.run("alice", "secret + 1").result == "42"
    other = pool.run("bob", "'secret' in globals()")
    assert other.result == "False", "conversations never share variables"
    pool.reset("alice")
    assert pool.run("alice", "'secret' in globals()").result == "False"


def test_a_warm_spare_makes_a_new_conversation_fast(pool: KernelPool) -> None:
    deadline = time.monotonic() + 60
    while pool.stats()["spares"] < 1 and time.monotonic() < deadline:
        time.sleep(0.2)
    started = time.perf_counter()
    result = pool.run("newcomer", "import pandas as pd\nint(pd.DataFrame({'a': [1, 2]}).a.sum())")
    assert result.result == "3"
    assert time.perf_counter() - started < 2.0, "spares come with pandas already imported"


def test_figures_come_back_as_png_files(pool: KernelPool) -> None:
    code = "import matplotlib.pyplot as plt\nplt.hist([1, 2, 2, 3, 3, 3])\nplt.title('latency')"
    result = pool.run("plots", code)
    assert result.ok and len(result.files) == 1, result
    assert result.files[0].read_bytes().startswith(b"\x89PNG")
    assert result.files[0].name in result.for_model()


def test_tracebacks_are_trimmed_to_the_users_code(pool: KernelPool) -> None:
    result = pool.run("errors", "def f(x):\n    return x / 0\nf(1)")
    assert result.status == "error" and result.error is not None
    assert "ZeroDivisionError: division by zero" in result.error
    assert "\x1b[" not in result.error and len(result.error.splitlines()) <= 13


def test_parallel_conversations_and_idle_reaping(pool: KernelPool) -> None:
    with ThreadPoolExecutor(4) as threads:
        results = list(threads.map(lambda i: pool.run(f"p{i}", f"{i} * 2"), range(4)))
    assert [r.result for r in results] == ["0", "2", "4", "6"]
    assert pool.stats()["conversations"] <= SETTINGS.max_kernels, "LRU kernels were evicted"
    stopped = pool.reap_idle(now=time.monotonic() + SETTINGS.idle_timeout_s + 1)
    assert stopped >= 1 and pool.stats()["conversations"] == 0
    assert pool.run("p0", "'fresh'").result == "'fresh'"


def test_the_agent_tool_runs_in_the_threads_kernel(pool: KernelPool) -> None:
    deps = deps_for(ScriptedChatModel())
    deps.sandbox, deps.thread_id = pool, "thread-tool"
    execute_tool_call(deps, "run_python", {"code": "total = sum(range(10))"})
    out = execute_tool_call(deps, "run_python", {"code": "print(total)"})
    assert "stdout:\n45" in out.text and out.files == ()


def test_figure_paths_stay_inside_the_data_dir(pool: KernelPool) -> None:
    result = pool.run("../../etc", "import matplotlib.pyplot as plt\nplt.plot([1, 2])")
    assert result.files and all(pool.files_dir in f.parents for f in result.files)
    assert not Path("/etc/figure.png").exists()


def test_kernels_outlive_the_thread_that_started_them(pool: KernelPool) -> None:
    # The agent runs tools on per-step threads; bubblewrap's parent-death signal must not
    # take the kernel down when such a thread ends.
    thread = threading.Thread(target=lambda: pool.run("short-lived", "v = 5"))
    thread.start()
    thread.join()
    time.sleep(0.5)
    assert pool.run("short-lived", "v").result == "5"
