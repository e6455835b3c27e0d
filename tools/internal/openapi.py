"""OpenAPI 3 operations -> catalogue tools that call the service with httpx.

Each operation becomes one tool named by its `operationId`. Its arguments are the path,
query and header parameters plus the JSON request body's properties (flattened, so small
models see one flat object; a body that is not an object, or whose property names clash
with a parameter, stays nested under `body`). The description is the operation's summary
and description unless the catalogue overrides it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import yaml

from oncall.core.errors import ConfigError, ToolError
from oncall.core.identity import Principal
from tools.internal.catalogue import Invoke, ToolSpec
from tools.internal.policy import ResolvedAuth
from tools.internal.schema import SchemaConverter, python_name

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
READ_METHODS = {"get", "head", "options"}
# Credentials come from the catalogue's auth config, never from the model.
_SKIPPED_HEADERS = {"authorization", "cookie", "x-api-key"}


@dataclass
class Operation:
    name: str
    method: str
    path: str
    description: str
    locations: dict[str, tuple[str, str]] = field(default_factory=dict)  # field -> (where, wire)
    schema: dict[str, Any] = field(default_factory=dict)  # combined arguments schema


def load_spec(location: str, base_dir: Path, timeout_s: float = 10.0) -> tuple[dict[str, Any], str]:
    """The spec from a file (JSON or YAML; relative to `base_dir`) or an http(s) URL, and
    the URL it came from (to resolve a relative `servers` entry)."""
    where = f"openapi spec {location}"
    try:
        if re.match(r"^https?://", location):
            response = httpx.get(location, timeout=timeout_s)
            response.raise_for_status()
            text, origin = response.text, location
        else:
            path = (base_dir / location).resolve()
            text, origin = path.read_text(encoding="utf-8"), ""
        spec = yaml.safe_load(text)  # JSON is YAML
    except (httpx.HTTPError, OSError) as exc:
        raise ConfigError(where, f"cannot read it ({exc}); check the path or that the "
                          "service is running") from exc  # fmt: skip
    except yaml.YAMLError as exc:
        raise ConfigError(where, f"not valid JSON/YAML: {exc}") from exc
    if not isinstance(spec, dict) or not str(spec.get("openapi", "")).startswith("3"):
        raise ConfigError(where, "not an OpenAPI 3 document (no `openapi: 3.x` field)")
    return spec, origin


def operations(spec: dict[str, Any], where: str) -> list[Operation]:
    """Every operation of the spec with its combined arguments schema."""
    converter = SchemaConverter(spec, where)
    found = []
    for path, item in (spec.get("paths") or {}).items():
        shared = item.get("parameters") or []
        for method in METHODS:
            op = item.get(method)
            if op is None:
                continue
            name = op.get("operationId") or _slug(f"{method}_{path}")
            text = "\n\n".join(p for p in (op.get("summary"), op.get("description")) if p)
            operation = Operation(name, method, path, text or f"{method.upper()} {path}")
            _add_parameters(operation, [*shared, *(op.get("parameters") or [])], converter)
            _add_body(operation, op.get("requestBody"), converter)
            found.append(operation)
    return found


def tool_specs(
    spec: dict[str, Any], where: str, base_url: str, client: httpx.Client
) -> list[ToolSpec]:
    converter = SchemaConverter(spec, where)
    specs = []
    for op in operations(spec, where):
        model = converter.model(op.name, op.schema, doc=op.description)
        specs.append(
            ToolSpec(
                original_name=op.name,
                description=op.description,
                args_model=model,
                default_access="read" if op.method in READ_METHODS else "write",
                invoke_with_auth=_invoker(op, base_url, client),
            )
        )
    return specs


def server_url(spec: dict[str, Any], origin: str, configured: str | None, where: str) -> str:
    """`base_url` from the catalogue, else the spec's first server (made absolute)."""
    if configured:
        return configured.rstrip("/")
    servers = spec.get("servers") or []
    url = servers[0].get("url", "") if servers else ""
    if url and (re.match(r"^https?://", url) or origin):
        return urljoin(origin, url).rstrip("/")
    raise ConfigError(where, "no usable `servers` URL in the spec: set `base_url` in the catalogue")


def _add_parameters(op: Operation, params: list[dict[str, Any]], conv: SchemaConverter) -> None:
    properties: dict[str, Any] = op.schema.setdefault("properties", {})
    required: list[str] = op.schema.setdefault("required", [])
    for raw in params:
        param = conv._deref(raw)
        where, wire = param.get("in"), param.get("name", "")
        if where not in {"path", "query", "header"}:
            continue
        if where == "header" and wire.lower() in _SKIPPED_HEADERS:
            continue
        schema = dict(param.get("schema") or {"type": "string"})
        if param.get("description"):
            schema["description"] = param["description"]
        properties[wire] = schema
        op.locations[python_name(wire)] = (where, wire)
        if param.get("required") or where == "path":
            required.append(wire)
    op.schema["type"] = "object"


def _add_body(op: Operation, body: dict[str, Any] | None, conv: SchemaConverter) -> None:
    if not body:
        return
    body = conv._deref(body)
    content = body.get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    if not media or "schema" not in media:
        return
    schema = conv._merged(conv._deref(media["schema"]))
    props = schema.get("properties") or {}
    clash = set(props) & set(op.schema["properties"])
    if schema.get("type", "object") == "object" and props and not clash:
        op.schema["properties"].update(props)
        op.schema["required"] += schema.get("required") or []
        for prop in props:
            op.locations[python_name(prop)] = ("body", prop)
        return
    op.schema["properties"]["body"] = media["schema"]
    if body.get("required"):
        op.schema["required"].append("body")
    op.locations["body"] = ("body_whole", "body")


def _invoker(op: Operation, base_url: str, client: httpx.Client) -> Any:
    def with_auth(auth: ResolvedAuth) -> Invoke:
        def invoke(args: dict[str, Any], principal: Principal, timeout_s: float) -> str:
            path, query, headers, body = op.path, {}, auth.headers(principal), None
            json_body: dict[str, Any] = {}
            for wire_or_field, value in args.items():
                where, wire = _location(op, wire_or_field)
                if where == "path":
                    path = path.replace("{" + wire + "}", quote(str(value), safe=""))
                elif where == "query":
                    query[wire] = value
                elif where == "header":
                    headers[wire] = str(value)
                elif where == "body_whole":
                    body = value
                else:
                    json_body[wire] = value
            if json_body:
                body = json_body
            response = client.request(
                op.method.upper(), base_url + path, params=query, headers=headers,
                json=body, timeout=timeout_s,
            )  # fmt: skip
            return _result_text(op.name, response)

        return invoke

    return with_auth


def _location(op: Operation, key: str) -> tuple[str, str]:
    """`args` are dumped by alias, so keys are wire names; map back via the field name."""
    return op.locations.get(python_name(key)) or op.locations.get(key) or ("body", key)


def _result_text(name: str, response: httpx.Response) -> str:
    if response.status_code >= 400:
        detail = response.text[:500].strip() or response.reason_phrase
        hint = "fix the arguments" if response.status_code < 500 else "the service failed"
        raise ToolError(f"{name} returned HTTP {response.status_code} ({hint}): {detail}")
    try:
        return json.dumps(response.json(), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        return response.text or f"HTTP {response.status_code}, empty body"


def _slug(text: str) -> str:
    return re.sub(r"_+", "_", re.sub(r"[^A-Za-z0-9]", "_", text)).strip("_")[:64]
