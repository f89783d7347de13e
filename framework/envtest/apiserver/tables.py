"""meta.k8s.io/v1 Table rendering, as kube-apiserver does for `Accept: ...;as=Table`.

Columns are Name then a CRD version's `additionalPrinterColumns` (kube-apiserver's CRD table
convertor) or, when it declares none, Name and Age. Each column's JSONPath is evaluated
with missing keys allowed and the first match is used; the cell is converted by the column type
exactly as the CRD table convertor does:

- `string`: a string as is, a map or list as compact JSON (keys sorted, like Go's
  encoding/json), any other scalar in Go's `fmt.Print` form;
- `integer`: an integer, a float truncated toward zero; `number`: a float;
  `boolean`: a boolean; anything of another JSON type is null;
- `date`: an RFC 3339 string rendered as the age kubectl shows (`human_duration` of
  `now - timestamp`), `<invalid>` when it does not parse;
- no match (or a JSON null): null.

Rows carry the object according to `includeObject`:
`None` -> `"object": null`, `Metadata` (the default) -> a PartialObjectMetadata,
`Object` -> the full object.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from framework.envtest.apiserver import jsonpath
from framework.envtest.apiserver.schema import go_float

__all__ = [
    "AGE_COLUMN",
    "DEFAULT_COLUMNS",
    "NAME_COLUMN",
    "PrinterColumn",
    "column_definitions",
    "columns_from_crd_version",
    "human_duration",
    "render_table",
    "validate_printer_columns",
]

NAME_COLUMN_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some"
    " resources may allow a client to request the generation of an appropriate name"
    " automatically. Name is primarily intended for creation idempotence and configuration"
    " definition. Cannot be updated. More info:"
    " https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names"
)
_AGE_COLUMN_DESCRIPTION = (
    "CreationTimestamp is a timestamp representing the server time when this object was"
    " created. It is not guaranteed to be set in happens-before order across separate"
    " operations. Clients may not set this value. It is represented in RFC3339 form and is in"
    " UTC.\n\nPopulated by the system. Read-only. Null for lists. More info:"
    " https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
)
_COLUMN_TYPES = ("boolean", "date", "integer", "number", "string")
_INCLUDE_OBJECT = ("None", "Metadata", "Object")
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})\Z"
)


@dataclass(frozen=True, slots=True)
class PrinterColumn:
    """One table column (apiextensions.k8s.io/v1 CustomResourceColumnDefinition shape).

    A table renders exactly the columns it is given; `NAME_COLUMN` comes first in every list
    this module builds, as kube-apiserver always serves the object name first.
    """

    name: str
    type: str
    json_path: str
    description: str = ""
    priority: int = 0
    format: str = ""

    def definition(self) -> dict[str, Any]:
        """The TableColumnDefinition kube-apiserver serves for this column."""
        description = self.description or (
            f"Custom resource definition column (in JSONPath format): {self.json_path}"
        )
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": description,
            "priority": self.priority,
        }


NAME_COLUMN = PrinterColumn(
    name="Name",
    type="string",
    json_path=".metadata.name",
    description=NAME_COLUMN_DESCRIPTION,
    format="name",
)
"""The first column of every table kube-apiserver serves."""
AGE_COLUMN = PrinterColumn(
    name="Age",
    type="date",
    json_path=".metadata.creationTimestamp",
    description=_AGE_COLUMN_DESCRIPTION,
)
DEFAULT_COLUMNS: list[PrinterColumn] = [NAME_COLUMN, AGE_COLUMN]
"""Name and Age: a CRD version's columns when it declares none, and those of built-in kinds."""


def columns_from_crd_version(version: dict[str, Any]) -> list[PrinterColumn]:
    """The table columns of a CRD's `spec.versions[i]`: Name, then its
    `additionalPrinterColumns`, or `DEFAULT_COLUMNS` when it declares none."""
    declared = version.get("additionalPrinterColumns") or []
    if not declared:
        return list(DEFAULT_COLUMNS)
    return [
        NAME_COLUMN,
        *(
            PrinterColumn(
                name=column["name"],
                type=column["type"],
                json_path=column["jsonPath"],
                description=column.get("description") or "",
                priority=int(column.get("priority") or 0),
                format=column.get("format") or "",
            )
            for column in declared
        ),
    ]


def validate_printer_columns(declared: list[dict[str, Any]]) -> list[str]:
    """What kube-apiserver rejects (422) in a CRD version's `additionalPrinterColumns`.

    Each problem is relative to the version, e.g.
    `additionalPrinterColumns[1].jsonPath: Invalid value: "x": must be a simple json path
    starting with .`; empty when the columns are valid.
    """
    problems: list[str] = []
    for index, column in enumerate(declared):
        where = f"additionalPrinterColumns[{index}]"
        for key in ("name", "type", "jsonPath"):
            if not column.get(key):
                problems.append(f"{where}.{key}: Required value")
        kind = column.get("type")
        if kind and kind not in _COLUMN_TYPES:
            problems.append(
                f"{where}.type: Unsupported value: {json.dumps(kind)}: supported values: "
                + ", ".join(f'"{name}"' for name in _COLUMN_TYPES)
            )
        path = column.get("jsonPath")
        if not isinstance(path, str) or not path:
            continue
        if not path.startswith("."):
            problems.append(
                f"{where}.jsonPath: Invalid value: {json.dumps(path)}:"
                " must be a simple json path starting with ."
            )
            continue
        try:
            jsonpath.compile(path)
        except jsonpath.JsonPathError as err:
            problems.append(f"{where}.jsonPath: Invalid value: {json.dumps(path)}: {err}")
    return problems


def column_definitions(columns: list[PrinterColumn]) -> list[dict[str, Any]]:
    """The table's `columnDefinitions`, one per column, in order."""
    return [column.definition() for column in columns]


def render_table(
    objects: list[dict[str, Any]],
    columns: list[PrinterColumn],
    *,
    include_object: str = "Metadata",
    now: datetime,
    resource_version: str = "",
    continue_token: str = "",
    remaining: int | None = None,
) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table of `objects` (one row each, in order).

    `now` is the server's wall clock, used for date cells (a naive datetime is taken as UTC).
    `include_object` is the request's `includeObject` ("None", "Metadata" or "Object");
    anything else raises ValueError (kube-apiserver answers 400). Metadata fields are emitted
    only when set, as ListMeta's omitempty does.
    """
    if include_object not in _INCLUDE_OBJECT:
        raise ValueError(f"includeObject must be one of None, Metadata, Object: {include_object}")
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    paths = [jsonpath.compile(column.json_path) for column in columns]
    rows: list[dict[str, Any]] = []
    for obj in objects:
        cells: list[Any] = []
        for column, path in zip(columns, paths, strict=True):
            found = path.find(obj)
            cells.append(_cell(column.type, found[0], now) if found else None)
        rows.append({"cells": cells, "object": _row_object(obj, include_object)})
    list_meta: dict[str, Any] = {}
    if resource_version:
        list_meta["resourceVersion"] = resource_version
    if continue_token:
        list_meta["continue"] = continue_token
    if remaining is not None:
        list_meta["remainingItemCount"] = remaining
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": list_meta,
        "columnDefinitions": column_definitions(columns),
        "rows": rows,
    }


def _row_object(obj: dict[str, Any], include_object: str) -> dict[str, Any] | None:
    if include_object == "None":
        return None
    if include_object == "Object":
        return obj
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj.get("metadata") or {},
    }


def _cell(column_type: str, value: Any, now: datetime) -> Any:
    if value is None:
        return None
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if column_type == "string":
        return _go_text(value)
    if column_type == "integer":
        return int(value) if is_number else None
    if column_type == "number":
        return float(value) if is_number else None
    if column_type == "boolean":
        return value if isinstance(value, bool) else None
    if column_type == "date" and isinstance(value, str):
        timestamp = parse_rfc3339(value)
        return "<invalid>" if timestamp is None else human_duration(now - timestamp)
    return None


def _go_text(value: Any) -> str:
    """How client-go's JSONPath prints one result: JSON for maps and lists, else fmt.Print."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        text = json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return go_float(value)
    return str(value)


def parse_rfc3339(text: str) -> datetime | None:
    """Parse an RFC 3339 timestamp as Go's time.RFC3339 layout does; None when invalid."""
    match = _RFC3339.match(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        parsed = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=UTC,
        )
    except ValueError:
        return None
    if zone != "Z":
        offset = timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
        parsed = parsed - offset if zone[0] == "+" else parsed + offset
    return parsed


def human_duration(elapsed: timedelta) -> str:
    """apimachinery's duration.HumanDuration: "5s", "3m2s", "10m", "2h5m", "3d", "2y10d"...

    Up to one second in the future counts as now ("0s"); more is "<invalid>".
    """
    total = elapsed.total_seconds()
    seconds = int(total)
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        rest = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if rest == 0 else f"{years}y{rest}d"
    return f"{hours // 24 // 365}y"
