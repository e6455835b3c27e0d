"""One running service: while `oncall serve` holds the embedded index, `oncall search`,
`ingest`, `sync` and `ask` go through its local API (docs/service.md). The real console
script in subprocesses, a real `oncall serve` on a loopback port, the real index."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from ingest.pipeline import IngestReport
from ingest.store import DocStore
from oncall.core.errors import OncallError
from oncall.core.settings import StoreSettings
from oncall.testing.fake_slack import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeSlack,
    event_body,
    mention_event,
    post_signed,
    start_fake_slack,
)

ONCALL = str(Path(sys.executable).with_name("oncall"))
REPO = Path(__file__).resolve().parents[2]
LLM_DOWN = "http://127.0.0.1:9/v1"  # nothing listens: the service starts without a model


@dataclass
class Service:
    url: str
    data_dir: Path
    token: str
    process: subprocess.Popen[str]
    slack_url: str  # the Slack bot's HTTP events, served by the same process (--slack)
    slack: FakeSlack  # the Slack Web API it talks to


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def env_for(data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "ONCALL_DATA_DIR": str(data_dir),
        "ONCALL_LLM__BASE_URL": LLM_DOWN,
        "ONCALL_LLM__MAX_RETRIES": "0",
        "ONCALL_SANDBOX__ENABLED": "false",
        "COLUMNS": "200",
        **extra,
    }


def run(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ONCALL, *args], capture_output=True, text=True, env=env_for(data_dir), timeout=300,
        cwd=REPO,
    )  # fmt: skip


@pytest.fixture(scope="module")
def service(
    tmp_path_factory: pytest.TempPathFactory, handbook_index: tuple[Path, IngestReport]
) -> Iterator[Service]:
    """One `oncall serve` for the module (about 30 s to start on a busy 2-core box) over a
    copy of the handbook index (the session's copy stays free for other tests)."""
    tmp_path = tmp_path_factory.mktemp("service")
    data_dir = tmp_path / "data"
    shutil.copytree(handbook_index[0], data_dir)
    port, slack_port = free_port(), free_port()
    fake, fake_server = start_fake_slack()
    slack_env = {
        "ONCALL_SLACK__BOT_TOKEN": BOT_TOKEN, "ONCALL_SLACK__SIGNING_SECRET": SIGNING_SECRET,
        "ONCALL_SLACK__API_URL": fake.api_url, "ONCALL_SLACK__HOST": "127.0.0.1",
        "ONCALL_SLACK__PORT": str(slack_port),
    }  # fmt: skip
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [ONCALL, "serve", "--port", str(port), "--slack"], env=env_for(data_dir, **slack_env),
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    state = data_dir / "service.json"
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    try:
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            assert time.monotonic() < deadline, "oncall serve did not start in 180 s"
            if state.exists() and _ready(url, json.loads(state.read_text())["token"]):
                break
            time.sleep(0.3)
        token = json.loads(state.read_text())["token"]
        slack_url = f"http://127.0.0.1:{slack_port}/slack/events"
        yield Service(url, data_dir, token, proc, slack_url, fake)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()
        fake_server.shutdown()
    assert not state.exists(), "a stopped service removes its state file"


def _ready(url: str, token: str) -> bool:
    try:
        r = httpx.get(f"{url}/local/v1/health", headers={"X-Oncall-Local-Token": token})
    except httpx.HTTPError:
        return False
    return r.status_code == 200 and r.json()["ready"]


def test_search_works_while_serve_runs(service: Service) -> None:
    # The service holds the index: opening it here is what used to fail every command.
    with pytest.raises(OncallError) as busy:
        DocStore(StoreSettings(), service.data_dir)
    assert busy.value.code == "store_busy"

    result = run("search", "kestrel client certificate expiry", data_dir=service.data_dir)
    assert result.returncode == 0, result.stderr
    assert f"using the running service at {service.url}" in result.stderr
    assert "certificate-expiry" in result.stdout
    assert "store_busy" not in result.stderr


def test_ingest_and_sync_through_the_service_show_progress(
    service: Service, tmp_path: Path
) -> None:
    docs = tmp_path / "new-docs"
    docs.mkdir()
    (docs / "kiln.md").write_text("# Kiln\n\nThe kiln-batch job restarts with `kiln retry`.\n")
    ingested = run("ingest", str(docs), data_dir=service.data_dir)
    assert ingested.returncode == 0, ingested.stderr
    assert "using the running service" in ingested.stderr
    assert "1/1 files" in ingested.stderr  # the progress bar, fed by the service's events
    assert "1 added" in ingested.stdout

    found = run("search", "how does the kiln-batch job restart", data_dir=service.data_dir)
    assert "kiln retry" in found.stdout, found.stdout + found.stderr

    sre = tmp_path / "sre"
    sre.mkdir()
    (sre / "pager.md").write_text("# Pager\n\nThe pager escalation key is kept in vault zeta.\n")
    registry = tmp_path / "sources.yaml"
    registry.write_text("sources:\n  - {name: sre, type: folder, path: sre, acl: [sre]}\n")
    synced = run("sync", "--sources", str(registry), data_dir=service.data_dir)
    assert synced.returncode == 0, synced.stderr
    assert "using the running service" in synced.stderr
    assert "sre (folder, acl sre)" in synced.stdout and "1 added" in synced.stdout
    public = run("search", "pager escalation key", data_dir=service.data_dir)
    member = run("search", "pager escalation key", "--groups", "sre", data_dir=service.data_dir)
    assert "vault zeta" not in public.stdout
    assert "vault zeta" in member.stdout

    missing = run("ingest", str(tmp_path / "gone"), data_dir=service.data_dir)
    assert missing.returncode == 2 and "gone: no such file or folder" in missing.stderr


def test_ask_goes_through_the_service_and_its_errors_stay_one_line(service: Service) -> None:
    result = run("ask", "How do I roll back payments-api?", data_dir=service.data_dir)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[0] == f"using the running service at {service.url}"
    assert len(lines) == 2 and lines[1].startswith("error (llm_"), result.stderr
    assert LLM_DOWN in lines[1]  # the service's model URL, named by the service
    assert not (service.data_dir / "logs" / "llama-server.log").exists()


def test_local_api_wants_the_token(service: Service) -> None:
    search = f"{service.url}/local/v1/search"
    assert httpx.post(search, json={"query": "x"}).status_code == 401
    wrong = {"X-Oncall-Local-Token": "not-the-token"}
    assert httpx.post(search, json={"query": "x"}, headers=wrong).status_code == 401
    right = {"X-Oncall-Local-Token": service.token}
    assert httpx.post(search, json={"query": "rollback"}, headers=right).status_code == 200
    spec = httpx.get(f"{service.url}/openapi.json").json()
    assert not any(path.startswith("/local") for path in spec["paths"])
    assert (service.data_dir / "service.json").stat().st_mode & 0o077 == 0


def test_slack_answers_from_the_same_process(service: Service) -> None:
    """`oncall serve --slack`: the bot's HTTP events are served beside the web app, and a
    mention reaches the shared agent (the model is down here: the bot says so in Slack)."""
    with httpx.Client(timeout=30) as http:
        unsigned = http.post(service.slack_url, content=b"{}")
        assert unsigned.status_code == 401
        challenge = '{"type": "url_verification", "challenge": "abc123", "token": "x"}'
        verified = post_signed(http, service.slack_url, challenge)
        assert verified.status_code == 200 and "abc123" in verified.text
        body = event_body(mention_event("How do I roll back payments-api?", "1.1"), "Ev1")
        assert post_signed(http, service.slack_url, body).status_code == 200
    deadline = time.monotonic() + 120
    while not service.slack.called("chat.postMessage") and time.monotonic() < deadline:
        time.sleep(0.5)
    posted = service.slack.called("chat.postMessage")
    assert posted, "the bot never answered in Slack"
    assert posted[-1].args.get("channel") == "C1"
