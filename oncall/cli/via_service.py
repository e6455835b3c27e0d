"""The commands' side of the running service: find it (and say so in one line), then ask,
ingest and sync through it with the same progress bars and reports as a local run."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from oncall.cli.console import agent_session, err_console, ingest_progress
from oncall.cli.render import render_report, shown
from oncall.cli.service import RemoteAgent, ServiceClient, find_service
from oncall.core.errors import OncallError
from oncall.core.identity import Principal
from oncall.core.settings import Settings

if TYPE_CHECKING:
    from agent.service import Answer
    from agent.state import Route


def running_service(settings: Settings) -> ServiceClient | None:
    """The `oncall serve` running for this data dir, announced on stderr, or None."""
    client = find_service(settings.data_dir)
    if client is not None:
        err_console.print(f"[dim]using the running service at {client.url}[/]")
    return client


def ingest_via(
    client: ServiceClient, paths: Iterable[Path], prune: bool, acl: list[str], console: Any
) -> bool:
    """`oncall ingest` through the service; True when no file failed."""
    body = {"paths": [str(p.expanduser().resolve()) for p in paths], "prune": prune, "acl": acl}
    return _follow(client.stream("/ingest", body), console)


def sync_via(client: ServiceClient, sources: Path, names: list[str], console: Any) -> bool:
    """`oncall sync` of `names` through the service; True when every source synced cleanly."""
    body = {"sources": str(sources.expanduser().resolve()), "names": names}
    return _follow(client.stream("/sync", body), console, per_source=True)


def _follow(events: Iterable[dict[str, Any]], console: Any, per_source: bool = False) -> bool:
    """Show a stream of local-API events: a progress bar per label, then its report."""
    from ingest.pipeline import IngestReport

    ok, ended = True, False
    with contextlib.ExitStack() as bars:
        progress: dict[str, tuple[Callable[[int], None], Callable[[str, int], None]]] = {}
        for event in events:
            kind, label = event.get("event"), str(event.get("label", ""))
            if kind == "waiting":
                err_console.print(f"[yellow]waiting[/]: {shown(event.get('detail', ''))}")
            elif kind in ("start", "file"):
                if label not in progress:
                    bars.close()  # the previous source's bar is finished
                    progress[label] = bars.enter_context(ingest_progress(label))
                on_start, on_file = progress[label]
                if kind == "start":
                    on_start(int(event["files"]))
                else:
                    on_file(str(event["doc_id"]), int(event["chunks"]))
            elif kind == "failed":
                bars.close()
                err_console.print(f"[bold red]{shown(label)}[/]: {shown(event.get('detail'))}")
                ok = False
            elif kind == "report":
                bars.close()
                report = IngestReport(**event["report"])
                if per_source and event.get("source"):
                    src = event["source"]
                    console.print(
                        f"[bold]{shown(src['name'])}[/] ({shown(src['type'])}, "
                        f"acl {shown(', '.join(src['acl']))})"
                    )
                render_report(console, report, float(event["seconds"]), event["total_chunks"])
                ok &= report.ok
            elif kind == "end":
                ended = True
    if not ended:
        raise OncallError(
            "service_error", "the service ended the job without finishing it; see its log"
        )
    return ok


class Asker(Protocol):
    """What `oncall ask` and `oncall chat` need of an agent: a local `Agent`, or the
    running service's (`RemoteAgent`)."""

    def ask(
        self,
        question: str,
        thread_id: str | None = None,
        route: Route | None = None,
        user: Principal | None = None,
    ) -> Answer: ...

    def resume(
        self, thread_id: str, approved: bool, approver: str, user: Principal | None = None
    ) -> Answer: ...


@contextlib.contextmanager
def asking_agent(settings: Settings) -> Iterator[Asker]:
    """The running service's agent when there is one, else one built (and its model server
    started) for this command."""
    service = running_service(settings)
    if service is not None:
        yield RemoteAgent(service)
        return
    with agent_session(settings) as agent:
        yield agent
