"""OpenAPI / JSON Schema -> pydantic tool arguments, and the HTTP requests built from them
(httpx MockTransport: no sockets)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from oncall.core.errors import ConfigError, ToolError
from oncall.core.identity import Principal
from tests.conftest import REPO
from tools.internal import openapi
from tools.internal.catalogue import expand
from tools.internal.policy import AuthConfig, ResolvedAuth
from tools.internal.schema import SchemaConverter

RICH_SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "rich", "version": "1"},
    "servers": [{"url": "/api/v2"}],
    "paths": {
        "/teams/{team}/incidents": {
            "parameters": [{"$ref": "#/components/parameters/Team"}],
            "get": {
                "operationId": "listIncidents",
                "summary": "List incidents of a team.",
                "parameters": [
                    {"name": "status", "in": "query",
                     "schema": {"type": "string", "enum": ["open", "closed"]}},
                    {"name": "limit", "in": "query",
                     "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}},
                    {"name": "X-Request-Id", "in": "header", "schema": {"type": "string"}},
                    {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
                ],
            },
            "post": {
                "operationId": "createIncident",
                "description": "Open an incident.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/IncidentCreate"}}},
                },
            },
        },
        "/bulk": {
            "put": {
                "requestBody": {"content": {"application/json": {
                    "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}}}}},
            }
        },
    },
    "components": {
        "parameters": {
            "Team": {"name": "team", "in": "path", "required": True,
                     "description": "Team slug.", "schema": {"type": "string"}},
        },
        "schemas": {
            "Severity": {"type": "string", "enum": ["sev1", "sev2", "sev3"]},
            "Tag": {"type": "object", "required": ["key"],
                    "properties": {"key": {"type": "string"}, "value": {"type": "string"}}},
            "Base": {"type": "object", "required": ["title"],
                     "properties": {"title": {"type": "string", "minLength": 5}}},
            "IncidentCreate": {
                "allOf": [
                    {"$ref": "#/components/schemas/Base"},
                    {"type": "object", "required": ["severity", "impact"], "properties": {
                        "severity": {"$ref": "#/components/schemas/Severity"},
                        "impact": {"type": "object", "additionalProperties": False,
                                   "required": ["regions"], "properties": {
                                       "regions": {"type": "array",
                                                   "items": {"type": "string",
                                                             "enum": ["eu", "us"]}},
                                       "customers": {"type": "integer", "nullable": True}}},
                        "tags": {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}},
                        "parent": {"$ref": "#/components/schemas/Node"},
                        "from": {"type": "string", "description": "Reporter."}}},
                ]
            },
            "Node": {"type": "object", "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}},
        },
    },
}  # fmt: skip


def specs_by_name(spec: dict[str, Any], handler: Any = None) -> dict[str, Any]:
    client = httpx.Client(transport=httpx.MockTransport(handler or (lambda r: httpx.Response(200))))
    return {s.original_name: s for s in openapi.tool_specs(spec, "rich", "http://svc", client)}


def test_rich_spec_refs_enums_and_nested_bodies_become_validated_arguments() -> None:
    specs = specs_by_name(RICH_SPEC)
    assert set(specs) == {"listIncidents", "createIncident", "put_bulk"}
    create = specs["createIncident"].args_model
    ok = create.model_validate(
        {"team": "payments", "title": "payments 5xx", "severity": "sev2",
         "impact": {"regions": ["eu"], "customers": None},
         "tags": [{"key": "k"}], "parent": {"name": "a", "children": [{"name": "b"}]},
         "from": "alice"}
    )  # fmt: skip
    assert ok.model_dump(by_alias=True)["from"] == "alice"  # keyword property kept via alias
    for bad, where in [
        ({"severity": "sev9"}, "severity"),  # enum from a $ref
        ({"title": "x"}, "title"),  # constraint from an allOf part
        ({"impact": {"regions": ["mars"]}}, "impact.regions.0"),  # nested enum
        ({"impact": {"regions": [], "extra": 1}}, "impact.extra"),  # additionalProperties
        ({"team": None}, "team"),  # path parameter from components is required
    ]:
        args = {"team": "payments", "title": "payments 5xx", "severity": "sev2",
                "impact": {"regions": ["eu"]}, **bad}  # fmt: skip
        with pytest.raises(ValidationError) as exc:
            create.model_validate(args)
        assert where in {".".join(map(str, e["loc"])) for e in exc.value.errors()}
    schema = json.dumps(create.model_json_schema())
    assert '"sev1"' in schema and "Reporter." in schema and "Team slug." in schema
    assert specs["createIncident"].default_access == "write"
    assert specs["listIncidents"].default_access == "read"


def test_parameters_defaults_and_credential_headers() -> None:
    model = specs_by_name(RICH_SPEC)["listIncidents"].args_model
    fields = model.model_json_schema()["properties"]
    assert "Authorization" not in fields, "credentials come from the catalogue, not the model"
    assert fields["limit"]["default"] == 10
    assert '"enum": ["open", "closed"]' in json.dumps(fields["status"])
    with pytest.raises(ValidationError):
        model.model_validate({"team": "t", "limit": 99})
    with pytest.raises(ValidationError, match="Extra inputs"):
        model.model_validate({"team": "t", "bogus": 1})


def test_request_is_built_from_arguments_and_auth() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "INC-1"})

    specs = specs_by_name(RICH_SPEC, handler)
    auth = ResolvedAuth(AuthConfig(header="X-Api-Key", secret_env="K"), {"K": "key-1"}, "t")
    invoke = specs["createIncident"].invoke_with_auth(auth)
    args = {"team": "pay ments/eu", "title": "payments 5xx", "severity": "sev1",
            "impact": {"regions": ["eu"]}, "from": "bob"}  # fmt: skip
    text = invoke(args, Principal.local(), 3.0)
    assert json.loads(text) == {"id": "INC-1"}
    request = seen[-1]
    assert request.method == "POST"
    assert request.url.raw_path == b"/teams/pay%20ments%2Feu/incidents"
    assert request.headers["X-Api-Key"] == "key-1"
    assert json.loads(request.content) == {
        "title": "payments 5xx", "severity": "sev1", "impact": {"regions": ["eu"]}, "from": "bob"
    }  # fmt: skip
    specs["listIncidents"].invoke_with_auth(ResolvedAuth(None, {}, "t"))(
        {"team": "a", "status": "open", "X-Request-Id": "r1"}, Principal.local(), 3.0
    )
    assert seen[-1].url.params["status"] == "open" and seen[-1].headers["X-Request-Id"] == "r1"
    bulk = specs["put_bulk"].invoke_with_auth(ResolvedAuth(None, {}, "t"))
    bulk({"body": [{"key": "a"}]}, Principal.local(), 3.0)
    assert json.loads(seen[-1].content) == [{"key": "a"}], "a non-object body stays nested"


def test_http_errors_become_tool_errors_the_model_can_act_on() -> None:
    specs = specs_by_name(RICH_SPEC, lambda r: httpx.Response(404, text="no team 'x'"))
    invoke = specs["listIncidents"].invoke_with_auth(ResolvedAuth(None, {}, "t"))
    with pytest.raises(ToolError, match=r"HTTP 404 \(fix the arguments\): no team 'x'"):
        invoke({"team": "x"}, Principal.local(), 3.0)


def test_server_url_resolution_and_bad_specs(tmp_path: Path) -> None:
    assert (
        openapi.server_url(RICH_SPEC, "http://h:1/openapi.json", None, "w") == "http://h:1/api/v2"
    )
    assert openapi.server_url(RICH_SPEC, "", "http://cfg/", "w") == "http://cfg"
    with pytest.raises(ConfigError, match="set `base_url`"):
        openapi.server_url(RICH_SPEC, "", None, "w")
    (tmp_path / "swagger.json").write_text('{"swagger": "2.0"}')
    with pytest.raises(ConfigError, match="not an OpenAPI 3 document"):
        openapi.load_spec("swagger.json", tmp_path)
    with pytest.raises(ConfigError, match="cannot read it"):
        openapi.load_spec("missing.yaml", tmp_path)
    with pytest.raises(ConfigError, match="only local"):
        SchemaConverter({}, "w").model("m", {"properties": {"a": {"$ref": "other.json#/A"}}})


def test_demo_spec_file_converts_to_the_demo_tools() -> None:
    spec_path = REPO / "examples" / "internal_platform" / "platform.openapi.json"
    spec, _ = openapi.load_spec(spec_path.name, spec_path.parent)
    specs = specs_by_name(spec)
    assert {"get_service_status", "get_oncall", "create_incident_ticket"} <= set(specs)
    ticket = specs["create_incident_ticket"].args_model
    ticket.model_validate({"service": "payments-api", "title": "5xx spike", "severity": "sev2",
                           "impact": {"regions": ["eu-west-1"]}})  # fmt: skip
    with pytest.raises(ValidationError):
        ticket.model_validate({"service": "p", "title": "5xx spike", "severity": "urgent"})


def test_env_expansion_in_catalogue_strings() -> None:
    raw = {"a": "${URL:-http://d}", "b": ["x${N}y"], "c": 3}
    assert expand(raw, {"N": "1"}, Path("c.yaml")) == {"a": "http://d", "b": ["x1y"], "c": 3}
    with pytest.raises(ConfigError, match=r"uses \$\{MISSING\}"):
        expand("${MISSING}", {}, Path("c.yaml"))
