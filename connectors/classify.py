"""Every field of the canonical order is declared PII or not, in the model itself.

A field carries exactly one marker in its `Annotated` metadata:

- `PII`     — personal data: sealed at rest, never in a clear column, log or message;
- `CLEAR`   — not personal data: stored in clear columns so queries never need plaintext;
- `NESTED`  — a model (or a list or optional of one) whose own fields are classified.

`Classified.__pydantic_init_subclass__` refuses, at import time, a model with an unmarked
field, so a new field cannot be added without that decision. `split` cuts an order into its
clear part and its PII part; `join` puts them back; `canonical_json` gives the byte-stable
serialisation that is sealed.
"""

from __future__ import annotations

import functools
import json
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar, Union, get_args, get_origin

import orjson
from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class _Marker:
    name: str

    def __repr__(self) -> str:
        return self.name


PII = _Marker("PII")
CLEAR = _Marker("CLEAR")
NESTED = _Marker("NESTED")
_MARKERS = (PII, CLEAR, NESTED)

Json = dict[str, Any]
M = TypeVar("M", bound="Classified")


class UnclassifiedFieldError(TypeError):
    """A model field carries no PII/CLEAR/NESTED marker (or more than one)."""


class Classified(BaseModel):
    """Base for models whose every field is classified PII, CLEAR or NESTED."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)

    # Filled per subclass at definition time: field name -> marker.
    __classification__: ClassVar[dict[str, _Marker]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        cls.__classification__ = {
            name: _marker_of(cls, name, info.metadata) for name, info in cls.model_fields.items()
        }
        for name, marker in cls.__classification__.items():
            if marker is NESTED and _nested_model(cls.model_fields[name].annotation) is None:
                raise UnclassifiedFieldError(
                    f"{cls.__name__}.{name} is marked NESTED but is not a classified model"
                )


def _marker_of(cls: type, name: str, metadata: list[Any]) -> _Marker:
    found = [m for m in metadata if m in _MARKERS]
    if len(found) != 1:
        raise UnclassifiedFieldError(
            f"{cls.__name__}.{name} must be annotated with exactly one of PII, CLEAR, NESTED"
            f" (found {len(found)})"
        )
    return typing.cast(_Marker, found[0])


def _nested_model(annotation: Any) -> type[Classified] | None:
    """The Classified model inside `X`, `X | None` or `list[X]`, else None."""
    if isinstance(annotation, type) and issubclass(annotation, Classified):
        return annotation
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType, list, tuple):
        for arg in get_args(annotation):
            if arg is type(None) or arg is Ellipsis:
                continue
            found = _nested_model(arg)
            if found is not None:
                return found
    return None


def pii_paths(model: type[Classified], prefix: str = "") -> Iterator[str]:
    """Dotted paths of every PII field reachable from `model` (lists add no index)."""
    for name, marker in model.__classification__.items():
        path = f"{prefix}{name}"
        if marker is PII:
            yield path
        elif marker is NESTED:
            nested = _nested_model(model.model_fields[name].annotation)
            assert nested is not None  # checked at class creation
            yield from pii_paths(nested, path + ".")


# Per model, in field order: (name, None) for a PII field, (name, its plan) for a NESTED one.
_SplitPlan = tuple[tuple[str, Any], ...]


@functools.cache
def _split_plan(model: type[Classified]) -> _SplitPlan:
    """What `split` needs of `model`, resolved once per model, not per call."""
    return tuple(
        (name, None if marker is PII else _split_plan(_nested_model_of(model, name)))
        for name, marker in model.__classification__.items()
        if marker is not CLEAR
    )


def _nested_model_of(model: type[Classified], name: str) -> type[Classified]:
    nested = _nested_model(model.model_fields[name].annotation)
    assert nested is not None  # checked at class creation
    return nested


def _split_in_place(plan: _SplitPlan, data: Json) -> Json:
    """Move the PII values out of `data` (a fresh dump) into the returned PII part.

    What stays is the clear part, keys in their original order: popping the PII fields costs a
    fraction of copying every clear field into a new dict, and this runs once per stored order.
    """
    pii: Json = {}
    for name, nested_plan in plan:
        if nested_plan is None:
            value = data.pop(name, None)
            if value is not None:
                pii[name] = value
            continue
        value = data.get(name)
        if value is None:
            continue
        if isinstance(value, list):
            parts = [_split_in_place(nested_plan, item) for item in value]
            if any(parts):
                pii[name] = parts
        else:
            part = _split_in_place(nested_plan, value)
            if part:
                pii[name] = part
    return pii


def split(order: Classified) -> tuple[Json, Json]:
    """Cut a model into (clear part, PII part), both JSON-ready dicts.

    The clear part keeps the full shape (PII fields simply absent); the PII part holds only
    PII values, lists aligned by index with the clear part.
    """
    # `model_dump(mode="json")` is this call behind a Python-level wrapper, on the ingest path.
    clear: Json = order.__pydantic_serializer__.to_python(order, mode="json")
    return clear, _split_in_place(_split_plan(type(order)), clear)


def _merge(clear: Any, pii: Any) -> Any:
    if isinstance(clear, dict):
        merged = dict(clear)
        for key, value in (pii or {}).items():
            merged[key] = _merge(clear.get(key), value) if key in clear else value
        return merged
    if isinstance(clear, list):
        pii_list = pii or []
        if pii_list and len(pii_list) != len(clear):
            raise ValueError("PII part does not align with the clear part")
        return [_merge(c, p) for c, p in zip(clear, pii_list or [None] * len(clear), strict=True)]
    return pii if pii is not None else clear


def join(model: type[M], clear: Json, pii: Json) -> M:
    """Inverse of `split`: `join(type(o), *split(o)) == o`."""
    return model.model_validate(_merge(clear, pii))


def drop_pii(order: M, paths: frozenset[str]) -> M:
    """Remove the PII fields named by dotted `paths` (data minimisation before sealing)."""
    if not paths:
        return order
    clear, pii = split(order)
    for path in paths:
        _drop_path(pii, path.split("."))
    return join(type(order), clear, pii)


def _drop_path(node: Any, parts: list[str]) -> None:
    if isinstance(node, list):
        for item in node:
            _drop_path(item, parts)
    elif isinstance(node, dict):
        if len(parts) == 1:
            node.pop(parts[0], None)
        elif parts[0] in node:
            _drop_path(node[parts[0]], parts[1:])


# Types orjson would serialise where json.dumps refuses them: handed back (no `default`), so
# they fail as before, through the fallback.
_ORJSON_OPTIONS = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def canonical_json(data: Json) -> bytes:
    """Deterministic bytes: sorted keys, no insignificant whitespace, UTF-8.

    Byte for byte `json.dumps(data, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False).encode()`, which every stored content digest was computed over: a
    different byte would re-version every stored order on its next pull. orjson gives the same
    bytes, several times faster, for what `model_dump(mode="json")` yields for our models
    (str, int, bool, None, lists, dicts; no floats: Decimal dumps as a string), as
    tests/connectors/test_classify.py checks. What orjson refuses (integers beyond 64
    bits, lone surrogates, non-str keys) takes json's path, with json's result or error.
    """
    try:
        return orjson.dumps(data, option=_ORJSON_OPTIONS)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
