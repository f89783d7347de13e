"""Merge patches through `Rest` share what they leave alone with the stored object: every
stored version must stay exactly as it was stored (its dict equal to its bytes and to a copy
taken when it was stored). (Pure; kept beside the server's other tests.)"""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from test_apiserver_support import widget, widget_crd

from framework.envtest.apiserver.catalog import Catalog, ServedResource
from framework.envtest.apiserver.rest import MERGE_PATCH, Rest
from framework.envtest.apiserver.storage import MemoryStorage
from framework.envtest.apiserver.watch import StoredObject


class Versions:
    """A `Rest` over memory storage that keeps every stored version with a copy of it."""

    def __init__(self) -> None:
        self.rest = Rest(MemoryStorage(), Catalog(), lambda: datetime(2026, 1, 1, tzinfo=UTC))
        self.kept: list[tuple[StoredObject, dict[str, Any]]] = []
        self.create("", "v1", "namespaces", "", {"metadata": {"name": "default"}})

    def served(self, group: str, version: str, plural: str) -> ServedResource:
        served = self.rest.catalog.lookup(group, version, plural)
        assert served is not None
        return served

    def _keep(self, stored: StoredObject) -> dict[str, Any]:
        self.kept.append((stored, copy.deepcopy(stored.obj)))
        return stored.obj

    def create(
        self, group: str, version: str, plural: str, namespace: str, obj: dict[str, Any]
    ) -> dict[str, Any]:
        served = self.served(group, version, plural)
        return self._keep(self.rest.create(served, namespace, obj).stored)

    def patch(
        self, group: str, version: str, plural: str, name: str, patch: Any, status: bool = False
    ) -> dict[str, Any]:
        served = self.served(group, version, plural)
        namespace = "default" if served.info.namespaced else ""
        body = orjson.dumps(patch)
        subresource = "status" if status else ""
        written = self.rest.patch(served, namespace, name, MERGE_PATCH, body, subresource)
        return self._keep(written.stored)

    def assert_unchanged(self) -> None:
        for stored, snapshot in self.kept:
            assert stored.obj == snapshot
            assert orjson.loads(stored.raw) == snapshot


@pytest.fixture
def versions() -> Versions:
    return Versions()


def test_builtin_patches_leave_stored_versions_alone(versions: Versions) -> None:
    cm = {"metadata": {"name": "a", "labels": {"l": "1"}}, "data": {"k": "v"}}
    versions.create("", "v1", "configmaps", "default", cm)
    patched = versions.patch("", "v1", "configmaps", "a", {"data": {"k2": "w"}})
    assert patched["data"] == {"k": "v", "k2": "w"}
    versions.patch("", "v1", "configmaps", "a", {"metadata": {"labels": {"m": "2"}}})
    versions.patch("", "v1", "configmaps", "a", {"metadata": {"annotations": {"a": "b"}}})
    secret = {"metadata": {"name": "s"}, "data": {"a": "YQ=="}}
    versions.create("", "v1", "secrets", "default", secret)
    folded = versions.patch("", "v1", "secrets", "s", {"stringData": {"b": "b"}})
    assert folded["data"] == {"a": "YQ==", "b": "Yg=="}
    event = {
        "metadata": {"name": "e", "labels": {"x": "y"}},
        "regarding": {"kind": "Pod", "name": "p"},
        "reason": "Started",
    }
    versions.create("events.k8s.io", "v1", "events", "default", event)
    versions.patch("events.k8s.io", "v1", "events", "e", {"note": "hello"})
    pod = {"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    versions.create("", "v1", "pods", "default", pod)
    ready = {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}}
    versions.patch("", "v1", "pods", "p", ready, status=True)
    running = versions.patch("", "v1", "pods", "p", {"status": {"podIP": "10.0.0.1"}}, status=True)
    assert running["status"]["conditions"] == [{"type": "Ready", "status": "True"}]
    versions.patch("", "v1", "pods", "p", {"metadata": {"labels": {"app": "a"}}})
    versions.assert_unchanged()


def test_custom_resource_and_crd_patches_leave_stored_versions_alone(
    versions: Versions,
) -> None:
    versions.create("apiextensions.k8s.io", "v1", "customresourcedefinitions", "", widget_crd())
    crd = versions.patch(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "widgets.example.com",
        {"metadata": {"labels": {"team": "a"}}},
    )
    assert crd["spec"]["names"]["listKind"] == "WidgetList"
    versions.create("example.com", "v1", "widgets", "default", widget("w", extra={"k": [1]}))
    conditions = [{"type": "Ready", "status": "True"}]
    status = {"status": {"phase": "Running", "conditions": conditions}}
    versions.patch("example.com", "v1", "widgets", "w", status, status=True)
    versions.patch("example.com", "v1", "widgets", "w", {"status": {"phase": "Done"}}, status=True)
    patched = versions.patch("example.com", "v1", "widgets", "w", {"spec": {"size": 3}})
    assert patched["spec"]["extra"] == {"k": [1]}
    assert patched["status"] == {"phase": "Done", "conditions": conditions}
    assert patched["metadata"]["generation"] == 2
    versions.assert_unchanged()
