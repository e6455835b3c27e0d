"""run_python's pure parts: output collection and trimming, the sandbox command line,
isolation detection, and the tool's wiring into the DEEP loop (with a fake executor)."""

from __future__ import annotations

import base64
import dataclasses
import os
import stat
import sys
from pathlib import Path

import pytest

from agent.memory import open_checkpointer
from agent.service import Agent
from agent.tooling import execute_tool_call, tools_for
from oncall.core.errors import ConfigError, OncallError
from oncall.core.settings import SandboxSettings
from oncall.testing.fakes import ScriptedChatModel, claims_reply, code_reply
from tests.unit.test_agent_loop import deps_for
from tools.sandbox import isolation, kernelfs, seccomp
from tools.sandbox.figures import FigureStore, sweep_figures
from tools.sandbox.isolation import Isolation, Limits, bwrap_argv, kernel_env
from tools.sandbox.kernelfs import KernelFs
from tools.sandbox.result import ExecutionResult, OutputCollector, head_tail, trim_traceback

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64
FS = Path("/tmp/oncall-kernel-1-x/fs")
ISO = Isolation(
    "bwrap",
    Path("/opt/venv/bin/python"),
    (Path("/opt/venv"), Path("/root/.pyenv/versions/3.11.7")),
    bwrap="/usr/bin/bwrap",
    setpriv="/usr/bin/setpriv",
    prlimit="/usr/bin/prlimit",
)


# --- results ---------------------------------------------------------------------------


def test_traceback_loses_colour_and_ipython_frames_and_keeps_its_end() -> None:
    lines = [
        "\x1b[31m---------------------------------------------------------\x1b[39m",
        "\x1b[31mZeroDivisionError\x1b[39m    Traceback (most recent call last)",
        "File /venv/lib/python3.11/site-packages/IPython/core/interactiveshell.py:3577",
        *[f"frame {i}" for i in range(30)],
        "\x1b[31mZeroDivisionError\x1b[39m: division by zero",
    ]
    text = trim_traceback(lines, keep=5)
    assert "\x1b" not in text and "IPython" not in text and "-----" not in text
    assert text.splitlines()[0] == "..." and len(text.splitlines()) == 6
    assert text.endswith("ZeroDivisionError: division by zero")


def test_head_tail_keeps_both_ends_and_says_how_much_was_cut() -> None:
    assert head_tail("short", 100) == "short"
    cut = head_tail("a" * 500 + "b" * 500, 200)
    assert cut.startswith("a") and cut.endswith("b") and "characters cut" in cut
    assert len(cut) < 260


def _figures(folder: Path, files: int = 8, kb: int = 64, file_kb: int = 16) -> FigureStore:
    return FigureStore(folder, max_files=files, max_bytes=kb * 1024, max_file_bytes=file_kb * 1024)


def test_collector_caps_output_and_flags_the_overflow(tmp_path: Path) -> None:
    out = OutputCollector(max_bytes=100, max_images=1, figures=_figures(tmp_path))
    out.add("stream", {"name": "stdout", "text": "x" * 80})
    assert not out.overflowed
    out.add("stream", {"name": "stderr", "text": "y" * 80})
    assert out.overflowed
    result = out.finish("ok")
    assert len(result.stdout) + len(result.stderr) == 100 and result.truncated
    assert "interrupted" in result.for_model()


def test_collector_saves_pngs_within_the_limit_and_returns_values(tmp_path: Path) -> None:
    out = OutputCollector(max_bytes=10_000, max_images=1, figures=_figures(tmp_path / "conv"))
    png = base64.b64encode(PNG).decode()
    out.add("display_data", {"data": {"image/png": png, "text/plain": "<Figure>"}})
    out.add("display_data", {"data": {"image/png": png}})  # over max_images
    out.add("display_data", {"data": {"image/png": base64.b64encode(b"GIF89a").decode()}})
    out.add("execute_result", {"data": {"text/plain": "42"}})
    result = out.finish("ok")
    assert len(result.files) == 1 and result.files[0].read_bytes() == PNG
    assert result.result == "42" and result.status == "ok"
    assert "1 more figure(s) dropped" in (result.error or "")
    assert result.files[0].name in result.for_model()


def test_an_error_message_makes_the_status_error(tmp_path: Path) -> None:
    out = OutputCollector(1000, 0, _figures(tmp_path))
    out.add("error", {"ename": "NameError", "evalue": "x", "traceback": ["NameError: x"]})
    result = out.finish("ok")
    assert result.status == "error" and result.error == "NameError: x"


def test_for_model_is_bounded_and_never_empty() -> None:
    assert "no output" in ExecutionResult("ok").for_model()
    assert len(ExecutionResult("ok", stdout="z" * 50_000).for_model(limit=1000)) < 1100


# --- the sandbox command line ----------------------------------------------------------


def _argv(iso: Isolation, conn: Path, fs: Path = FS) -> list[str]:
    limits = Limits(512, 60, 32, 16)
    return bwrap_argv(iso, limits, 200_007, conn, info_fd=9, fs_root=fs, seccomp_fd=11)


def test_bwrap_argv_isolates_and_drops_privileges(tmp_path: Path) -> None:
    conn = tmp_path / "connection.json"
    argv = _argv(ISO, conn)
    joined = " ".join(argv)
    for flag in ("--unshare-net", "--unshare-pid", "--unshare-ipc", "--die-with-parent"):
        assert flag in argv
    assert "--clearenv" in argv and "--share-net" not in argv
    assert "--seccomp 11" in joined, "the filter is loaded before the launcher chain"
    assert f"--ro-bind {conn} /run/kernel/connection.json" in joined
    assert "--ro-bind /opt/venv /opt/venv" in joined
    # The only writable binds are folders of the kernel's own tmpfs (kernelfs.py).
    binds = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--bind"]
    assert binds == [f"{FS}/scratch", f"{FS}/kernel"]
    assert "--tmpfs" not in argv, "bubblewrap's tmpfs has no inode limit"
    assert joined.index("--perms 0755 --dir /run ") < joined.index(f"{FS}/kernel /run/kernel")
    # Ancestors of the bound interpreter are created traversable before the bind.
    assert joined.index("--dir /root/.pyenv ") < joined.index("--ro-bind /root/.pyenv/versions")
    assert "--reuid=200007" in argv and "--no-new-privs" in argv
    assert f"--as={512 * 1024 * 1024}" in argv and "--nproc=32" in argv and "--cpu=60" in argv
    assert argv.index("/usr/bin/prlimit") < argv.index("/usr/bin/setpriv") < argv.index("-m")


def test_an_interpreter_under_tmp_gets_a_real_tmp_dir(tmp_path: Path) -> None:
    # A CI checkout in /tmp: /tmp cannot be the scratch symlink, it must hold the bind.
    iso = dataclasses.replace(ISO, python_roots=(Path("/tmp/ci/main/.venv"), Path("/usr")))
    joined = " ".join(_argv(iso, tmp_path / "c.json"))
    assert "--symlink /scratch /tmp" not in joined
    assert joined.index(f"--bind {FS}/tmp /tmp") < joined.index("--dir /tmp/ci ")
    assert joined.index("--dir /tmp/ci/main ") < joined.index("--ro-bind /tmp/ci/main/.venv")
    assert "--dir /tmp " not in joined  # the mount point is not re-created
    normal = " ".join(_argv(ISO, tmp_path / "c.json"))
    assert "--symlink /scratch /tmp" in normal and f"{FS}/tmp" not in normal


def test_kernel_env_inherits_nothing_from_the_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_LLM__API_KEY", "sk-secret")
    env = kernel_env(Path("/opt/venv/bin/python"), "/scratch")
    assert "sk-secret" not in str(env) and env["HOME"] == "/scratch"
    assert env["PATH"].startswith("/opt/venv/bin:")


def test_missing_bubblewrap_is_refused_unless_unsafe_is_allowed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(isolation.shutil, "which", lambda n: None if n == "bwrap" else f"/x/{n}")
    monkeypatch.setattr(isolation, "_python_roots", lambda python: (Path("/opt/venv"),))
    isolation._detect.cache_clear()
    try:
        with pytest.raises(ConfigError) as err:
            isolation.detect_isolation(SandboxSettings(python=Path("/opt/venv/bin/python")))
        assert err.value.setting == "sandbox.allow_unsafe_local"
        assert "bubblewrap" in err.value.detail and "ENABLED=false" in err.value.detail
        unsafe = SandboxSettings(python=Path("/opt/venv/bin/python"), allow_unsafe_local=True)
        assert isolation.detect_isolation(unsafe).kind == "unsafe-local"
    finally:
        isolation._detect.cache_clear()


# --- the tool ---------------------------------------------------------------------------


class FakeExecutor:
    def __init__(self, fail: bool = False):
        self.runs: list[tuple[str, str]] = []
        self.resets: list[str] = []
        self.fail = fail

    def run(self, conversation: str, code: str) -> ExecutionResult:
        if self.fail:
            raise OncallError("sandbox_busy", "all kernels are busy")
        self.runs.append((conversation, code))
        return ExecutionResult("ok", stdout="2\n", files=[Path("/data/fig.png")])

    def reset(self, conversation: str) -> None:
        self.resets.append(conversation)

    def close(self) -> None:
        pass


def test_run_python_is_offered_only_with_a_sandbox() -> None:
    deps = deps_for(ScriptedChatModel())
    assert "run_python" not in {t.name for t in tools_for(deps)}
    deps.sandbox = FakeExecutor()
    assert "run_python" in {t.name for t in tools_for(deps)}
    schema = next(t for t in tools_for(deps) if t.name == "run_python").schema
    assert "pandas" in schema["function"]["description"]


def test_run_python_resets_and_reports_files_and_busy_sandboxes() -> None:
    deps = deps_for(ScriptedChatModel())
    deps.sandbox = FakeExecutor()
    deps.thread_id = "t-42"
    out = execute_tool_call(deps, "run_python", {"code": "print(1+1)", "reset": True})
    assert deps.sandbox.resets == ["t-42"] and deps.sandbox.runs == [("t-42", "print(1+1)")]
    assert "stdout:\n2" in out.text and out.files == (Path("/data/fig.png"),)
    deps.sandbox = FakeExecutor(fail=True)
    with pytest.raises(Exception, match="sandbox is unavailable: all kernels are busy"):
        execute_tool_call(deps, "run_python", {"code": "1"})


def test_the_thread_id_selects_the_kernel_and_figures_reach_the_answer(tmp_path: Path) -> None:
    model = ScriptedChatModel(replies=[code_reply("x = 17 * 23\nprint(x)"), code_reply("x + 1")])
    deps = deps_for(model)
    deps.sandbox = executor = FakeExecutor()
    with open_checkpointer(tmp_path) as saver:
        agent = Agent(deps, checkpointer=saver)
        first = agent.ask("what is 17 * 23?", thread_id="thread-a")
        agent.ask("and what is 391 + 1?", thread_id="thread-a")
    assert [conv for conv, _ in executor.runs] == ["thread-a", "thread-a"]
    assert first.mode == "compute" and first.computation is not None
    assert first.computation["code"] == "x = 17 * 23\nprint(x)"
    python_calls = [c for c in first.tool_calls if c.name == "run_python"]
    assert python_calls and python_calls[0].files == ["/data/fig.png"]
    assert first.text.startswith("2 [1]") and first.citations[0].hit.doc_id == "run_python"


def test_a_front_end_that_leaves_run_python_out_never_runs_code(tmp_path: Path) -> None:
    """A Slack channel configured with `tools: [search_docs]`: a computation question is
    answered from the docs (or not at all), and no program reaches the sandbox."""
    model = ScriptedChatModel(
        replies=[claims_reply((1, "acknowledged within 15 minutes", "SEV2: 15 minutes."))]
    )
    deps = deps_for(model)
    deps.sandbox = executor = FakeExecutor()
    deps.allowed_tools = frozenset({"search_docs"})
    answer = Agent(deps).ask("what is 17 * 23 minutes for a SEV2 page?")
    assert executor.runs == [] and answer.mode == "docs" and answer.computation is None
    assert all(c.name != "run_python" for c in answer.tool_calls)


def test_a_failed_program_gets_one_fix_then_the_answer_says_what_failed(tmp_path: Path) -> None:
    class Failing(FakeExecutor):
        def run(self, conversation: str, code: str) -> ExecutionResult:
            self.runs.append((conversation, code))
            return ExecutionResult(
                "error",
                error="File /srv/app/.venv/lib/python3.11/site-packages/x.py:9, in f()\n"
                "ZeroDivisionError: division by zero",
            )

    model = ScriptedChatModel(replies=[code_reply("1/0"), code_reply("1/0 # still")])
    deps = deps_for(model)
    deps.sandbox = executor = Failing()
    answer = Agent(deps).ask("what is 10 / 0 per hour?")
    assert len(executor.runs) == 2, "one fix, then stop"
    assert "ZeroDivisionError" in str(model.calls[1][-1].content), "the fix sees the traceback"
    assert answer.abstained and "ZeroDivisionError" in answer.text
    assert "/srv/app" not in answer.text, "library frames stay out of the answer"
    assert answer.computation is not None and answer.computation["ok"] is False


# --- the seccomp filter, the kernel's file system, figures -------------------------------


def test_the_filter_denies_what_crosses_the_sandbox_walls(tmp_path: Path) -> None:
    program = seccomp.build_filter()
    assert program and len(program) % 8 == 0, "a BPF program: 8 bytes an instruction"
    with open(tmp_path / "filter.pfc", "w+") as pfc:
        seccomp.make_filter().export_pfc(pfc)
        pfc.seek(0)
        text = pfc.read()
    for call in ("keyctl", "add_key", "unshare", "setns", "io_uring_setup", "bpf", "mount"):
        assert f'"{call}"' in text, call
    assert "action ERRNO(38)" in text, "clone3 answers ENOSYS so libc falls back to clone"
    assert "action ALLOW" in text, "everything else runs"


def test_without_libseccomp_run_python_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation.shutil, "which", lambda n: f"/x/{n}")
    monkeypatch.setattr(isolation.os, "geteuid", lambda: 0)
    monkeypatch.setattr(isolation, "_python_roots", lambda python: (Path("/opt/venv"),))
    monkeypatch.setitem(sys.modules, "pyseccomp", None)  # import fails
    seccomp.build_filter.cache_clear()
    isolation._detect.cache_clear()
    try:
        with pytest.raises(ConfigError) as err:
            isolation.detect_isolation(SandboxSettings(python=Path("/opt/venv/bin/python")))
        assert "pyseccomp is missing" in err.value.detail
    finally:
        seccomp.build_filter.cache_clear()
        isolation._detect.cache_clear()


def test_put_file_replaces_a_planted_link_and_never_follows_it(tmp_path: Path) -> None:
    fs = KernelFs(1 << 20, 64, mount=False)  # plain folders: no mount in the unit tier
    try:
        outside = tmp_path / "host.txt"
        outside.write_text("host")
        (fs.host_path("scratch") / "data.csv").symlink_to(outside)
        fs.put_file("data.csv", b"a,b\n", uid=None)
        assert outside.read_text() == "host"
        assert (fs.host_path("scratch") / "data.csv").read_bytes() == b"a,b\n"
        for bad in ("..", ".env", "a/b", "-rf", "x" * 200, ""):
            with pytest.raises(ValueError, match="bad file name"):
                fs.put_file(bad, b"", uid=None)
    finally:
        fs.close()
    assert not fs.private.exists()


def test_a_link_in_place_of_a_kernel_socket_is_refused() -> None:
    fs = KernelFs(1 << 20, 64, mount=False)
    try:
        (fs.host_path("kernel") / "k-1").symlink_to("/run/docker.sock")
        assert fs.sockets_exist(["k-1"]) and not fs.sockets_exist(["k-1", "k-2"])
        with pytest.raises(OncallError, match="not a socket"):
            fs.seal_sockets(["k-1"])
        assert stat.S_IMODE(fs.host_path("kernel").stat().st_mode) == 0o755, "sealed first"
        assert fs.socket_base.startswith("/proc/self/fd/"), "reached by descriptor"
    finally:
        fs.close()


def test_stale_kernel_folders_of_dead_agents_are_swept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kernelfs.tempfile, "gettempdir", lambda: str(tmp_path))
    dead, mine = (
        tmp_path / "oncall-kernel-999999999-ab",
        tmp_path / f"oncall-kernel-{os.getpid()}-cd",
    )
    for private in (dead, mine):
        (private / "fs").mkdir(parents=True)
    assert kernelfs.sweep_stale() == 1
    assert not dead.exists() and mine.exists()


def test_figures_stay_within_the_conversation_quota(tmp_path: Path) -> None:
    store = _figures(tmp_path / "c", files=2, kb=8, file_kb=5)
    assert "per figure" in str(store.save(PNG + b"\0" * 6000))
    assert isinstance(store.save(PNG), Path) and isinstance(store.save(PNG), Path)
    assert "quota (2 figures" in str(store.save(PNG)) and store.usage() == (2, 2 * len(PNG))
    store.clear()
    assert store.usage() == (0, 0)
    by_bytes = _figures(tmp_path / "d", files=10, kb=8, file_kb=5)
    assert isinstance(by_bytes.save(PNG + b"\0" * 4500), Path)
    assert "quota" in str(by_bytes.save(PNG + b"\0" * 4500)), "8 KB in all"


def test_figure_folders_left_by_a_dead_agent_are_swept(tmp_path: Path) -> None:
    old, fresh, other = tmp_path / ("a" * 16), tmp_path / ("b" * 16), tmp_path / "mpl-cache"
    for folder in (old, fresh, other):
        folder.mkdir()
    os.utime(old, (1, 1))
    os.utime(other, (1, 1))
    assert sweep_figures(tmp_path, idle_s=600) == 1
    assert not old.exists() and fresh.exists() and other.exists()


def test_a_program_that_prints_nothing_gets_its_one_fix(tmp_path: Path) -> None:
    """A silent program is not an answer ("(the program printed nothing) [1]"): the model is
    told to print, and the second program's line is the answer."""
    model = ScriptedChatModel(replies=[code_reply("x = 17 * 23"), code_reply("print(17 * 23)")])
    deps = deps_for(model)

    class Silent(FakeExecutor):
        def run(self, conversation: str, code: str) -> ExecutionResult:
            self.runs.append((conversation, code))
            return ExecutionResult("ok", stdout="391\n" if "print" in code else "")

    deps.sandbox = executor = Silent()
    answer = Agent(deps).ask("what is 17 * 23?")
    assert len(executor.runs) == 2 and "printed nothing" in str(model.calls[1][-1].content)
    assert answer.text.startswith("391 [1]") and not answer.abstained


def test_a_program_that_opens_a_file_that_is_not_there_is_told_there_are_none() -> None:
    """Small models "load the documents" (pd.read_csv on a doc title): with no attached
    data, the prompt and the fix both say there is no file to open."""
    model = ScriptedChatModel(
        replies=[code_reply("open('runbooks/slo.txt')"), code_reply("print(28 * 24 * 60 * 0.001)")]
    )
    deps = deps_for(model)

    class NoSuchFile(FakeExecutor):
        def run(self, conversation: str, code: str) -> ExecutionResult:
            self.runs.append((conversation, code))
            if "open(" in code:
                return ExecutionResult("error", error="FileNotFoundError: 'runbooks/slo.txt'")
            return ExecutionResult("ok", stdout="40.32\n")

    deps.sandbox = NoSuchFile()
    answer = Agent(deps).ask("what is 0.1% of a 28-day window in minutes?")
    first, fix = str(model.calls[0][-1].content), str(model.calls[1][-1].content)
    assert "must not open any file" in first and "must not open any file" in fix
    assert answer.text.startswith("40.32 [1]")
