"""Validate a JSON value against a definition of a Swagger 2.0 model (Amazon's API models).

Small on purpose: it knows exactly the keywords Amazon's models use and refuses any other, so
it can never pass a payload by silently ignoring a constraint. Used by the fake server (every
synthetic payload it serves validates) and by the tests (recorded responses validate).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

__all__ = ["SchemaError", "SwaggerSchemas"]

_KNOWN = frozenset(
    {
        "$ref",
        "type",
        "required",
        "properties",
        "items",
        "enum",
        "format",
        "minimum",
        "maximum",
        "minItems",
        "maxItems",
        "minLength",
        "maxLength",
        "pattern",
        "additionalProperties",
        "description",
        "example",
        "title",
        "default",
    }
)
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


class SchemaError(ValueError):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path or '$'}: {problem}")
        self.path = path
        self.problem = problem


class SwaggerSchemas:
    def __init__(self, document: dict[str, Any]) -> None:
        self._definitions: dict[str, Any] = document.get("definitions", {})

    def validate(self, value: Any, definition: str) -> None:
        """Raise `SchemaError` naming the first offending path."""
        self._check(value, {"$ref": f"#/definitions/{definition}"}, "")

    def is_valid(self, value: Any, definition: str) -> bool:
        try:
            self.validate(value, definition)
        except SchemaError:
            return False
        return True

    def _check(self, value: Any, schema: dict[str, Any], path: str) -> None:
        unknown = {k for k in schema if not k.startswith("x-")} - _KNOWN
        if unknown:
            raise SchemaError(path, f"schema keyword(s) not supported: {sorted(unknown)}")
        if "$ref" in schema:
            name = schema["$ref"].removeprefix("#/definitions/")
            self._check(value, self._definitions[name], path)
            return
        kind = schema.get("type")
        wrong_type = kind is not None and (
            not isinstance(value, _TYPES[kind])
            or (kind in ("integer", "number") and isinstance(value, bool))
        )
        if wrong_type:
            raise SchemaError(path, f"expected {kind}")
        if "enum" in schema and value not in schema["enum"]:
            raise SchemaError(path, "value not in enum")
        if isinstance(value, str):
            self._check_string(value, schema, path)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in schema and value < schema["minimum"]:
                raise SchemaError(path, "below minimum")
            if "maximum" in schema and value > schema["maximum"]:
                raise SchemaError(path, "above maximum")
        elif isinstance(value, list):
            if len(value) < schema.get("minItems", 0):
                raise SchemaError(path, "too few items")
            if "maxItems" in schema and len(value) > schema["maxItems"]:
                raise SchemaError(path, "too many items")
            for index, item in enumerate(value):
                self._check(item, schema.get("items", {}), f"{path}[{index}]")
        elif isinstance(value, dict):
            self._check_object(value, schema, path)

    def _check_string(self, value: str, schema: dict[str, Any], path: str) -> None:
        if len(value) < schema.get("minLength", 0):
            raise SchemaError(path, "too short")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaError(path, "too long")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            raise SchemaError(path, "does not match pattern")
        fmt = schema.get("format")
        if fmt == "date-time":
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
                ok = bool(_DATE_TIME.match(value))
            except ValueError:
                ok = False
            if not ok:
                raise SchemaError(path, "not an RFC 3339 date-time")
        elif fmt == "date":
            try:
                date.fromisoformat(value)
            except ValueError:
                raise SchemaError(path, "not a date") from None

    def _check_object(self, value: dict[str, Any], schema: dict[str, Any], path: str) -> None:
        for name in schema.get("required", []):
            if name not in value:
                raise SchemaError(f"{path}.{name}" if path else name, "required but missing")
        properties: dict[str, Any] = schema.get("properties", {})
        extra = schema.get("additionalProperties", True)
        for name, item in value.items():
            where = f"{path}.{name}" if path else name
            if name in properties:
                self._check(item, properties[name], where)
            elif extra is False:
                raise SchemaError(where, "property not allowed")
            elif isinstance(extra, dict):
                self._check(item, extra, where)
