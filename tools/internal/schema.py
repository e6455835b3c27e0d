"""JSON Schema (OpenAPI 3.0/3.1 and MCP `inputSchema`) -> pydantic models.

Tool arguments are validated by pydantic before any request leaves the process, and the
model-facing schema is generated back from the same pydantic model, so what the model is
told and what is enforced cannot drift apart. Supported: `$ref` (local `#/...` pointers,
cycles cut to a plain object), `enum`/`const`, nested objects and arrays, `allOf` (merged),
`anyOf`/`oneOf` (unions), OpenAPI 3.0 `nullable` and 3.1 `type: [..., "null"]`, defaults,
descriptions and the usual numeric/string constraints. Anything unknown falls back to
`Any`: the server still validates, and the model is never told something false.
"""

from __future__ import annotations

import keyword
import re
from typing import Any, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, create_model

from oncall.core.errors import ConfigError

_SCALARS: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}
_CONSTRAINTS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "minLength": "min_length",
    "maxLength": "max_length",
    "pattern": "pattern",
    "minItems": "min_length",
    "maxItems": "max_length",
}
MAX_DEPTH = 8  # deeper nesting (or a $ref cycle) becomes a plain object


class SchemaConverter:
    """Builds pydantic types from schemas that may `$ref` into one root document."""

    def __init__(self, root: dict[str, Any], where: str):
        self.root = root
        self.where = where  # named in errors, e.g. "openapi spec platform.json"
        self._models: dict[str, type[BaseModel]] = {}

    def model(
        self, name: str, schema: dict[str, Any], doc: str = "", forbid_extra: bool = True
    ) -> type[BaseModel]:
        """A model for an object schema; `doc` becomes its docstring (the tool description
        LangChain sends to the model)."""
        schema = self._merged(self._deref(schema))
        required = set(schema.get("required", []))
        fields: dict[str, Any] = {}
        for prop, sub in (schema.get("properties") or {}).items():
            fields[python_name(prop)] = self.field(prop, sub, prop in required, f"{name}_{prop}")
        config = ConfigDict(
            populate_by_name=True,
            extra="forbid" if forbid_extra else "allow",
        )
        model = create_model(model_name(name), __config__=config, **fields)
        model.__doc__ = doc or schema.get("description")  # None: no description at all
        return model

    def field(self, prop: str, schema: dict[str, Any], required: bool, name: str) -> Any:
        """A `(type, FieldInfo)` pair for `create_model`, keeping the original property
        name as the alias when it is not a Python identifier (`X-Request-Id`, `from`)."""
        resolved = self._deref(schema)
        annotation = self.type_of(resolved, name, depth=1)
        kwargs: dict[str, Any] = {}
        description = schema.get("description") or resolved.get("description")
        if description:
            kwargs["description"] = description
        for key, target in _CONSTRAINTS.items():
            if key in resolved and isinstance(resolved[key], int | float | str):
                if key == "pattern" and "enum" in resolved:
                    continue
                kwargs[target] = resolved[key]
        if python_name(prop) != prop:
            kwargs["alias"] = prop
        if "default" in resolved:
            return annotation, Field(resolved["default"], **kwargs)
        if required:
            return annotation, Field(..., **kwargs)
        return Optional[annotation], Field(None, **kwargs)  # noqa: UP045 (runtime type)

    def type_of(self, schema: dict[str, Any], name: str, depth: int) -> Any:
        """The Python type for one schema (already dereferenced or not)."""
        if depth > MAX_DEPTH:
            return dict[str, Any]
        ref = schema.get("$ref")
        if ref:
            return self._ref_type(ref, depth)
        schema = self._merged(schema)
        nullable = bool(schema.get("nullable"))
        options = schema.get("anyOf") or schema.get("oneOf")
        if options:
            types = []
            for i, option in enumerate(options):
                if option.get("type") == "null":
                    nullable = True
                    continue
                types.append(self.type_of(option, f"{name}_{i}", depth + 1))
            result = types[0] if len(types) == 1 else Union[tuple(types)]  # noqa: UP007
        else:
            result = self._typed(schema, name, depth)
            kind = schema.get("type")
            if isinstance(kind, list) and "null" in kind:
                nullable = True
        return Optional[result] if nullable else result  # noqa: UP045

    def _typed(self, schema: dict[str, Any], name: str, depth: int) -> Any:
        if "const" in schema:
            return Literal[schema["const"]]
        if "enum" in schema:
            values = [v for v in schema["enum"] if v is not None]
            return Literal[tuple(values)] if values else Any
        kind = schema.get("type")
        if isinstance(kind, list):
            kinds = [k for k in kind if k != "null"]
            kind = kinds[0] if len(kinds) == 1 else None
        if kind in _SCALARS:
            return _SCALARS[kind]
        if kind == "array":
            items = schema.get("items") or {}
            return list[self.type_of(items, f"{name}_item", depth + 1)]  # type: ignore[misc]
        if kind == "object" or "properties" in schema:
            if not schema.get("properties"):
                return dict[str, Any]
            closed = schema.get("additionalProperties") is False
            return self.model(name, schema, forbid_extra=closed)
        return Any

    def _ref_type(self, ref: str, depth: int) -> Any:
        if ref in self._models:
            return self._models[ref]
        target = self._resolve(ref)
        if not (target.get("type") == "object" or "properties" in target or "allOf" in target):
            return self.type_of(target, ref.rsplit("/", 1)[-1], depth + 1)
        # Register a placeholder first so a cycle (Node -> children: [Node]) terminates.
        self._models[ref] = dict[str, Any]  # type: ignore[assignment]
        model = self.model(
            ref.rsplit("/", 1)[-1],
            target,
            forbid_extra=target.get("additionalProperties") is False,
        )
        self._models[ref] = model
        return model

    def _deref(self, schema: dict[str, Any], hops: int = 0) -> dict[str, Any]:
        ref = schema.get("$ref")
        if not ref or hops > MAX_DEPTH:
            return schema
        return self._deref(self._resolve(ref), hops + 1)

    def _resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            raise ConfigError(
                self.where, f"only local $ref pointers (#/...) are supported, got {ref!r}"
            )
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise ConfigError(self.where, f"$ref {ref!r} points at nothing")
            node = node[part]
        if not isinstance(node, dict):
            raise ConfigError(self.where, f"$ref {ref!r} is not a schema object")
        return node

    def _merged(self, schema: dict[str, Any]) -> dict[str, Any]:
        """`allOf` parts merged into one object schema (properties and required lists)."""
        if "allOf" not in schema:
            return schema
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        props: dict[str, Any] = dict(merged.get("properties") or {})
        required: list[str] = list(merged.get("required") or [])
        for part in schema["allOf"]:
            part = self._merged(self._deref(part))
            props.update(part.get("properties") or {})
            required += part.get("required") or []
            for key in ("type", "description"):
                merged.setdefault(key, part.get(key))
        merged["properties"], merged["required"] = props, required
        merged["type"] = merged.get("type") or "object"
        return merged


def python_name(prop: str) -> str:
    """A valid, non-keyword identifier for a JSON property name."""
    name = re.sub(r"\W", "_", prop)
    if not name or name[0].isdigit():
        name = f"f_{name}"
    if keyword.iskeyword(name) or name.startswith("_") or name in BaseModel.__dict__:
        name = f"{name.strip('_')}_"
    return name


def model_name(name: str) -> str:
    return re.sub(r"\W", "_", name) or "Args"
