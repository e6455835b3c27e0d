"""The vLLM launcher's command line per profile, its executable checks, the CLI dry run,
and the server-derived DEEP context budget. Pure: no process is started, no socket opened."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from oncall.cli.main import app
from oncall.core.errors import ConfigError
from oncall.core.settings import AgentSettings, LLMSettings, Settings, VLLMSettings
from oncall.llm.context_budget import (
    context_budget_chars,
    deep_search_k,
    parse_context_tokens,
)
from oncall.llm.vllm_serve import build_vllm_command, find_vllm, yarn_overrides

COMMON = [
    "--served-model-name", "local",
    "--host", "127.0.0.1",
    "--port", "8000",
]  # fmt: skip
ALWAYS = [
    "--enable-prefix-caching",
    "--enable-auto-tool-choice",
    "--tool-call-parser", "hermes",
    "--reasoning-parser", "qwen3",
]  # fmt: skip


def llm(**vllm: object) -> LLMSettings:
    return LLMSettings(vllm=VLLMSettings.model_validate(vllm))


def test_default_profile_command_line() -> None:
    assert build_vllm_command(llm()) == [
        "vllm", "serve", "Qwen/Qwen3-8B", *COMMON,
        "--max-model-len", "32768",
        "--gpu-memory-utilization", "0.9",
        "--tensor-parallel-size", "1",
        *ALWAYS,
    ]  # fmt: skip


def test_long_context_profile_turns_on_yarn_through_hf_overrides() -> None:
    cmd = build_vllm_command(llm(profile="long-context"))
    assert cmd[cmd.index("--max-model-len") + 1] == "131072"
    assert "--rope-scaling" not in cmd, "removed in vLLM 0.11.1"
    overrides = json.loads(cmd[cmd.index("--hf-overrides") + 1])
    assert overrides == {
        "rope_parameters": {
            "rope_type": "yarn",
            "factor": 4.0,
            "original_max_position_embeddings": 32768,
            "rope_theta": 1000000,
        }
    }
    assert set(ALWAYS) <= set(cmd)
    assert "--quantization" not in cmd


def test_fp8_profile_quantizes_weights_and_kv_cache() -> None:
    cmd = build_vllm_command(llm(profile="fp8"))
    assert cmd[-4:] == ["--quantization", "fp8", "--kv-cache-dtype", "fp8"]
    assert "--hf-overrides" not in cmd
    assert cmd[cmd.index("--max-model-len") + 1] == "32768"
    assert set(ALWAYS) <= set(cmd)


def test_yarn_factor_follows_an_explicit_context_length() -> None:
    assert yarn_overrides(VLLMSettings(max_model_len=32768)) is None
    two_x = yarn_overrides(VLLMSettings(profile="fp8", max_model_len=65536))
    assert two_x is not None and two_x["rope_parameters"]["factor"] == 2.0  # type: ignore[index]
    cmd = build_vllm_command(llm(profile="fp8", max_model_len=65536))
    assert "--hf-overrides" in cmd and "--kv-cache-dtype" in cmd


def test_served_name_options_and_extra_args() -> None:
    settings = LLMSettings(
        model="oncall-qwen3",
        vllm=VLLMSettings(
            model="/models/qwen3-14b",
            host="0.0.0.0",
            port=9000,
            tensor_parallel_size=2,
            max_num_seqs=64,
            reasoning_parser=None,
            extra_args=["--max-num-batched-tokens", "8192"],
        ),
    )
    cmd = build_vllm_command(settings, executable="/opt/vllm/bin/vllm")
    assert cmd[:3] == ["/opt/vllm/bin/vllm", "serve", "/models/qwen3-14b"]
    assert cmd[cmd.index("--served-model-name") + 1] == "oncall-qwen3"
    assert cmd[cmd.index("--tensor-parallel-size") + 1] == "2"
    assert cmd[cmd.index("--max-num-seqs") + 1] == "64"
    assert "--reasoning-parser" not in cmd
    assert cmd[-2:] == ["--max-num-batched-tokens", "8192"]


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ONCALL_LLM__VLLM__PROFILE", "long-context")
    monkeypatch.setenv("ONCALL_LLM__VLLM__EXTRA_ARGS", '["--enforce-eager"]')
    s = Settings()
    assert s.llm.vllm.profile == "long-context" and s.llm.vllm.extra_args == ["--enforce-eager"]
    monkeypatch.setenv("ONCALL_LLM__VLLM__PROFILE", "int3")
    with pytest.raises(ValidationError, match="profile"):
        Settings()


def test_missing_executable_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        find_vllm(str(tmp_path / "nope" / "vllm"))
    assert info.value.setting == "llm.vllm.executable"
    assert "ONCALL_LLM__VLLM__EXECUTABLE" in info.value.detail


def test_executable_inside_the_project_venv_is_refused() -> None:
    with pytest.raises(ConfigError, match="separate one"):
        find_vllm(sys.executable)  # stands in for a `vllm` installed into the venv


def test_executable_in_its_own_environment_is_accepted(tmp_path: Path) -> None:
    exe = tmp_path / "vllm-env" / "bin" / "vllm"
    exe.parent.mkdir(parents=True)
    exe.write_text("#!/bin/sh\n")
    exe.chmod(0o755)
    assert find_vllm(str(exe)) == exe


def test_cli_dry_run_prints_the_profile_command(monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(
        app, ["llm", "serve", "--backend", "vllm", "--profile", "fp8", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert "--kv-cache-dtype fp8" in result.output
    assert "--enable-prefix-caching" in result.output
    bad = CliRunner().invoke(app, ["llm", "serve", "--backend", "vllm", "--profile", "x"])
    assert bad.exit_code == 2 and "default, long-context, fp8" in bad.output


# --- context budget -------------------------------------------------------------------

VLLM_MODELS = {
    "object": "list",
    "data": [{"id": "local", "object": "model", "owned_by": "vllm", "max_model_len": 131072}],
}
# llama-server b-series answer (trimmed), measured on the embedded server.
LLAMA_MODELS = {
    "object": "list",
    "data": [
        {"id": "local", "object": "model", "owned_by": "llamacpp",
         "meta": {"n_ctx": 4096, "n_ctx_train": 32768, "n_vocab": 151936}},
    ],
}  # fmt: skip


def test_context_length_parsed_from_vllm_and_llama_server() -> None:
    assert parse_context_tokens(VLLM_MODELS) == 131072
    assert parse_context_tokens(LLAMA_MODELS) == 4096, "served n_ctx, not n_ctx_train"
    two = {"data": [{"id": "other", "max_model_len": 8192}, {"id": "local", "max_model_len": 2}]}
    assert parse_context_tokens(two, "local") == 2
    assert parse_context_tokens(two, "absent") == 8192
    for junk in ({}, {"data": "x"}, {"data": [{"id": "local"}]}, [], "html"):
        assert parse_context_tokens(junk) is None


def test_budget_keeps_the_embedded_default_and_grows_for_long_context() -> None:
    agent, model = AgentSettings(), LLMSettings()
    assert context_budget_chars(4096, model, agent) == 6000, "embedded model unchanged"
    assert context_budget_chars(32768, model, agent) == int((32768 - 512 - 1536) * 2.5)
    assert context_budget_chars(131072, model, agent) == 100_000, "capped"
    roomy = AgentSettings(max_context_chars=1_000_000)
    assert context_budget_chars(131072, model, roomy) == int((131072 - 2048) * 2.5)
    explicit = AgentSettings(context_chars=200_000)
    assert context_budget_chars(8192, model, explicit) == 200_000, "explicit value wins"


def test_deep_search_k_scales_with_the_budget() -> None:
    assert deep_search_k(6000, top_k=5, prefetch_k=30) == 5
    assert deep_search_k(76_800, top_k=5, prefetch_k=30) == 30
    assert deep_search_k(48_000, top_k=5, prefetch_k=30) == 20
    assert deep_search_k(10**6, top_k=5, prefetch_k=500) == 50
