"""meta.k8s.io/v1 Table rendering for printer columns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from framework.envtest.apiserver.tables import (
    DEFAULT_COLUMNS,
    NAME_COLUMN_DESCRIPTION,
    PrinterColumn,
    columns_from_crd_version,
    human_duration,
    render_table,
    validate_printer_columns,
)

NOW = datetime(2026, 1, 10, 12, 0, 0, tzinfo=UTC)

VERSION: dict[str, Any] = {
    "name": "v1",
    "additionalPrinterColumns": [
        {"name": "Replicas", "type": "integer", "jsonPath": ".spec.replicas"},
        {
            "name": "Ready",
            "type": "string",
            "jsonPath": '.status.conditions[?(@.type=="Ready")].status',
            "description": "Whether it is ready",
        },
        {"name": "Ratio", "type": "number", "jsonPath": ".spec.ratio", "priority": 1},
        {"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused", "priority": 1},
        {"name": "Ports", "type": "string", "jsonPath": ".spec.ports", "priority": 2},
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"},
    ],
}


def _widget(name: str, created: datetime, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {
            "name": name,
            "namespace": "default",
            "creationTimestamp": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def test_crd_columns_render_cells_by_type() -> None:
    columns = columns_from_crd_version(VERSION)
    objects = [
        _widget(
            "w1",
            NOW - timedelta(minutes=3, seconds=2),
            replicas=3,
            ratio=1,
            paused=True,
            ports=[{"port": 80}],
        ),
        {"metadata": {"name": "w2"}, "spec": {"replicas": 2.0, "ratio": "x", "paused": "no"}},
    ]
    table = render_table(objects, columns, now=NOW, resource_version="42")
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    assert table["metadata"] == {"resourceVersion": "42"}
    assert [row["cells"] for row in table["rows"]] == [
        ["w1", 3, "True", 1.0, True, '[{"port":80}]', "3m2s"],
        ["w2", 2, None, None, None, None, None],
    ]


def test_column_definitions_match_kube_apiserver() -> None:
    definitions = render_table([], columns_from_crd_version(VERSION), now=NOW)["columnDefinitions"]
    assert definitions[0] == {
        "name": "Name",
        "type": "string",
        "format": "name",
        "description": NAME_COLUMN_DESCRIPTION,
        "priority": 0,
    }
    assert definitions[1] == {
        "name": "Replicas",
        "type": "integer",
        "format": "",
        "description": "Custom resource definition column (in JSONPath format): .spec.replicas",
        "priority": 0,
    }
    assert definitions[2]["description"] == "Whether it is ready"
    assert [d["priority"] for d in definitions] == [0, 0, 0, 1, 1, 2, 0]


def test_default_columns_are_name_and_age() -> None:
    columns = columns_from_crd_version({"name": "v1"})
    assert columns == DEFAULT_COLUMNS
    table = render_table([_widget("w1", NOW - timedelta(days=3))], columns, now=NOW)
    assert [d["name"] for d in table["columnDefinitions"]] == ["Name", "Age"]
    assert table["columnDefinitions"][1]["type"] == "date"
    assert table["columnDefinitions"][1]["description"].startswith("CreationTimestamp is")
    assert table["rows"][0]["cells"] == ["w1", "3d"]


def test_include_object_variants() -> None:
    obj = _widget("w1", NOW)
    none = render_table([obj], DEFAULT_COLUMNS, include_object="None", now=NOW)
    assert none["rows"][0] == {"cells": ["w1", "0s"], "object": None}
    metadata = render_table([obj], DEFAULT_COLUMNS, now=NOW)
    assert metadata["rows"][0]["object"] == {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }
    full = render_table([obj], DEFAULT_COLUMNS, include_object="Object", now=NOW)
    assert full["rows"][0]["object"] == obj
    with pytest.raises(ValueError, match="includeObject"):
        render_table([obj], DEFAULT_COLUMNS, include_object="Everything", now=NOW)


def test_list_metadata_continue_and_remaining() -> None:
    table = render_table(
        [], DEFAULT_COLUMNS, now=NOW, resource_version="7", continue_token="abc", remaining=4
    )
    assert table["metadata"] == {"resourceVersion": "7", "continue": "abc", "remainingItemCount": 4}
    assert table["rows"] == []


def test_string_cells_print_like_client_go() -> None:
    column = PrinterColumn(name="V", type="string", json_path=".v")
    values = [
        ("text", "text"),
        (5, "5"),
        (1.5, "1.5"),
        (2.0, "2"),
        (True, "true"),
        ({"b": 1, "a": "<x>"}, '{"a":"\\u003cx\\u003e","b":1}'),
        (None, None),
    ]
    table = render_table([{"v": value} for value, _ in values], [column], now=NOW)
    assert [row["cells"][0] for row in table["rows"]] == [cell for _, cell in values]


def test_date_cells() -> None:
    column = PrinterColumn(name="At", type="date", json_path=".at")
    objects: list[dict[str, Any]] = [
        {"at": "2026-01-10T11:00:00+01:00"},
        {"at": "2026-01-10T11:59:30.5Z"},
        {"at": "yesterday"},
        {"at": 5},
    ]
    table = render_table(objects, [column], now=NOW)
    assert [row["cells"][0] for row in table["rows"]] == ["120m", "29s", "<invalid>", None]


@pytest.mark.parametrize(
    ("elapsed", "text"),
    [
        (timedelta(seconds=-5), "<invalid>"),
        (timedelta(seconds=-1), "0s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=5), "5s"),
        (timedelta(seconds=119), "119s"),
        (timedelta(minutes=2), "2m"),
        (timedelta(minutes=3, seconds=2), "3m2s"),
        (timedelta(minutes=10, seconds=30), "10m"),
        (timedelta(minutes=179), "179m"),
        (timedelta(hours=3), "3h"),
        (timedelta(hours=2, minutes=5) + timedelta(hours=1), "3h5m"),
        (timedelta(hours=8, minutes=30), "8h"),
        (timedelta(hours=47), "47h"),
        (timedelta(days=3), "3d"),
        (timedelta(days=3, hours=4), "3d4h"),
        (timedelta(days=8), "8d"),
        (timedelta(days=729), "729d"),
        (timedelta(days=365 * 2), "2y"),
        (timedelta(days=365 * 2 + 10), "2y10d"),
        (timedelta(days=365 * 9), "9y"),
    ],
)
def test_human_duration(elapsed: timedelta, text: str) -> None:
    assert human_duration(elapsed) == text


def test_validate_printer_columns() -> None:
    assert validate_printer_columns(VERSION["additionalPrinterColumns"]) == []
    problems = validate_printer_columns(
        [
            {"name": "A", "type": "text", "jsonPath": ".a"},
            {"name": "B", "type": "string", "jsonPath": "spec.b"},
            {"name": "C", "type": "string", "jsonPath": ".c["},
            {"type": "string", "jsonPath": ".d"},
        ]
    )
    assert problems[0].startswith('additionalPrinterColumns[0].type: Unsupported value: "text"')
    assert problems[1] == (
        'additionalPrinterColumns[1].jsonPath: Invalid value: "spec.b":'
        " must be a simple json path starting with ."
    )
    assert problems[2].startswith('additionalPrinterColumns[2].jsonPath: Invalid value: ".c["')
    assert problems[3] == "additionalPrinterColumns[3].name: Required value"
    assert len(problems) == 4


def test_naive_now_is_taken_as_utc() -> None:
    column = PrinterColumn(name="At", type="date", json_path=".at")
    table = render_table([{"at": "2026-01-10T11:58:00Z"}], [column], now=NOW.replace(tzinfo=None))
    assert table["rows"][0]["cells"] == ["2m"]
