"""Structural schemas of CustomResourceDefinitions (apiextensions.k8s.io/v1 openAPIV3Schema).

`CompiledSchema.compile` checks that a schema is structural (raising `SchemaError`, which the
server answers with 422) and turns it into a tree of nodes once per CRD version.
`CompiledSchema.admit` then does what kube-apiserver does to every custom resource it decodes,
in one walk that builds a new object (the input is never mutated and shares no container with
the output):

1. prune: fields the schema does not declare are dropped and their paths reported
   (`spec.foo`, `spec.items[2].bar`: the form of `unknown field "spec.foo"`), except under
   `x-kubernetes-preserve-unknown-fields`, under `additionalProperties` (maps) and, at the root
   and in `x-kubernetes-embedded-resource` objects, `apiVersion`, `kind` and `metadata`;
   a null in a non-nullable field without a default is dropped silently
   (PruneNonNullableNullsWithoutDefaults);
2. default: a missing field, or a null in a non-nullable field, gets its default; defaults are
   pruned, defaulted and validated once at compile time;
3. validate: kube-openapi's checks with kube-apiserver's messages, e.g.
   `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer:
   "string"`, `spec.mode: Unsupported value: "x": supported values: "a", "b"`,
   `spec.size: Required value`.

Root `metadata` is left to the server (kept verbatim, not validated). CEL rules
(`x-kubernetes-validations`) are accepted and not evaluated.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeAlias

__all__ = ["Admission", "CompiledSchema", "FieldCause", "SchemaError", "go_float"]

REQUIRED = "FieldValueRequired"
INVALID = "FieldValueInvalid"
NOT_SUPPORTED = "FieldValueNotSupported"
TYPE_INVALID = "FieldValueTypeInvalid"
TOO_LONG = "FieldValueTooLong"
TOO_MANY = "FieldValueTooMany"
DUPLICATE = "FieldValueDuplicate"
FORBIDDEN = "FieldValueForbidden"


@dataclass(frozen=True, slots=True)
class FieldCause:
    """One field error, as a metav1.StatusCause: `message` is the error body without the field
    (`Required value`, `Invalid value: 3: ...`); `str()` gives kube's `field: message`."""

    reason: str
    message: str
    field: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


@dataclass(slots=True)
class Admission:
    """The result of `CompiledSchema.admit`: the new object, its validation errors (empty when
    valid) and the paths of the fields pruning dropped, in document order."""

    obj: dict[str, Any]
    causes: list[FieldCause]
    unknown_fields: list[str]

    @property
    def valid(self) -> bool:
        return not self.causes


class SchemaError(ValueError):
    """The schema is not structural or not valid; `causes` name the offending schema fields
    relative to the `field_path` given to `compile`."""

    def __init__(self, causes: list[FieldCause]) -> None:
        super().__init__(", ".join(str(cause) for cause in causes))
        self.causes = causes


# --- paths and Go-style value rendering ---------------------------------------------------

_Path: TypeAlias = tuple[Any, str | int] | None
"""A linked path (parent, key or index), rendered only when an error needs it."""


def _render(path: _Path) -> str:
    parts: list[str] = []
    while path is not None:
        path, key = path
        parts.append(f"[{key}]" if isinstance(key, int) else key)
    text = ""
    for part in reversed(parts):
        text += part if not text or part.startswith("[") else "." + part
    return text


def go_float(value: float) -> str:
    """A float64 as Go's `%v` prints it (shortest form, exponent from 1e21 on)."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}e{sign}{exponent.lstrip('+-').rjust(2, '0')}"
    return text


def _go_literal(value: Any) -> str:
    """A JSON value as Go's `%#v` prints it inside a composite value."""
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, dict):
        items = ", ".join(f"{json.dumps(k)}:{_go_literal(value[k])}" for k in sorted(value))
        return "map[string]interface {}{" + items + "}"
    if isinstance(value, list):
        return "[]interface {}{" + ", ".join(_go_literal(item) for item in value) + "}"
    return _go_value(value)


def _go_value(value: Any) -> str:
    """A bad value as apimachinery's field.Error prints it (null is printed as "null")."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return _go_literal(value)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _canonical(value: Any) -> str:
    """A key under which JSON-equal values are equal (1 and 1.0 alike, true and 1 not)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    return f"{_json_type(value)}:{value!r}"


def _copy(value: Any) -> Any:
    """Copy a JSON value (containers only; scalars are immutable)."""
    if isinstance(value, dict):
        return {key: _copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copy(item) for item in value]
    return value


# --- the walk -------------------------------------------------------------------------------


class _Walk:
    """What one admission collects."""

    __slots__ = ("causes", "unknown")

    def __init__(self) -> None:
        self.causes: list[FieldCause] = []
        self.unknown: list[str] = []

    def add(self, reason: str, path: _Path, body: str) -> None:
        self.causes.append(FieldCause(reason, body, _render(path)))

    def invalid(self, path: _Path, value: Any, detail: str) -> None:
        self.add(INVALID, path, f"Invalid value: {_go_value(value)}: {detail}")

    def wrong_type(self, path: _Path, expected: str, value: Any) -> None:
        actual = _json_type(value)
        self.add(
            TYPE_INVALID,
            path,
            f'Invalid value: "{actual}": {_render(path)} in body must be of type '
            f'{expected}: "{actual}"',
        )


class _Probe(_Walk):
    """A walk that only notes whether anything is wrong (junction branches are tried with it;
    their messages are made only when reported)."""

    __slots__ = ()

    def add(self, reason: str, path: _Path, body: str) -> None:
        self.causes.append(_PROBED)

    def invalid(self, path: _Path, value: Any, detail: str) -> None:
        self.causes.append(_PROBED)

    def wrong_type(self, path: _Path, expected: str, value: Any) -> None:
        self.causes.append(_PROBED)


_PROBED = FieldCause(INVALID, "", "")
_Check: TypeAlias = Callable[[Any, _Path, _Walk], None]
_MISSING: Any = object()
_RESOURCE_KEYS = frozenset(("apiVersion", "kind", "metadata"))
_TYPES = ("array", "boolean", "integer", "number", "object", "string")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPE_TESTS: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "number": _is_number,
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool))
        or (isinstance(v, float) and v.is_integer())
    ),
}


class _Node:
    """A compiled schema node: `process` returns the pruned, defaulted copy of a value and
    records what it finds wrong. Validation-only nodes (inside allOf/anyOf/oneOf/not) keep
    every field and apply no defaults."""

    __slots__ = (
        "additional",
        "checks",
        "default",
        "defaulted",
        "int_or_string",
        "items",
        "keep_resource_keys",
        "keep_unknown",
        "kind",
        "nullable",
        "properties",
    )

    def __init__(self) -> None:
        self.kind: str | None = None
        self.nullable = False
        self.int_or_string = False
        self.properties: dict[str, _Node] = {}
        self.additional: _Node | None = None
        self.keep_unknown = False
        self.keep_resource_keys = False
        self.items: _Node | None = None
        self.default: Any = _MISSING
        self.defaulted: tuple[tuple[str, _Node], ...] = ()
        self.checks: tuple[_Check, ...] = ()

    def keep_resource_keys_verbatim(self) -> None:
        """Make this node a resource (the root or an embedded one): `apiVersion`, `kind` and
        `metadata` are neither pruned nor processed, whatever the schema declares for them."""
        self.keep_resource_keys = True
        self.properties = {k: v for k, v in self.properties.items() if k not in _RESOURCE_KEYS}
        self.defaulted = tuple(item for item in self.defaulted if item[0] not in _RESOURCE_KEYS)

    def process(self, value: Any, path: _Path, walk: _Walk) -> Any:
        kind = self.kind
        out: Any
        if kind == "string" and type(value) is str:  # the usual shapes first
            out = value
        elif kind == "object" and type(value) is dict:
            out = self._object(value, path, walk)
        elif value is None:
            if not self.nullable and kind is not None:
                walk.wrong_type(path, kind, value)
            elif not self.nullable and self.int_or_string:
                walk.wrong_type(path, "integer,string", value)
            return None
        elif self.int_or_string:
            if not (isinstance(value, str) or _TYPE_TESTS["integer"](value)):
                walk.wrong_type(path, "integer,string", value)
                return _copy(value)
            out = value
        elif kind == "object" or (kind is None and isinstance(value, dict)):
            if not isinstance(value, dict):
                walk.wrong_type(path, "object", value)
                return _copy(value)
            out = self._object(value, path, walk)
        elif kind == "array" or (kind is None and isinstance(value, list)):
            if not isinstance(value, list):
                walk.wrong_type(path, "array", value)
                return _copy(value)
            out = self._array(value, path, walk)
        elif kind is not None and not _TYPE_TESTS[kind](value):
            walk.wrong_type(path, kind, value)
            return _copy(value)
        else:
            out = value
        for check in self.checks:
            check(out, path, walk)
        return out

    def _object(self, value: dict[str, Any], path: _Path, walk: _Walk) -> dict[str, Any]:
        out: dict[str, Any] = {}
        properties = self.properties
        for key, item in value.items():
            child = properties.get(key) or self.additional
            if child is None:
                if self.keep_unknown or (self.keep_resource_keys and key in _RESOURCE_KEYS):
                    out[key] = _copy(item)
                else:
                    walk.unknown.append(_render((path, key)))
                continue
            if item is None and not child.nullable:
                if child.default is not _MISSING:
                    out[key] = _copy(child.default)
                continue
            out[key] = child.process(item, (path, key), walk)
        for key, child in self.defaulted:
            if key not in out:
                out[key] = _copy(child.default)
        return out

    def _array(self, value: list[Any], path: _Path, walk: _Walk) -> list[Any]:
        items = self.items
        if items is None:
            if self.keep_unknown:
                return [_copy(item) for item in value]
            items = _PRUNE_ALL
        fill = items.default if not items.nullable else _MISSING
        out: list[Any] = []
        for index, item in enumerate(value):
            if item is None and fill is not _MISSING:
                out.append(_copy(fill))
            else:
                out.append(items.process(item, (path, index), walk))
        return out


_PRUNE_ALL = _Node()
"""The nil schema of kube's pruning (values of `additionalProperties: true`): any value, null
included, with every field of a nested object dropped."""
_PRUNE_ALL.nullable = True


# --- value checks ---------------------------------------------------------------------------


def _where(path: _Path) -> str:
    return f"{_render(path)} in body"


def _string_checks(schema: dict[str, Any], compiler: _Compiler, at: str) -> list[_Check]:
    checks: list[_Check] = []
    max_length = schema.get("maxLength")
    if max_length is not None:
        unit = "byte" if max_length == 1 else "bytes"

        def check_max_length(value: Any, path: _Path, walk: _Walk) -> None:
            if isinstance(value, str) and len(value) > max_length:
                walk.add(TOO_LONG, path, f"Too long: may not be more than {max_length} {unit}")

        checks.append(check_max_length)
    min_length = schema.get("minLength")
    if min_length is not None:

        def check_min_length(value: Any, path: _Path, walk: _Walk) -> None:
            if isinstance(value, str) and len(value) < min_length:
                walk.invalid(
                    path, value, f"{_where(path)} should be at least {min_length} chars long"
                )

        checks.append(check_min_length)
    pattern = schema.get("pattern")
    if pattern is not None:
        try:
            regex = _go_regex(pattern)
        except (re.error, TypeError) as err:
            compiler.fail(
                INVALID,
                f"{at}.pattern",
                f"Invalid value: {_go_value(pattern)}: must be a valid regular expression,"
                f" but isn't: {err}",
            )
            return checks

        def check_pattern(value: Any, path: _Path, walk: _Walk) -> None:
            if isinstance(value, str) and regex.search(value) is None:
                walk.invalid(path, value, f"{_where(path)} should match '{pattern}'")

        checks.append(check_pattern)
    format_test = _FORMATS.get(schema.get("format") or "")
    if format_test is not None:
        format_name = schema["format"]

        def check_format(value: Any, path: _Path, walk: _Walk) -> None:
            if isinstance(value, str) and not format_test(value):
                walk.add(
                    TYPE_INVALID,
                    path,
                    f"Invalid value: {_go_value(value)}: {_where(path)} must be of type"
                    f" {format_name}: {_go_value(value)}",
                )

        checks.append(check_format)
    return checks


def _number_checks(schema: dict[str, Any]) -> list[_Check]:
    checks: list[_Check] = []
    for key, exclusive_key, word in (
        ("maximum", "exclusiveMaximum", "less"),
        ("minimum", "exclusiveMinimum", "greater"),
    ):
        bound = schema.get(key)
        if bound is None:
            continue
        exclusive = bool(schema.get(exclusive_key))
        checks.append(_bound_check(bound, exclusive, word))
    multiple = schema.get("multipleOf")
    if multiple:

        def check_multiple(value: Any, path: _Path, walk: _Walk) -> None:
            if _is_number(value) and not math.isclose(
                value / multiple, round(value / multiple), rel_tol=0, abs_tol=1e-9
            ):
                walk.invalid(
                    path, value, f"{_where(path)} should be a multiple of {_bound_text(multiple)}"
                )

        checks.append(check_multiple)
    return checks


def _bound_text(bound: float) -> str:
    return go_float(float(bound))


def _bound_check(bound: float, exclusive: bool, word: str) -> _Check:
    relation = f"should be {word} than" + ("" if exclusive else " or equal to")
    detail = f"{relation} {_bound_text(bound)}"
    if word == "less":

        def outside(value: float) -> bool:
            return value >= bound if exclusive else value > bound
    else:

        def outside(value: float) -> bool:
            return value <= bound if exclusive else value < bound

    def check_bound(value: Any, path: _Path, walk: _Walk) -> None:
        if _is_number(value) and outside(value):
            walk.invalid(path, value, f"{_where(path)} {detail}")

    return check_bound


def _too_many(walk: _Walk, path: _Path, actual: int, limit: int) -> None:
    noun = "item" if limit == 1 else "items"
    walk.add(TOO_MANY, path, f"Too many: {actual}: must have at most {limit} {noun}")


def _collection_checks(schema: dict[str, Any]) -> list[_Check]:
    """minItems/maxItems and minProperties/maxProperties."""
    checks: list[_Check] = []
    for lists, noun, low_key, high_key in (
        (True, "items", "minItems", "maxItems"),
        (False, "properties", "minProperties", "maxProperties"),
    ):
        low, high = schema.get(low_key), schema.get(high_key)
        if low is None and high is None:
            continue
        checks.append(_size_check(lists, noun, low, high))
    return checks


def _size_check(lists: bool, noun: str, low: int | None, high: int | None) -> _Check:
    def check_size(value: Any, path: _Path, walk: _Walk) -> None:
        if not isinstance(value, list if lists else dict):
            return
        size = len(value)
        if low is not None and size < low:
            walk.invalid(path, size, f"{_where(path)} should have at least {low} {noun}")
        if high is not None and size > high:
            _too_many(walk, path, size, high)

    return check_size


def _enum_check(values: list[Any]) -> _Check:
    allowed = {_canonical(value) for value in values}
    strings = {value for value in values if isinstance(value, str)}
    listed = ", ".join(
        json.dumps(value if isinstance(value, str) else json.dumps(value)) for value in values
    )

    def check_enum(value: Any, path: _Path, walk: _Walk) -> None:
        if type(value) is str and value in strings:
            return
        if _canonical(value) not in allowed:
            walk.add(
                NOT_SUPPORTED,
                path,
                f"Unsupported value: {_go_value(value)}: supported values: {listed}",
            )

    return check_enum


def _required_check(names: tuple[str, ...]) -> _Check:
    def check_required(value: Any, path: _Path, walk: _Walk) -> None:
        if isinstance(value, dict):
            for name in names:
                if name not in value:
                    walk.add(REQUIRED, (path, name), "Required value")

    return check_required


def _embedded_check(value: Any, path: _Path, walk: _Walk) -> None:
    if not isinstance(value, dict):
        return
    for key in ("apiVersion", "kind"):
        item = value.get(key, _MISSING)
        if item is _MISSING:
            walk.add(REQUIRED, (path, key), "Required value: must not be empty")
        elif not isinstance(item, str):
            walk.invalid((path, key), item, "must be a string")
        elif not item:
            walk.invalid((path, key), item, "must not be empty")


def _second_occurrences(keys: list[str]) -> list[int]:
    """Indexes where a key is seen for the second time (kube reports each duplicate once)."""
    counts: dict[str, int] = {}
    found: list[int] = []
    for index, key in enumerate(keys):
        counts[key] = counts.get(key, 0) + 1
        if counts[key] == 2:
            found.append(index)
    return found


def _list_set_check(value: Any, path: _Path, walk: _Walk) -> None:
    if not isinstance(value, list) or len(value) < 2:
        return
    for index in _second_occurrences([_canonical(item) for item in value]):
        walk.add(DUPLICATE, (path, index), f"Duplicate value: {_go_value(value[index])}")


def _entry_key(entry: dict[str, Any]) -> Any:
    """`_canonical` of a list-map entry's keys, or (when all are strings, as is usual) a tuple
    equal for equal entries (never equal to a `_canonical` string)."""
    values = tuple(entry.values())
    if all(type(value) is str for value in values):
        return (*entry, *values)
    return _canonical(entry)


def _list_map_check(names: tuple[str, ...]) -> _Check:
    def check_list_map(value: Any, path: _Path, walk: _Walk) -> None:
        if not isinstance(value, list):
            return
        for index, item in enumerate(value):
            if item is not None and not isinstance(item, dict):
                walk.invalid((path, index), item, "must be an object for an array of list-type map")
                return
        entries = [
            {name: item[name] for name in names if name in item} if item else {} for item in value
        ]
        for index in _second_occurrences([_entry_key(entry) for entry in entries]):
            walk.add(DUPLICATE, (path, index), f"Duplicate value: {_go_literal(entries[index])}")

    return check_list_map


def _junction_check(kind: str, nodes: list[_Node]) -> _Check:
    """allOf/anyOf/oneOf/not over validation-only nodes."""

    def causes_of(node: _Node, value: Any, path: _Path) -> list[FieldCause]:
        trial = _Walk()
        node.process(value, path, trial)
        return trial.causes

    def check_junction(value: Any, path: _Path, walk: _Walk) -> None:
        failed = []
        for node in nodes:
            probe = _Probe()
            node.process(value, path, probe)
            failed.append(bool(probe.causes))
        passed = failed.count(False)
        if kind == "allOf":
            for node, failing in zip(nodes, failed, strict=True):
                if failing:
                    walk.causes.extend(causes_of(node, value, path))
        elif kind == "anyOf" and passed == 0:
            walk.invalid(path, "", f'"{_render(path)}" must validate at least one schema (anyOf)')
            walk.causes.extend(causes_of(nodes[0], value, path))
        elif kind == "oneOf" and passed != 1:
            walk.invalid(
                path, "", f'"{_render(path)}" must validate one and only one schema (oneOf)'
            )
            if passed == 0:
                walk.causes.extend(causes_of(nodes[0], value, path))
        elif kind == "not" and passed == 1:
            walk.invalid(path, "", f'"{_render(path)}" must not validate the schema (not)')

    return check_junction


# --- formats --------------------------------------------------------------------------------

_DATE_TIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?([Zz]|[+-]\d{2}:?\d{2})?\Z"
)
_UUID = re.compile(r"(?i)[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\Z")


def _is_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


@functools.lru_cache(maxsize=4096)
def _is_date_time(text: str) -> bool:
    """RFC 3339 date-time (remembered: objects carry the same timestamps write after write)."""
    match = _DATE_TIME.match(text)
    if match is None or not _is_date(match.group(1)):
        return False
    hour, minute, second = match.group(2), match.group(3), match.group(4) or "0"
    try:
        datetime(2000, 1, 1, int(hour), int(minute), min(int(second), 59))
    except ValueError:
        return False
    return True


_HOSTNAME_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOSTNAME = re.compile(rf"(?i)(?=.{{1,255}}\Z){_HOSTNAME_LABEL}(?:\.{_HOSTNAME_LABEL})*\.?\Z")
_GO_DURATION = re.compile(r"[-+]?(?:0|(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)\Z")
_WORD_DURATION = re.compile(
    r"(?:\s*\d+\s*(?:ns|us|µs|ms|s|m|h|d|w|nanoseconds?|microseconds?|milliseconds?"
    r"|seconds?|minutes?|hours?|days?|weeks?)\s*)+\Z"
)


def _is_ip(version: int) -> Callable[[str], bool]:
    def test(text: str) -> bool:
        try:
            return ipaddress.ip_address(text).version == version
        except ValueError:
            return False

    return test


def _is_cidr(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return "/" in text


def _is_byte(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


_FORMATS: dict[str, Callable[[str], bool]] = {
    "date-time": _is_date_time,
    "datetime": _is_date_time,
    "date": _is_date,
    "uuid": lambda text: _UUID.match(text) is not None,
    "byte": _is_byte,
    "hostname": lambda text: _HOSTNAME.match(text) is not None,
    "ipv4": _is_ip(4),
    "ipv6": _is_ip(6),
    "cidr": _is_cidr,
    "duration": lambda text: bool(_GO_DURATION.match(text) or _WORD_DURATION.match(text)),
}


def _go_regex(pattern: str) -> re.Pattern[str]:
    """Compile a schema `pattern` with Go RE2 semantics (kube-openapi uses Go's regexp): `$`
    outside a character class matches only at the very end, and lookarounds and
    backreferences, which RE2 lacks, are rejected with `re.error`."""
    out: list[str] = []
    index, in_class = 0, False
    while index < len(pattern):
        char = pattern[index]
        if char == "\\" and index + 1 < len(pattern):
            escaped = pattern[index + 1]
            if escaped.isdigit() and escaped != "0" and not in_class:
                raise re.error(f"invalid escape sequence: \\{escaped}")
            out.append(pattern[index : index + 2])
            index += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern.startswith("]", index + 1) or pattern.startswith("^]", index + 1):
                out.append(pattern[index : pattern.index("]", index + 1) + 1])
                index = pattern.index("]", index + 1) + 1
                continue
        elif char == "$":
            char = r"\Z"
        elif pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), index):
            raise re.error("invalid or unsupported Perl syntax: lookaround")
        out.append(char)
        index += 1
    return re.compile("".join(out))


# --- compilation ----------------------------------------------------------------------------

_FORBIDDEN_KEYS = {
    "$ref": "$ref is not supported",
    "definitions": "definitions are not supported",
    "dependencies": "dependencies are not supported",
    "patternProperties": "patternProperties is not supported",
    "additionalItems": "additionalItems cannot be set to false",
    "id": "id is not supported",
    "$schema": "$schema is not supported",
}
_KEYWORD_TYPES: tuple[tuple[tuple[str, ...], Callable[[Any], bool], str], ...] = (
    (
        ("maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties"),
        lambda value: _TYPE_TESTS["integer"](value) and value >= 0,
        "a non-negative integer",
    ),
    (("maximum", "minimum", "multipleOf"), _is_number, "a number"),
    (
        ("required", "enum", "allOf", "anyOf", "oneOf", "x-kubernetes-list-map-keys"),
        lambda value: isinstance(value, list),
        "an array",
    ),
    (("pattern", "type", "format"), lambda value: isinstance(value, str), "a string"),
)
_JUNCTIONS = ("allOf", "anyOf", "oneOf")
_JUNCTION_FORBIDDEN = (
    "default",
    "nullable",
    "additionalProperties",
    "x-kubernetes-preserve-unknown-fields",
    "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string",
)


class _Compiler:
    """Builds nodes and collects every reason the schema is rejected."""

    def __init__(self) -> None:
        self.causes: list[FieldCause] = []

    def fail(self, reason: str, field: str, message: str) -> None:
        self.causes.append(FieldCause(reason, message, field))

    def node(self, schema: Any, at: str, *, validation: bool = False) -> _Node:
        node = _Node()
        if not isinstance(schema, dict):
            self.fail(INVALID, at, f"Invalid value: {_go_value(schema)}: must be an object")
            return node
        if not self._keywords_well_typed(schema, at):
            return node
        for key, reason in _FORBIDDEN_KEYS.items():
            if key in schema:
                self.fail(FORBIDDEN, f"{at}.{key}", f"Forbidden: {reason}")
        if schema.get("uniqueItems") is True:
            self.fail(
                FORBIDDEN,
                f"{at}.uniqueItems",
                "Forbidden: uniqueItems cannot be set to true since the runtime complexity"
                " becomes quadratic",
            )
        kind = schema.get("type") or None
        node.int_or_string = schema.get("x-kubernetes-int-or-string") is True
        preserve = schema.get("x-kubernetes-preserve-unknown-fields")
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        if preserve is False:
            self.fail(
                INVALID,
                f"{at}.x-kubernetes-preserve-unknown-fields",
                "Invalid value: false: must be true or undefined",
            )
        if validation:
            for key in _JUNCTION_FORBIDDEN:
                if key in schema:
                    self.fail(FORBIDDEN, f"{at}.{key}", "Forbidden: must be undefined")
        if kind is not None and kind not in _TYPES:
            self.fail(
                NOT_SUPPORTED,
                f"{at}.type",
                f"Unsupported value: {_go_value(kind)}: supported values: "
                + ", ".join(f'"{name}"' for name in _TYPES),
            )
            kind = None
        if node.int_or_string and kind is not None:
            self.fail(FORBIDDEN, f"{at}.type", "Forbidden: must be empty for int-or-string")
        if kind is None and not (validation or node.int_or_string or preserve):
            self.fail(
                REQUIRED, f"{at}.type", "Required value: must not be empty for specified fields"
            )
        if embedded and kind != "object":
            self.fail(
                FORBIDDEN,
                f"{at}.type",
                "Forbidden: must be object if x-kubernetes-embedded-resource is true",
            )
        node.kind = kind
        node.nullable = schema.get("nullable") is True
        node.keep_unknown = validation or preserve is True
        self._children(node, schema, at, validation)
        if embedded:
            node.keep_resource_keys_verbatim()
        node.checks = tuple(self._checks(schema, at, kind, embedded))
        if "default" in schema and not validation:
            node.default = self._default(node, schema["default"], f"{at}.default")
        return node

    def _keywords_well_typed(self, schema: dict[str, Any], at: str) -> bool:
        """Reject keyword values of the wrong JSON type (a CRD that would not even decode)."""
        before = len(self.causes)
        for keys, test, expected in _KEYWORD_TYPES:
            for key in keys:
                value = schema.get(key)
                if value is not None and not test(value):
                    detail = f"Invalid value: {_go_value(value)}: must be {expected}"
                    self.fail(INVALID, f"{at}.{key}", detail)
        return len(self.causes) == before

    def _children(self, node: _Node, schema: dict[str, Any], at: str, validation: bool) -> None:
        properties = schema.get("properties") or {}
        if not isinstance(properties, dict):
            self.fail(INVALID, f"{at}.properties", "Invalid value: must be an object")
            properties = {}
        node.properties = {
            name: self.node(sub, f"{at}.properties[{name}]", validation=validation)
            for name, sub in properties.items()
        }
        node.defaulted = tuple(
            (name, child)
            for name, child in node.properties.items()
            if child.default is not _MISSING
        )
        additional = schema.get("additionalProperties")
        if isinstance(additional, dict):
            if properties:
                self.fail(
                    FORBIDDEN,
                    f"{at}.additionalProperties",
                    "Forbidden: additionalProperties and properties are mutual exclusive",
                )
            node.additional = self.node(additional, f"{at}.additionalProperties")
        elif additional is True:
            node.additional = _PRUNE_ALL
        elif additional is False:
            self.fail(
                FORBIDDEN,
                f"{at}.additionalProperties",
                "Forbidden: additionalProperties cannot be set to false",
            )
        items = schema.get("items")
        if isinstance(items, list):
            self.fail(
                FORBIDDEN,
                f"{at}.items",
                "Forbidden: items must be a schema object and not an array",
            )
        elif items is not None:
            node.items = self.node(items, f"{at}.items", validation=validation)
            # kube's skipPrune: items of a preserve-unknown-fields array keep unknown fields too
            node.items.keep_unknown = node.items.keep_unknown or node.keep_unknown
        elif node.kind == "array" and not validation:
            self.fail(REQUIRED, f"{at}.items", "Required value: must be specified")

    def _default(self, node: _Node, value: Any, at: str) -> Any:
        if value is None and not node.nullable:
            self.fail(FORBIDDEN, at, "Forbidden: must not be null for a non-nullable field")
            return _MISSING
        walk = _Walk()
        defaulted = node.process(value, (None, "default"), walk)
        for cause in walk.causes:
            detail = cause.message if cause.field == "default" else str(cause)
            self.fail(INVALID, at, f"Invalid value: {_go_value(value)}: {detail}")
        return defaulted

    def _checks(
        self, schema: dict[str, Any], at: str, kind: str | None, embedded: bool
    ) -> list[_Check]:
        checks: list[_Check] = []
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            checks.append(_enum_check(enum))
        checks += _string_checks(schema, self, at)
        checks += _number_checks(schema)
        checks += _collection_checks(schema)
        required = schema.get("required")
        if isinstance(required, list) and required:
            checks.append(_required_check(tuple(required)))
        if embedded:
            checks.append(_embedded_check)
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "set":
            checks.append(_list_set_check)
        elif list_type == "map":
            keys = schema.get("x-kubernetes-list-map-keys") or []
            if not keys:
                self.fail(
                    REQUIRED,
                    f"{at}.x-kubernetes-list-map-keys",
                    "Required value: must not be empty if x-kubernetes-list-type is map",
                )
            checks.append(_list_map_check(tuple(keys)))
        elif list_type not in (None, "atomic"):
            self.fail(
                NOT_SUPPORTED,
                f"{at}.x-kubernetes-list-type",
                f'Unsupported value: {_go_value(list_type)}: supported values: "atomic", "map",'
                ' "set"',
            )
        for junction in _JUNCTIONS:
            subs = schema.get(junction)
            if isinstance(subs, list) and subs:
                nodes = [
                    self.node(sub, f"{at}.{junction}[{index}]", validation=True)
                    for index, sub in enumerate(subs)
                ]
                checks.append(_junction_check(junction, nodes))
        if isinstance(schema.get("not"), dict):
            checks.append(
                _junction_check("not", [self.node(schema["not"], f"{at}.not", validation=True)])
            )
        return checks


class CompiledSchema:
    """One CRD version's structural schema, compiled once and reused for every request."""

    __slots__ = ("_root",)

    def __init__(self, root: _Node) -> None:
        self._root = root

    @classmethod
    def compile(
        cls, openapi_v3_schema: dict[str, Any], *, field_path: str = "openAPIV3Schema"
    ) -> CompiledSchema:
        """Compile `openapi_v3_schema`; raise `SchemaError` when it is not structural, its
        type at the root is not object, a pattern does not compile or a default is invalid."""
        compiler = _Compiler()
        root = compiler.node(openapi_v3_schema, field_path)
        if isinstance(openapi_v3_schema, dict) and openapi_v3_schema.get("type") != "object":
            compiler.fail(
                INVALID,
                f"{field_path}.type",
                f"Invalid value: {_go_value(openapi_v3_schema.get('type', ''))}:"
                " must be object at the root",
            )
        if compiler.causes:
            raise SchemaError(compiler.causes)
        root.keep_resource_keys_verbatim()
        return cls(root)

    @property
    def has_status(self) -> bool:
        """Whether the schema declares `status` (otherwise it is pruned)."""
        return "status" in self._root.properties or self._root.keep_unknown

    def admit(self, obj: dict[str, Any]) -> Admission:
        """Prune, default and validate `obj` as kube-apiserver does; `obj` is not modified."""
        walk = _Walk()
        out = self._root.process(obj, None, walk)
        return Admission(out, walk.causes, walk.unknown)
