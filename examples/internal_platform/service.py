"""A fictional company's internal platform API, for the demo and the integration tests.

Service health, recent deploys, the on-call schedule and incident tickets of the company in
examples/handbook (teams: payments, identity, tracking, routing, platform). Data is made up
and in memory; tickets created are lost on exit. Writes need the `X-Api-Key` header when the
service was started with a key (env `DEMO_PLATFORM_API_KEY`), to show secret-header auth.

    python examples/internal_platform/service.py --port 8790
    curl http://127.0.0.1:8790/openapi.json
"""

from __future__ import annotations

import argparse
import os
from enum import StrEnum
from typing import Annotated

from fastapi import FastAPI, Header, HTTPException, Query
from pydantic import BaseModel, Field


class Health(StrEnum):
    healthy = "healthy"
    degraded = "degraded"
    down = "down"


class Severity(StrEnum):
    sev1 = "sev1"
    sev2 = "sev2"
    sev3 = "sev3"
    sev4 = "sev4"


class Region(StrEnum):
    eu_central_1 = "eu-central-1"
    eu_west_1 = "eu-west-1"


class ServiceStatus(BaseModel):
    service: str
    team: str
    health: Health
    error_rate_pct: float = Field(description="5xx share of requests, last 15 minutes.")
    p95_latency_ms: int
    open_incidents: int
    note: str = ""


class Deploy(BaseModel):
    service: str
    version: str
    deployed_at: str
    author: str
    status: str


class OnCall(BaseModel):
    team: str
    primary: str
    secondary: str
    shift_ends: str
    channel: str


class Impact(BaseModel):
    customers_affected: int | None = Field(None, ge=0, description="Rough count, if known.")
    regions: list[Region] = Field(default_factory=list)


class IncidentLinks(BaseModel):
    runbook: str | None = Field(None, description="Runbook path or URL.")
    dashboard: str | None = None


class IncidentCreate(BaseModel):
    service: str = Field(description="Affected service, e.g. payments-api.")
    title: str = Field(min_length=5, max_length=120)
    severity: Severity
    description: str = ""
    impact: Impact = Field(default_factory=Impact)
    links: IncidentLinks | None = None


class Ticket(IncidentCreate):
    id: str
    status: str = "open"
    created_by: str


SERVICES = {
    "payments-api": ("payments", Health.degraded, 2.4, 870, 1,
                     "Elevated 5xx since 09:40 UTC after deploy 2026.11.3; rollback under review."),
    "auth-gateway": ("identity", Health.healthy, 0.02, 45, 0, ""),
    "notification-service": ("tracking", Health.healthy, 0.1, 120, 0, ""),
    "shipment-tracker": ("tracking", Health.healthy, 0.05, 95, 0, ""),
    "route-optimizer": ("routing", Health.healthy, 0.3, 2100, 0, "Nightly batch running."),
}  # fmt: skip
DEPLOYS = [
    Deploy(service="payments-api", version="2026.11.3", deployed_at="2026-11-23T09:32:00Z",
           author="mira.okafor", status="succeeded"),
    Deploy(service="payments-api", version="2026.11.2", deployed_at="2026-11-20T14:05:00Z",
           author="jonas.berg", status="succeeded"),
    Deploy(service="auth-gateway", version="4.18.0", deployed_at="2026-11-22T10:11:00Z",
           author="li.wen", status="succeeded"),
    Deploy(service="route-optimizer", version="7.2.1", deployed_at="2026-11-21T16:40:00Z",
           author="sam.patel", status="rolled back"),
]  # fmt: skip
ONCALL = {
    "payments": ("Priya Raman", "Tom Becker", "#oncall-payments"),
    "identity": ("Li Wen", "Ana Costa", "#oncall-identity"),
    "tracking": ("Omar Haddad", "Julia Nowak", "#oncall-tracking"),
    "routing": ("Sam Patel", "Omar Haddad", "#oncall-routing"),
    "platform": ("Erik Lund", "Mira Okafor", "#oncall-platform"),
}
SHIFT_ENDS = "2026-11-30T10:00:00+01:00"


def find_service(name: str) -> str:
    """Exact name, or the one service a short name ("payments") or team points at."""
    name = name.strip().lower()
    if name in SERVICES:
        return name
    matches = [s for s, row in SERVICES.items() if s.startswith(name) or row[0] == name]
    if len(matches) == 1:
        return matches[0]
    raise HTTPException(404, f"unknown service {name!r}; known: {', '.join(SERVICES)}")


def create_app(api_key: str | None = None) -> FastAPI:
    app = FastAPI(
        title="Internal platform (demo)",
        version="1.0.0",
        description="Service health, deploys, on-call schedule and incident tickets.",
        servers=[{"url": "http://127.0.0.1:8790"}],
    )
    tickets: list[Ticket] = []

    @app.get("/health", include_in_schema=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/services/{service}/status", operation_id="get_service_status")
    def service_status(service: str) -> ServiceStatus:
        """Current health of a service: healthy/degraded/down, error rate, p95 latency and
        open incidents. Accepts a service name (payments-api) or its team (payments)."""
        name = find_service(service)
        team, health, errors, p95, open_incidents, note = SERVICES[name]
        return ServiceStatus(
            service=name,
            team=team,
            health=health,
            error_rate_pct=errors,
            p95_latency_ms=p95,
            open_incidents=open_incidents,
            note=note,
        )

    @app.get("/services/{service}/deploys", operation_id="list_recent_deploys")
    def recent_deploys(
        service: str, limit: Annotated[int, Query(ge=1, le=20, description="How many.")] = 5
    ) -> list[Deploy]:
        """The most recent deploys of a service, newest first."""
        name = find_service(service)
        return [d for d in DEPLOYS if d.service == name][:limit]

    @app.get("/oncall/{team}", operation_id="get_oncall")
    def oncall(team: str) -> OnCall:
        """Who is on call for a team right now (primary and secondary) and until when.
        Accepts a team (payments) or one of its services (payments-api)."""
        key = team.strip().lower()
        if key not in ONCALL:
            key = SERVICES[find_service(key)][0]
        primary, secondary, channel = ONCALL[key]
        return OnCall(team=key, primary=primary, secondary=secondary, shift_ends=SHIFT_ENDS,
                      channel=channel)  # fmt: skip

    @app.post("/incidents", operation_id="create_incident_ticket", status_code=201)
    def create_incident(
        incident: IncidentCreate,
        x_api_key: Annotated[str | None, Header(alias="X-Api-Key")] = None,
    ) -> Ticket:
        """Open an incident ticket (a write: the agent asks a human first)."""
        if api_key and x_api_key != api_key:
            raise HTTPException(401, "missing or wrong X-Api-Key")
        find_service(incident.service)
        ticket = Ticket(**incident.model_dump(), id=f"INC-{1000 + len(tickets) + 1}",
                        created_by="oncall-agent")  # fmt: skip
        tickets.append(ticket)
        return ticket

    @app.get("/incidents", operation_id="list_incident_tickets")
    def list_incidents() -> list[Ticket]:
        """Incident tickets opened since the service started."""
        return tickets

    return app


def main() -> None:
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    app = create_app(os.environ.get("DEMO_PLATFORM_API_KEY") or None)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
