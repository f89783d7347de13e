"""JSONPath as printer columns use it (client-go semantics, missing keys allowed)."""

from __future__ import annotations

from typing import Any

import pytest

from framework.envtest.apiserver.jsonpath import JsonPathError, compile, evaluate

OBJ: dict[str, Any] = {
    "metadata": {
        "name": "w1",
        "annotations": {"example.com/team": "blue"},
        "labels": {"app.kubernetes.io/name": "web"},
    },
    "spec": {"replicas": 3, "ports": [{"port": 80}, {"port": 443}]},
    "status": {
        "conditions": [
            {"type": "Ready", "status": "True", "count": 1},
            {"type": "Synced", "status": "False", "count": 5},
            {"type": "Stalled", "status": "False"},
        ],
        "ready": False,
    },
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        (".spec.replicas", [3]),
        ("{.spec.replicas}", [3]),
        ("$.spec.replicas", [3]),
        (".status.ready", [False]),
        (".status.conditions[0].type", ["Ready"]),
        (".status.conditions[-1].type", ["Stalled"]),
        (".status.conditions[*].type", ["Ready", "Synced", "Stalled"]),
        (".status.conditions[0:2].type", ["Ready", "Synced"]),
        (".status.conditions[0,2].type", ["Ready", "Stalled"]),
        (".spec.ports[*].port", [80, 443]),
        (".spec.*", [3, [{"port": 80}, {"port": 443}]]),
        (".spec.ports[0].*", [80]),
        ("..port", [80, 443]),
        (".metadata.labels['app.kubernetes.io/name']", ["web"]),
        ('.metadata.labels["app.kubernetes.io/name"]', ["web"]),
        (".metadata.annotations.example\\.com/team", ["blue"]),
        (".metadata['name','missing']", ["w1"]),
        ('.status.conditions[?(@.type=="Ready")].status', ["True"]),
        (".status.conditions[?(@.type!='Ready')].type", ["Synced", "Stalled"]),
        (".status.conditions[?(@.count>1)].type", ["Synced"]),
        (".status.conditions[?(@.count<=1)].type", ["Ready"]),
        (".status.conditions[?(@.count>=1)].type", ["Ready", "Synced"]),
        (".status.conditions[?(@.count < 5)].type", ["Ready"]),
        (".status.conditions[?(@.count)].type", ["Ready", "Synced"]),
        ('.status.conditions[?(@.count=="1")].type', []),
    ],
)
def test_evaluate(expr: str, expected: list[Any]) -> None:
    assert evaluate(OBJ, expr) == expected


@pytest.mark.parametrize(
    "expr",
    [
        ".spec.missing",
        ".status.conditions[7].type",
        ".spec.replicas.deeper",
        ".spec[0]",
        ".metadata.name[*]",
        '.spec.ports[?(@.name=="x")]',
    ],
)
def test_missing_values_yield_nothing(expr: str) -> None:
    assert evaluate(OBJ, expr) == []


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "{}",
        "{.spec",
        ".spec[",
        ".spec]",
        ".a[x]",
        ".a[1:2:0]",
        ".a[?(@.b=)]",
        ".a[?@.b]",
        ".a[?(@.b==c)]",
        ".a['b]",
        ".",
        ".spec..",
    ],
)
def test_bad_expressions_raise(expr: str) -> None:
    with pytest.raises(JsonPathError):
        compile(expr)


def test_compiled_path_is_reusable() -> None:
    path = compile(".spec.replicas")
    assert path.find(OBJ) == [3]
    assert path.find({"spec": {"replicas": 5}}) == [5]
    assert path.expression == ".spec.replicas"


def test_root_reference_inside_filter() -> None:
    obj = {"want": "b", "items": [{"n": "a"}, {"n": "b"}]}
    assert evaluate(obj, ".items[?(@.n==$.want)].n") == ["b"]
