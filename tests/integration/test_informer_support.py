"""Shared helpers for the informer, cache and status writer tests: a Gadget CRD (status
subresource, free-form spec and status), a running environment with a client, server-side
writes that bypass HTTP, and a bounded wait for a condition.

(A test_ module so that it sits with the tests it serves; it holds no tests itself.)"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CollectorRegistry
from test_common_support import crd

from framework.client import Client
from framework.envtest import Environment
from framework.models import KubeObject
from framework.resources import GroupVersionKind, ResourceInfo

GROUP = "test.kubeloop.dev"
GADGET_GVK = GroupVersionKind(GROUP, "v1", "Gadget")
GADGET = ResourceInfo(
    gvk=GADGET_GVK,
    plural="gadgets",
    singular="gadget",
    namespaced=True,
    subresources=frozenset({"status"}),
)


class Gadget(KubeObject):
    __resource__ = GADGET

    spec: dict[str, Any] = {}
    status: dict[str, Any] | None = None


def gadget_crd() -> dict[str, Any]:
    return crd(GADGET_GVK, "gadgets")


def gadget(name: str, namespace: str = "default", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": GADGET_GVK.api_version,
        "kind": "Gadget",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": "demo"}},
        "spec": spec,
    }


@asynccontextmanager
async def running(
    *, install_crd: bool = True, event_window: int = 10_000, bookmark_interval: float = 60.0
) -> AsyncIterator[tuple[Environment, Client, CollectorRegistry]]:
    """A started environment (with the Gadget CRD unless told otherwise) and a client whose
    metrics go to the returned registry."""
    registry = CollectorRegistry()
    environment = Environment(event_window=event_window, bookmark_interval=bookmark_interval)
    async with environment as env:
        if install_crd:
            await env.install_crds([gadget_crd()])
        async with await Client.for_environment(env, registry=registry) as client:
            yield env, client, registry


def server_write(env: Environment, verb: str, name: str, **spec: Any) -> None:
    """Create ("create"), replace the spec of ("update") or delete ("delete") a gadget in the
    default namespace synchronously, behind the HTTP layer: nothing else runs meanwhile."""
    rest = env.server.rest
    served = rest.catalog.lookup(GROUP, "v1", "gadgets")
    assert served is not None
    if verb == "create":
        rest.create(served, "default", gadget(name, **spec))
    elif verb == "update":
        current = rest.get(served, "default", name).obj
        rest.update(served, "default", name, {**current, "spec": spec})
    else:
        rest.delete(served, "default", name, {})


def server_objects(env: Environment) -> dict[str, str]:
    """{namespace/name: resourceVersion} of every gadget the server holds."""
    return {
        f"{s.obj['metadata']['namespace']}/{s.obj['metadata']['name']}": str(s.rv)
        for s in env.store.list(f"gadgets.{GROUP}", None)
    }


def counter(registry: CollectorRegistry, name: str, **labels: str) -> float:
    return registry.get_sample_value(name, labels) or 0.0


async def eventually(condition: Callable[[], object], within: float = 10.0) -> None:
    """Wait (bounded) until `condition()` is truthy: polls, as the conditions are plain
    expressions over state that no event signals."""
    async with asyncio.timeout(within):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.005)
