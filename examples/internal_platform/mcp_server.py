"""A small MCP server (stdio) for the demo: incident history and alert silences.

Started by the agent itself from the catalogue (`mcp: {command: ${PYTHON}, args: [...]}`);
speaks MCP over stdin/stdout with the official SDK. `recent_incidents` is marked read-only,
`silence_alert` is not, so the agent treats it as a write that needs approval.

    python examples/internal_platform/mcp_server.py              # stdio
    python examples/internal_platform/mcp_server.py --http 8791  # http://127.0.0.1:8791/mcp
"""

from __future__ import annotations

from typing import Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations

INCIDENTS = [
    {
        "id": "INC-0981",
        "service": "payments-api",
        "severity": "sev2",
        "date": "2026-06-17",
        "title": "PSP timeouts after PgBouncer pool exhaustion",
        "postmortem": "postmortems/2026-06-17-payments-api-outage",
    },
    {
        "id": "INC-0990",
        "service": "route-optimizer",
        "severity": "sev3",
        "date": "2026-03-11",
        "title": "Late route plans",
        "postmortem": "postmortems/2026-03-11-route-optimizer-late-plans",
    },
    {
        "id": "INC-0995",
        "service": "notification-service",
        "severity": "sev3",
        "date": "2026-08-02",
        "title": "Notification lag from consumer backlog",
        "postmortem": "",
    },
]

server = MCPServer("demo-incidents", instructions="Incident history and alert silences.")
silences: list[dict[str, object]] = []


@server.tool(annotations=ToolAnnotations(read_only_hint=True))
def recent_incidents(service: str, limit: int = 3) -> list[dict[str, str]]:
    """Past incidents of a service (newest first) with severity and postmortem location."""
    name = service.strip().lower()
    found = [i for i in INCIDENTS if i["service"] == name or i["service"].startswith(name)]
    return found[: max(1, min(limit, 10))]


@server.tool()
def silence_alert(
    alert: str, minutes: int, reason: str, scope: Literal["team", "global"] = "team"
) -> str:
    """Silence an alert for some minutes (a write: the agent asks a human first)."""
    if not 1 <= minutes <= 720:
        raise ToolError("minutes must be between 1 and 720")
    silences.append({"alert": alert, "minutes": minutes, "reason": reason, "scope": scope})
    return f"silenced {alert} for {minutes} min ({scope}); silence #{len(silences)}"


if __name__ == "__main__":
    import sys

    if len(sys.argv) == 3 and sys.argv[1] == "--http":  # streamable HTTP on loopback
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
