"""The fleet benchmarks/replicas_bench.py drives: a throwaway Postgres (durable settings),
the fake Slack Web API, two web replicas and two Slack HTTP workers, each its own process
(benchmarks/replica_app.py), all on loopback. Stopped and deleted on exit.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from oncall.testing.fake_slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, start_fake_slack
from oncall.testing.postgres import ThrowawayPostgres, free_port, throwaway_postgres
from oncall.testing.web_support import PASSWORDS, write_users

REPO = Path(__file__).resolve().parent.parent
CHANNEL = "C0AUTO"
ASKER = "U1"
SESSION_SECRET = "replicas-share-this-session-secret"


@dataclass
class Replica:
    name: str
    role: str
    url: str
    proc: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no lease handed back (a crash, an OOM kill)."""
        self.proc.kill()
        self.proc.wait(timeout=30)

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class Fleet:
    pg: ThrowawayPostgres
    db_url: str
    slack: FakeSlack
    root: Path
    replicas: dict[str, Replica] = field(default_factory=dict)

    def web(self, name: str) -> Replica:
        return self.replicas[name]

    def events_url(self, name: str) -> str:
        return f"{self.replicas[name].url}/slack/events"

    def login(self, name: str, user: str = "alice") -> httpx.Client:
        """A client signed in on replica `name` (the cookie works on every replica)."""
        client = httpx.Client(base_url=self.replicas[name].url, timeout=120)
        r = client.post("/api/login", json={"username": user, "password": PASSWORDS[user]})
        r.raise_for_status()
        return client

    def on(self, name: str, signed_in: httpx.Client) -> httpx.Client:
        """Another replica, with the session of `signed_in` (a load balancer's next pick)."""
        return httpx.Client(
            base_url=self.replicas[name].url, timeout=120, cookies=signed_in.cookies
        )

    def sql(self, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        import psycopg

        with psycopg.connect(self.db_url, autocommit=True) as conn:
            return [tuple(r) for r in conn.execute(query, params).fetchall()]


def _env(fleet: Fleet, name: str, role: str, port: int, token_delay: float) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ONCALL_")}
    env.update(
        ONCALL_DATA_DIR=str(fleet.root / name),
        ONCALL_APPSTATE__URL=fleet.db_url,
        ONCALL_APPSTATE__LEASE_S="3",  # a dead replica's work is taken over within ~4 s
        ONCALL_LLM__BASE_URL="http://127.0.0.1:9/v1",  # never called: the model is a fake
        BENCH_TOKEN_DELAY=str(token_delay),
        BENCH_SLOW_DELAY="0.5",  # "slow" questions: ~5 s of generation, killed part-way
        HF_HUB_OFFLINE="1",
    )
    if role == "web":
        env.update(
            ONCALL_WEB__HOST="127.0.0.1",
            ONCALL_WEB__PORT=str(port),
            ONCALL_WEB__USERS_FILE=str(fleet.root / "users.yaml"),
            ONCALL_WEB__SESSION_SECRET=SESSION_SECRET,
        )
    else:
        env.update(
            ONCALL_SLACK__BOT_TOKEN=BOT_TOKEN,
            ONCALL_SLACK__SIGNING_SECRET=SIGNING_SECRET,
            ONCALL_SLACK__API_URL=fleet.slack.api_url,
            ONCALL_SLACK__HOST="127.0.0.1",
            ONCALL_SLACK__PORT=str(port),
            ONCALL_SLACK__CHANNELS_PATH=str(fleet.root / "channels.yaml"),
            ONCALL_SLACK__USERS_PATH=str(fleet.root / "slack_users.yaml"),
            ONCALL_SLACK__WORKERS="4",
        )
    return env


def _spawn(fleet: Fleet, name: str, role: str, token_delay: float) -> Replica:
    port = free_port()
    log = fleet.root / f"{name}.log"
    proc = subprocess.Popen(
        [sys.executable, str(REPO / "benchmarks" / "replica_app.py"), role],
        env=_env(fleet, name, role, port, token_delay),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    return Replica(name, role, f"http://127.0.0.1:{port}", proc, log)


def _wait_healthy(replica: Replica, deadline: float) -> None:
    while time.monotonic() < deadline:
        if replica.proc.poll() is not None:
            raise RuntimeError(f"{replica.name} exited:\n{replica.tail()}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{replica.url}/healthz", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{replica.name} did not become healthy:\n{replica.tail()}")


@contextlib.contextmanager
def fleet(token_delay: float = 0.01) -> Iterator[Fleet]:
    """Postgres, the fake Slack, web-a/web-b and slack-a/slack-b, healthy."""
    root = Path(tempfile.mkdtemp(prefix="replicas-bench-"))
    fake, fake_server = start_fake_slack()
    with throwaway_postgres(fast=False) as pg:
        db_url = pg.create_database("oncall")
        fl = Fleet(pg, db_url, fake, root)
        write_users(root / "users.yaml")
        (root / "channels.yaml").write_text(f"channels:\n  {CHANNEL}:\n    mode: auto\n")
        (root / "slack_users.yaml").write_text(f"users:\n  {ASKER}: [oncall]\n")
        try:
            for name in ("web-a", "web-b", "slack-a", "slack-b"):
                role = name.split("-")[0]
                fl.replicas[name] = _spawn(fl, name, role, token_delay)
            deadline = time.monotonic() + 180
            for replica in fl.replicas.values():
                _wait_healthy(replica, deadline)
            yield fl
        finally:
            for replica in fl.replicas.values():
                if replica.proc.poll() is None:
                    replica.proc.terminate()
            for replica in fl.replicas.values():
                try:
                    replica.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    replica.kill()
            fake_server.shutdown()
