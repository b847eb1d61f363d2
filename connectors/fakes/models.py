"""Amazon's API models, as the fake server reads them: routes, usage plans, sandbox examples.

The models are Amazon's own, copied unchanged into `spapi_models/` (see its SOURCE.md), or
read from where `ORDERVAULT_SPAPI_MODELS` points. Usage plans are parsed from each operation's
description, independently of `connectors.ratelimit.plans`, so a wrong table there cannot hide here.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from connectors.fakes.schema import SwaggerSchemas

__all__ = ["MODEL_FILES", "ApiModels", "Operation", "SandboxExample", "models_dir"]

#: Model file -> prefix of its operation names ("orders.searchOrders").
MODEL_FILES = {
    "orders_2026-01-01.json": "orders",
    "ordersV0.json": "ordersV0",
    "tokens_2021-03-01.json": "tokens",
}
_PLAN = re.compile(r"Usage Plan:\*\*.*?\|\s*([0-9.]+)\s*\|\s*([0-9]+)\s*\|", re.DOTALL)


def models_dir() -> Path:
    configured = os.environ.get("ORDERVAULT_SPAPI_MODELS")
    if configured:
        return Path(configured)
    # A copy ships with the package (Apache-2.0, see spapi_models/SOURCE.md), so the fake works
    # in an installed product and on a machine without the shared folder.
    return Path(__file__).resolve().parent / "spapi_models"


@dataclass(frozen=True)
class SandboxExample:
    parameters: Mapping[str, Any]  # name -> value, as in the model
    status: int
    response: Any


@dataclass(frozen=True)
class Operation:
    name: str  # "ordersV0.getOrders"
    method: str
    path_template: str
    path_regex: re.Pattern[str]
    rate_per_s: float | None
    burst: int | None
    query_params: frozenset[str] = frozenset()
    sandbox: tuple[SandboxExample, ...] = field(default=())


class ApiModels:
    def __init__(self, directory: Path) -> None:
        if not directory.is_dir():
            raise FileNotFoundError(
                f"Amazon API models not found at {directory}; set ORDERVAULT_SPAPI_MODELS"
            )
        self.directory = directory
        self.documents: dict[str, dict[str, Any]] = {}
        self.operations: list[Operation] = []
        for filename, prefix in MODEL_FILES.items():
            document = json.loads((directory / filename).read_text(encoding="utf-8"))
            self.documents[prefix] = document
            self.operations.extend(_operations(document, prefix))
        self.schemas = {prefix: SwaggerSchemas(doc) for prefix, doc in self.documents.items()}

    def route(self, method: str, path: str) -> tuple[Operation, dict[str, str]] | None:
        for operation in self.operations:
            if operation.method == method:
                match = operation.path_regex.match(path)
                if match:
                    return operation, match.groupdict()
        return None

    def operation(self, name: str) -> Operation:
        return next(op for op in self.operations if op.name == name)


@cache
def load_models(directory: Path | None = None) -> ApiModels:
    return ApiModels(directory or models_dir())


def _operations(document: dict[str, Any], prefix: str) -> list[Operation]:
    found = []
    for template, methods in document["paths"].items():
        regex = re.compile(
            "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template)) + "$"
        )
        for method, spec in methods.items():
            if method == "parameters":
                continue
            plan = _PLAN.search(spec.get("description", ""))
            examples = []
            for status, response in spec.get("responses", {}).items():
                for example in response.get("x-amzn-api-sandbox", {}).get("static", []):
                    parameters = {
                        name: value.get("value")
                        for name, value in example.get("request", {}).get("parameters", {}).items()
                    }
                    examples.append(SandboxExample(parameters, int(status), example["response"]))
            declared = [*methods.get("parameters", []), *spec.get("parameters", [])]
            found.append(
                Operation(
                    name=f"{prefix}.{spec['operationId']}",
                    method=method.upper(),
                    path_template=template,
                    path_regex=regex,
                    rate_per_s=float(plan.group(1)) if plan else None,
                    burst=int(plan.group(2)) if plan else None,
                    query_params=frozenset(
                        p["name"]
                        for p in declared
                        if isinstance(p, dict) and p.get("in") == "query"
                    ),
                    sandbox=tuple(examples),
                )
            )
    return found
