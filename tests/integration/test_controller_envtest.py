"""Controllers on the local API server through the shared cache: result branches and their
metrics, owns/watches/map-function triggering, predicates, per-key exclusivity under
concurrency, and a controller whose CRD is installed while another controller runs."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from test_apiserver_support import widget, widget_crd

from framework.cache import Cache, Scope
from framework.client import Client
from framework.controller import (
    Controller,
    ControllerBuilder,
    ControllerOptions,
    Request,
    Result,
    TerminalError,
)
from framework.envtest import Environment
from framework.handlers import GenerationChanged, requests_for_annotated_owner
from framework.informer import EventHandler, InformerOptions
from framework.ownership import (
    OWNER_UID_LABEL,
    owner_annotations,
    owner_labels,
    set_controller_reference,
)
from framework.resources import GroupVersionKind
from framework.selectors import LabelSelector

JSON = dict[str, Any]
WIDGET = GroupVersionKind("example.com", "v1", "Widget")
CONFIGMAP = GroupVersionKind("", "v1", "ConfigMap")
NAMESPACE = GroupVersionKind("", "v1", "Namespace")
W1 = Request("default", "w1")

Outcome = Result | Exception


class Recorder:
    """A reconciler playing scripted outcomes per request (then success), recording calls
    finished and the most reconciles of one key in flight at once; `action` runs inside each
    reconcile."""

    def __init__(
        self,
        scripts: dict[Request, list[Outcome]] | None = None,
        action: Callable[[Request], Any] | None = None,
    ) -> None:
        self.scripts = scripts or {}
        self.action = action
        self.finished: Counter[Request] = Counter()
        self.active: Counter[Request] = Counter()
        self.max_per_key = 0

    async def reconcile(self, request: Request) -> Result:
        self.active[request] += 1
        self.max_per_key = max(self.max_per_key, self.active[request])
        try:
            if self.action is not None:
                await self.action(request)
            script = self.scripts.get(request)
            outcome = script.pop(0) if script else Result()
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        finally:
            self.active[request] -= 1
            self.finished[request] += 1


@dataclass
class World:
    env: Environment
    client: Client
    cache: Cache
    registry: CollectorRegistry
    controllers: list[Controller] = field(default_factory=list)

    def build(self, builder: ControllerBuilder, reconciler: Recorder) -> Controller:
        controller = builder.build(reconciler, cache=self.cache, registry=self.registry)
        self.controllers.append(controller)
        return controller

    def metric(self, name: str, controller: str = "widget", **labels: str) -> float:
        value = self.registry.get_sample_value(name, {"controller": controller, **labels})
        return 0.0 if value is None else value


@pytest.fixture
async def world(env: Environment) -> AsyncIterator[World]:
    registry = CollectorRegistry()
    async with await Client.for_environment(env, registry=registry) as client:
        cache = Cache(client, options=InformerOptions(missing_kind_retry=0.2), registry=registry)
        await cache.start()
        state = World(env, client, cache, registry)
        try:
            yield state
        finally:
            for controller in state.controllers:
                await controller.stop(grace_period=5.0)
            await cache.stop()


@pytest.fixture
async def widgets(world: World) -> World:
    await world.env.install_crds([widget_crd()])
    return world


async def until(condition: Callable[[], object], within: float = 10.0) -> None:
    """Wait (bounded by `within` seconds) until `condition()` is true."""
    async with asyncio.timeout(within):
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(0.01)


def observe(world: World, kind: GroupVersionKind, scope: Scope | None = None) -> list[JSON]:
    """Objects of every later add/update event of the informer, in order. Registered after a
    controller's handler, it sees an event only once the controller's handler has."""
    seen: list[JSON] = []
    world.cache.informer(kind, scope).add_handler(
        EventHandler(on_add=lambda o, _: seen.append(o), on_update=lambda _, n: seen.append(n))
    )
    return seen


def named(events: list[JSON], name: str) -> bool:
    return any(o["metadata"]["name"] == name for o in events)


async def test_every_result_branch_and_its_metrics(widgets: World) -> None:
    reconciler = Recorder(
        {
            W1: [
                ValueError("transient"),
                Result.now(),
                Result(requeue_after=0.05),
                Result(requeue=True),
                TerminalError("cannot ever work"),
            ]
        }
    )
    controller = widgets.build(ControllerBuilder().for_kind(WIDGET), reconciler)
    await controller.start()
    await widgets.client.create(widget("w1"))
    await until(lambda: reconciler.finished[W1] == 5)
    assert widgets.metric("controller_runtime_reconcile_errors_total") == 2
    assert widgets.metric("controller_runtime_terminal_reconcile_errors_total") == 1
    assert widgets.metric("controller_runtime_reconcile_panics_total") == 1
    assert widgets.metric("controller_runtime_reconcile_total", result="error") == 2
    assert widgets.metric("controller_runtime_reconcile_total", result="requeue") == 2
    assert widgets.metric("controller_runtime_reconcile_total", result="requeue_after") == 1
    assert widgets.metric("controller_runtime_reconcile_total", result="success") == 0
    assert widgets.metric("controller_runtime_reconcile_time_seconds_count") == 5
    assert widgets.metric("controller_runtime_max_concurrent_reconciles") == 1
    assert controller.queue.num_requeues(W1) == 0
    # the worker survived; a new event reconciles the object again, successfully
    await widgets.client.patch(WIDGET, "w1", {"spec": {"size": 2}}, namespace="default")
    await until(lambda: widgets.metric("controller_runtime_reconcile_total", result="success"))
    assert reconciler.finished[W1] == 6
    assert widgets.metric("controller_runtime_active_workers") == 0


async def test_an_owned_configmap_change_enqueues_its_owner(widgets: World) -> None:
    reconciler = Recorder()
    controller = widgets.build(ControllerBuilder().for_kind(WIDGET).owns(CONFIGMAP), reconciler)
    await controller.start()
    seen = observe(widgets, CONFIGMAP)
    owner = await widgets.client.create(widget("w1"))
    await until(lambda: reconciler.finished[W1] == 1)
    child: JSON = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "w1-config", "namespace": "default"},
        "data": {"k": "1"},
    }
    set_controller_reference(owner, child)
    await widgets.client.create(child)
    await until(lambda: reconciler.finished[W1] == 2)
    await widgets.client.patch(CONFIGMAP, "w1-config", {"data": {"k": "2"}}, namespace="default")
    await until(lambda: reconciler.finished[W1] == 3)
    stray: JSON = {**child, "metadata": {"name": "stray", "namespace": "default"}}
    await widgets.client.create(stray)
    await until(lambda: named(seen, "stray"))
    assert len(controller.queue) == 0
    assert sum(reconciler.finished.values()) == 3


async def test_a_labelled_cluster_scoped_child_enqueues_its_annotated_owner(
    widgets: World,
) -> None:
    reconciler = Recorder()
    children = Scope(label_selector=LabelSelector.parse(OWNER_UID_LABEL))
    builder = (
        ControllerBuilder()
        .for_kind(WIDGET)
        .watches(NAMESPACE, requests_for_annotated_owner, scope=children)
    )
    controller = widgets.build(builder, reconciler)
    await controller.start()
    owner = await widgets.client.create(widget("w1"))
    await until(lambda: reconciler.finished[W1] == 1)
    # a Namespace stands in for a cluster-scoped child (a NodeClaim, a Terraform Workspace)
    child: JSON = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": "w1-child",
            "labels": owner_labels(owner),
            "annotations": owner_annotations(owner),
        },
    }
    await widgets.client.create(child)
    await until(lambda: reconciler.finished[W1] == 2)
    await widgets.client.patch(NAMESPACE, "w1-child", {"metadata": {"labels": {"x": "y"}}})
    await until(lambda: reconciler.finished[W1] == 3)
    assert set(reconciler.finished) == {W1}


async def test_generation_changed_filters_status_writes(widgets: World) -> None:
    reconciler = Recorder()
    builder = ControllerBuilder().for_kind(WIDGET, predicates=[GenerationChanged()])
    controller = widgets.build(builder, reconciler)
    await controller.start()
    seen = observe(widgets, WIDGET)
    await widgets.client.create(widget("w1"))
    await until(lambda: reconciler.finished[W1] == 1)
    status = await widgets.client.patch(
        WIDGET, "w1", {"status": {"phase": "Ready"}}, namespace="default", subresource="status"
    )
    await until(lambda: any(o.get("status") == status["status"] for o in seen))
    assert len(controller.queue) == 0
    assert reconciler.finished[W1] == 1
    await widgets.client.patch(WIDGET, "w1", {"spec": {"size": 3}}, namespace="default")
    await until(lambda: reconciler.finished[W1] == 2)


async def test_one_key_is_never_reconciled_twice_at_once(widgets: World) -> None:
    keys = [Request("default", f"w{index}") for index in range(12)]

    async def touch(request: Request) -> None:
        # writes while the key is in flight: each comes back as an event for the same key
        count = reconciler.finished[request]
        if count < 3:
            await widgets.client.patch(
                WIDGET,
                request.name,
                {"metadata": {"annotations": {"touched": str(count)}}},
                namespace="default",
            )
        await asyncio.sleep(0.01)

    reconciler = Recorder({key: [ValueError("first attempt fails")] for key in keys}, touch)
    options = ControllerOptions(max_concurrent_reconciles=4)
    controller = widgets.build(
        ControllerBuilder().for_kind(WIDGET).with_options(options), reconciler
    )
    await controller.start()
    await asyncio.gather(*(widgets.client.create(widget(key.name)) for key in keys))
    await until(lambda: all(reconciler.finished[key] >= 4 for key in keys), within=12.0)
    assert reconciler.max_per_key == 1
    assert widgets.metric("controller_runtime_reconcile_errors_total") == len(keys)


async def test_a_controller_waits_for_its_crd_while_another_runs(world: World) -> None:
    configs, widget_reconciler = Recorder(), Recorder()
    running = world.build(ControllerBuilder().for_kind(CONFIGMAP), configs)
    waiting = world.build(ControllerBuilder().for_kind(WIDGET), widget_reconciler)
    await running.start()
    starting = asyncio.create_task(waiting.start())
    await until(lambda: world.cache.informer(WIDGET).waiting_for_kind)
    await world.client.create(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "c1", "namespace": "default"},
        }
    )
    await until(lambda: configs.finished[Request("default", "c1")] == 1)
    assert not starting.done()
    assert not waiting.running
    await world.env.install_crds([widget_crd()])
    await asyncio.wait_for(starting, 10)
    assert waiting.running
    await world.client.create(widget("w1"))
    await until(lambda: widget_reconciler.finished[W1] == 1)
