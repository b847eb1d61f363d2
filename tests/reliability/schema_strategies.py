"""Hypothesis strategies from a Swagger 2.0 document (Amazon's API models): valid and broken.

`SchemaStrategies(document, pii=..., kinds=...)` reads the keywords Amazon's models use
(`$ref`, `type`, `required`, `properties`, `items`, `enum`, `format`, `minimum`/`maximum`,
`minItems`/`maxItems`, `minLength`/`maxLength`) and builds:

- `valid(definition)`: objects that validate against the definition (required properties
  present, types, enums, date-time formats, nested `$ref`s and arrays respected);
- `broken(definition)`: a valid object with one mutation at one place (a required property
  dropped, a wrong type, an empty, garbage, huge or odd-unicode string, a null, an unknown enum
  value, an unknown property, an unplaceable date-time, an absurd number, or a value of the
  place's kind that is wrong), and a note of what was done where.

Every string of a property named PII by `pii` is a canary: `CANARY` plus eight hex digits, then
an ordinary tail. Mutations keep a canary in what they write there (and `{canary}` in a kind's
broken values becomes one), so a test can look for `CANARY` wherever PII or a secret must never
appear in clear: columns, quarantine reasons, error messages, logs, database files.

Swagger 2.0 leaves some shapes to prose (v0 dates are plain strings, amounts are strings):
`kinds` maps a property to a semantic kind ("date-time", "decimal", "currency", "country",
"order-id", "item-id", "email", "quantity", or one of the test's own) with a plausible generator
and kind-specific breakages. `kinds` and `overrides` are keyed by property name, or by
"Definition.property" where one name means different things in different places.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

__all__ = ["CANARY", "Broken", "SchemaStrategies", "canaries_in", "xml_legal"]

CANARY = "zqCANARY"
#: Longer than any text field of the canonical order (4000 characters).
HUGE_CHARS = 4_500

Path = tuple[str | int, ...]

canaries = st.integers(min_value=0, max_value=16**8 - 1).map(lambda n: f"{CANARY}{n:08x}")
# Names, streets and messages as buyers write them: accents, scripts, emoji, punctuation.
_tail = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=0, max_size=16
)
_plain = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=16)
# XML 1.0 has no control characters (but tab and newlines), surrogates or U+FFFE/U+FFFF.
_xml_text = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn")), min_size=0, max_size=16
)
_instants = st.datetimes(
    min_value=datetime(2024, 1, 1),
    max_value=datetime(2027, 12, 31),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-7))]),
)


def _rfc3339(value: datetime) -> str:
    if (value.utcoffset() or timedelta(0)) == timedelta(0):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return value.isoformat(timespec="seconds")


_KIND_VALID: dict[str, st.SearchStrategy[Any]] = {
    "date-time": _instants.map(_rfc3339),
    "date": st.dates().map(lambda d: d.isoformat()),
    "decimal": st.decimals(min_value=0, max_value=10_000, places=2).map(str),
    "currency": st.sampled_from(["EUR", "USD", "GBP", "JPY", "BRL"]),
    "country": st.sampled_from(["DE", "FR", "GB", "US", "BR", "JP"]),
    # Built from integers: `from_regex` costs a third of a payload's generation time.
    "order-id": st.tuples(*(st.integers(0, 10**n - 1) for n in (3, 7, 7))).map(
        lambda parts: "{:03d}-{:07d}-{:07d}".format(*parts)
    ),
    "item-id": st.integers(0, 10**14 - 1).map(lambda n: f"{n:014d}"),
}
_KIND_BROKEN: dict[str, list[Any]] = {
    "date-time": [
        "2026-01-01T10:00:00",  # no offset: cannot be placed
        "yesterday",
        "2026-02-30T10:00:00Z",
        "0001-01-01T00:00:00+14:00",  # leaves datetime's range once converted to UTC
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59Z",  # converts, but no retention can be added to it
        "0001-01-01T00:00:00Z",
        1767261600,
    ],
    "decimal": ["NaN", "Infinity", "-Infinity", "1e999999", "12,50", "", "0x1F", "1" * 400],
    "currency": ["eur", "EURO", "", "€"],
    "country": ["Deutschland", "de", "", "D"],
    "order-id": ["", " ", "../../etc/passwd", "028-1234567-1234567\n", "x" * 65, "1?x=2"],
    "item-id": ["", " "],
    "quantity": ["1.5", "-1", "many", "99999999999", ""],
}
_GARBAGE = [
    "<!DOCTYPE html><html><body><h1>503 Service Unavailable</h1></body></html>",
    "<script>alert(1)</script>",
    "'; DROP TABLE orders; --",
    "%s%n%x{0}{{}}",
    "\x00\x01\x02\x1b[31m",
    "\u202eevil\u202c",
    "null",
]
_ODD_UNICODE = [
    "\ud800",  # a lone surrogate: valid in JSON ("\\ud800"), not encodable as UTF-8
    "\udfff tail",
    "\ufeffBOM",
    "\u200b\u200c\u200d",
    "e\u0301\u0301\u0301",
    "\U0001f600\U0001f469\u200d\U0001f469\u200d\U0001f467",
    "\uffff\ufffe",
    "\x85\u2028\u2029",
]
_NUMBERS = [-1, -(2**63), 2**63, 10**30, 1.5, True, "7", float("inf")]
_OTHER_TYPE: dict[str, list[Any]] = {
    "string": [7, 1.25, True, [], {}, ["x"]],
    "integer": ["seven", 1.5, [], {}, False],
    "number": ["many", [], {}],
    "boolean": ["yes", 1, []],
    "array": ["x", 3, {}],
    "object": ["x", 3, [], True],
}


def xml_legal(text: str) -> bool:
    """Whether `text` can be written in an XML 1.0 document at all."""
    return all(
        char in "\t\n\r"
        or " " <= char <= "\ud7ff"
        or "\ue000" <= char <= "\ufffd"
        or char >= "\U00010000"
        for char in text
    )


def canaries_in(value: Any) -> set[str]:
    """Every canary marker (CANARY + 8 hex digits) anywhere in `value`, keys included."""
    found: set[str] = set()
    if isinstance(value, str):
        start = value.find(CANARY)
        while start != -1:
            found.add(value[start : start + len(CANARY) + 8])
            start = value.find(CANARY, start + 1)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            found |= canaries_in(key) | canaries_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            found |= canaries_in(item)
    return found


@dataclass(frozen=True)
class Broken:
    """A payload with one mutation: `kind` applied at `path`."""

    value: Any
    path: Path
    kind: str

    def __repr__(self) -> str:  # hypothesis prints it on failure: short, and says what broke
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path)
        return f"Broken({self.kind} at {where or '$'}: {self.value!r:.2000})"


@dataclass(frozen=True)
class _Node:
    path: Path
    schema: Mapping[str, Any]  # $ref resolved
    owner: str | None  # the definition whose property this is
    name: str | None  # the property's name (array items inherit it)
    required: bool
    pii: bool


class SchemaStrategies:
    """Strategies for the definitions of one Swagger 2.0 document.

    `pii`: definition name -> property names whose strings are PII ("*": all of them); the
    mark carries into nested definitions.
    `kinds`: property -> semantic kind (see the module docstring).
    `overrides`: property -> strategy for its valid values (PII or not).
    `broken_kinds`: kind -> broken values, added to (or replacing) the built-in ones.
    `always`: optional properties always generated (what a request's `includedData` asks for).
    `skip`: optional properties never generated (large subtrees nothing reads).
    `xml`: only characters an XML 1.0 document can carry (for payloads sent as XML).
    `legal`: which strings the payload's format can carry at all (default: any).
    """

    def __init__(
        self,
        document: Mapping[str, Any],
        *,
        pii: Mapping[str, frozenset[str]],
        kinds: Mapping[str, str] | None = None,
        overrides: Mapping[str, st.SearchStrategy[Any]] | None = None,
        broken_kinds: Mapping[str, list[Any]] | None = None,
        always: frozenset[str] = frozenset(),
        skip: frozenset[str] = frozenset(),
        max_depth: int = 6,
        max_items: int = 2,
        xml: bool = False,
        legal: Callable[[str], bool] | None = None,
    ) -> None:
        self._definitions: Mapping[str, Any] = document["definitions"]
        self._pii = pii
        self._kinds = dict(kinds or {})
        self._overrides = dict(overrides or {})
        self._broken_kinds = {**_KIND_BROKEN, **(broken_kinds or {})}
        self._always = always
        self._skip = skip
        self._max_depth = max_depth
        self._max_items = max_items
        self._legal = xml_legal if xml else legal
        self._tail = _xml_text if xml else _tail
        self._text = _xml_text if xml else _plain
        self._cache: dict[str, st.SearchStrategy[Any]] = {}

    def kind(self, owner: str | None, name: str | None) -> str | None:
        return _lookup(self._kinds, owner, name)

    def _override(self, owner: str | None, name: str | None) -> st.SearchStrategy[Any] | None:
        return _lookup(self._overrides, owner, name)

    # -- valid -------------------------------------------------------------------------------

    def valid(self, definition: str) -> st.SearchStrategy[Any]:
        if definition not in self._cache:
            root = {"$ref": f"#/definitions/{definition}"}
            self._cache[definition] = self._schema(root, None, None, False, 0)
        return self._cache[definition]

    def _schema(
        self,
        schema: Mapping[str, Any],
        owner: str | None,
        name: str | None,
        pii: bool,
        depth: int,
    ) -> st.SearchStrategy[Any]:
        definition = None
        while "$ref" in schema:
            definition = schema["$ref"].removeprefix("#/definitions/")
            schema = self._definitions[definition]
        json_type = schema.get("type", "object")
        override = self._override(owner, name)
        if override is not None and json_type not in ("array", "object"):
            return override
        kind = self.kind(owner, name)
        if json_type == "string" and not pii and kind in _KIND_VALID:
            return _KIND_VALID[kind]
        if "enum" in schema:
            return st.sampled_from(list(schema["enum"]))
        if json_type == "string":
            return self._string(schema, kind, pii)
        if json_type == "integer":
            low = schema.get("minimum", 0)
            return st.integers(min_value=low, max_value=schema.get("maximum", max(low, 0) + 50))
        if json_type == "number":
            return st.floats(
                min_value=schema.get("minimum", -180.0),
                max_value=schema.get("maximum", 180.0),
                allow_nan=False,
            )
        if json_type == "boolean":
            return st.booleans()
        if json_type == "array":
            items = self._schema(schema.get("items", {}), owner, name, pii, depth + 1)
            low = schema.get("minItems", 0)
            high = min(schema.get("maxItems", low + self._max_items), low + self._max_items)
            return st.lists(items, min_size=low, max_size=high)
        return self._object(schema, definition, pii, depth)

    def _string(
        self, schema: Mapping[str, Any], kind: str | None, pii: bool
    ) -> st.SearchStrategy[str]:
        fmt = schema.get("format")
        if fmt in ("date-time", "date"):
            return _KIND_VALID[fmt]
        low, high = schema.get("minLength", 0), schema.get("maxLength", 40)
        if pii:
            if kind == "email":
                return canaries.map(lambda c: f"{c}@buyers.example.invalid")
            tails = self._tail
            return st.tuples(canaries, tails).map("".join).filter(lambda s: low <= len(s) <= high)
        text = self._text
        return text.filter(lambda s: low <= len(s) <= high) if low or high < 16 else text

    def _object(
        self, schema: Mapping[str, Any], definition: str | None, pii: bool, depth: int
    ) -> st.SearchStrategy[dict[str, Any]]:
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = [p for p in properties if p in schema.get("required", [])]
        pii_here = self._pii.get(definition or "", frozenset())

        def child(prop: str) -> st.SearchStrategy[Any]:
            is_pii = pii or "*" in pii_here or prop in pii_here
            return self._schema(properties[prop], definition, prop, is_pii, depth + 1)

        always = {p: child(p) for p in properties if p in self._always and p not in required}
        optional = (
            {}
            if depth >= self._max_depth
            else {
                p: child(p)
                for p in properties
                if p not in required and p not in always and p not in self._skip
            }
        )
        return st.fixed_dictionaries(
            {**{p: child(p) for p in required}, **always}, optional=optional
        )

    # -- broken ------------------------------------------------------------------------------

    def broken(self, definition: str) -> st.SearchStrategy[Broken]:
        return _broken(self, definition)

    def nodes(self, value: Any, definition: str) -> list[_Node]:
        """Every place in `value` with the schema that describes it (the root excluded)."""
        found: list[_Node] = []
        root = {"$ref": f"#/definitions/{definition}"}
        self._walk(value, root, (), None, None, False, False, found)
        return found

    def _walk(
        self,
        value: Any,
        schema: Mapping[str, Any],
        path: Path,
        owner: str | None,
        name: str | None,
        required: bool,
        pii: bool,
        found: list[_Node],
    ) -> None:
        definition = None
        while "$ref" in schema:
            definition = schema["$ref"].removeprefix("#/definitions/")
            schema = self._definitions[definition]
        if path:
            found.append(_Node(path, schema, owner, name, required, pii))
        if isinstance(value, dict):
            properties: Mapping[str, Any] = schema.get("properties", {})
            pii_here = self._pii.get(definition or "", frozenset())
            for prop, item in value.items():
                if prop in properties:
                    self._walk(
                        item,
                        properties[prop],
                        (*path, prop),
                        definition,
                        prop,
                        prop in schema.get("required", []),
                        pii or "*" in pii_here or prop in pii_here,
                        found,
                    )
        elif isinstance(value, list):
            items = schema.get("items", {})
            for index, item in enumerate(value):
                self._walk(item, items, (*path, index), owner, name, False, pii, found)

    def usable(self, values: list[Any]) -> list[Any]:
        """The values this document's payloads can carry (all, unless it is sent as XML)."""
        legal = self._legal
        return [v for v in values if legal is None or not isinstance(v, str) or legal(v)]

    def mutations(self, node: _Node) -> list[str]:
        """The kinds of damage that make sense at `node`, the most specific first.

        Hypothesis leans towards the first entries of a list; the generic damage (a null, a
        wrong type) is found anyway.
        """
        json_type = node.schema.get("type", "object")
        kind = self.kind(node.owner, node.name) or node.schema.get("format")
        kinds = []
        if kind in self._broken_kinds and self.usable(self._broken_kinds[kind]):
            kinds.append("bad_" + kind)
        if json_type == "string":
            kinds += ["bad_enum"] if "enum" in node.schema else []
            kinds += ["huge", "unicode", "garbage", "empty"]
        if json_type in ("integer", "number"):
            kinds.append("bad_number")
        if json_type == "object":
            kinds.append("unknown_field")
        kinds.append("wrong_type")
        if node.required:
            kinds.append("drop_required")
        kinds.append("null")
        return kinds

    def broken_values(self, kind: str) -> list[Any]:
        return self.usable(self._broken_kinds[kind])


def _lookup(table: Mapping[str, Any], owner: str | None, name: str | None) -> Any:
    qualified = f"{owner}.{name}"
    return table[qualified] if qualified in table else table.get(name or "")


def _parent(root: Any, path: Path) -> Any:
    for part in path[:-1]:
        root = root[part]
    return root


@st.composite
def _broken(draw: st.DrawFn, strategies: SchemaStrategies, definition: str) -> Broken:
    value = copy.deepcopy(draw(strategies.valid(definition)))
    # A seeded Random spreads the damage evenly; `sampled_from` would favour the first places.
    chance = draw(st.randoms(use_true_random=False))
    node = chance.choice(strategies.nodes(value, definition))
    kind = chance.choice(strategies.mutations(node))
    canary = draw(canaries)
    marked = canary if node.pii else ""
    json_type = node.schema.get("type", "object")
    parent = _parent(value, node.path)
    if kind == "drop_required":
        del parent[node.path[-1]]
        return Broken(value, node.path, kind)
    if kind == "null":
        replacement: Any = None
    elif kind == "wrong_type":
        replacement = chance.choice(_OTHER_TYPE.get(json_type, ["x"]))
        if marked and isinstance(replacement, list | dict):
            replacement = [marked] if isinstance(replacement, list) else {"value": marked}
    elif kind == "empty":
        replacement = ""
    elif kind == "garbage":
        replacement = marked + chance.choice(strategies.usable(_GARBAGE))
    elif kind == "huge":
        replacement = marked + "x" * HUGE_CHARS
    elif kind == "unicode":
        replacement = marked + chance.choice(strategies.usable(_ODD_UNICODE))
    elif kind == "bad_enum":
        replacement = "NOT_A_KNOWN_VALUE"
    elif kind == "bad_number":
        replacement = chance.choice(_NUMBERS)
    elif kind == "unknown_field":
        replacement = {**parent[node.path[-1]], "zzUnexpected": marked or "surprise"}
    else:
        replacement = chance.choice(strategies.broken_values(kind.removeprefix("bad_")))
        if isinstance(replacement, str):
            replacement = replacement.replace("{canary}", canary)
    parent[node.path[-1]] = replacement
    return Broken(value, node.path, kind)
