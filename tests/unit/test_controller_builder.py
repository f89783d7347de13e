"""ControllerBuilder: names, for/owns/watches wiring through the cache, event filters,
options, and the validation of what it is given."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import CollectorRegistry
from test_controller_support import (
    CONFIGMAP,
    WIDGET,
    FakeCache,
    ScriptedReconciler,
    obj,
    settle,
    until,
)

from framework.cache import Scope
from framework.controller import Controller, ControllerBuilder, ControllerOptions, Request
from framework.handlers import EnqueueRequestForObject, Funcs, GenerationChanged, LabelChanged
from framework.models import KubeObject
from framework.ownership import OWNER_ANNOTATION
from framework.ratelimit import ItemFastSlowRateLimiter
from framework.resources import GroupVersionKind, ResourceInfo
from framework.selectors import LabelSelector

CLUSTER_THING = ResourceInfo(
    GroupVersionKind("example.com", "v1", "Thing"), "things", "thing", namespaced=False
)
NODECLAIM = GroupVersionKind("karpenter.sh", "v1", "NodeClaim")


class Thing(KubeObject):
    __resource__ = CLUSTER_THING


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def cache() -> FakeCache:
    return FakeCache()


async def running(controller: Controller, cache: FakeCache) -> None:
    starting = asyncio.create_task(controller.start())
    await settle()
    for informer in cache.informers.values():
        informer.sync()
    await asyncio.wait_for(starting, 5)


def owner_ref(
    name: str, kind: str = "Widget", api_version: str = "example.com/v1"
) -> dict[str, object]:
    return {"apiVersion": api_version, "kind": kind, "name": name, "uid": "u", "controller": True}


def test_the_name_defaults_to_the_primary_kind_in_lower_case(
    cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler()
    widget = ControllerBuilder().for_kind(WIDGET)
    assert widget.build(reconciler, cache=cache, registry=registry).name == "widget"
    built = ControllerBuilder().for_kind(Thing).build(reconciler, cache=cache, registry=registry)
    assert built.name == "thing"
    assert built.kind == CLUSTER_THING.gvk
    named = ControllerBuilder("custom").for_kind(WIDGET)
    assert named.build(reconciler, cache=cache, registry=registry).name == "custom"
    assert (
        ControllerBuilder()
        .named("n2")
        .for_kind(WIDGET)
        .build(reconciler, cache=cache, registry=registry)
        .queue.name
        == "n2"
    )


def test_names_are_unique_per_registry(cache: FakeCache, registry: CollectorRegistry) -> None:
    reconciler = ScriptedReconciler()
    ControllerBuilder().for_kind(WIDGET).build(reconciler, cache=cache, registry=registry)
    with pytest.raises(ValueError, match="'widget' already exists"):
        ControllerBuilder().for_kind(WIDGET).build(reconciler, cache=cache, registry=registry)
    again = ControllerBuilder().for_kind(WIDGET)
    again.with_options(ControllerOptions(skip_name_validation=True))
    assert again.build(reconciler, cache=cache, registry=registry).name == "widget"
    other = ControllerBuilder().for_kind(WIDGET)
    assert other.build(reconciler, cache=cache, registry=CollectorRegistry()).name == "widget"


def test_invalid_builds_are_refused(cache: FakeCache, registry: CollectorRegistry) -> None:
    reconciler = ScriptedReconciler()
    with pytest.raises(ValueError, match="for_kind first"):
        ControllerBuilder("x").owns(CONFIGMAP).build(reconciler, cache=cache, registry=registry)
    with pytest.raises(ValueError, match="something to watch"):
        ControllerBuilder("x").build(reconciler, cache=cache, registry=registry)
    with pytest.raises(ValueError, match="needs a name"):
        ControllerBuilder().watches(WIDGET, EnqueueRequestForObject()).build(
            reconciler, cache=cache, registry=registry
        )
    with pytest.raises(ValueError, match="once"):
        ControllerBuilder().for_kind(WIDGET).for_kind(CONFIGMAP)
    with pytest.raises(ValueError, match="at least 1"):
        ControllerBuilder().for_kind(WIDGET).with_options(
            ControllerOptions(max_concurrent_reconciles=0)
        ).build(reconciler, cache=cache, registry=registry)


def test_options_reach_the_controller(cache: FakeCache, registry: CollectorRegistry) -> None:
    limiter = ItemFastSlowRateLimiter(1.0, 60.0, 3)
    options = ControllerOptions(max_concurrent_reconciles=7, rate_limiter=limiter)
    controller = (
        ControllerBuilder()
        .for_kind(WIDGET)
        .with_options(options)
        .build(ScriptedReconciler(), cache=cache, registry=registry)
    )
    assert controller.options is options
    assert controller.queue.rate_limiter is limiter


async def test_owned_objects_enqueue_their_controller(
    cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler()
    controller = (
        ControllerBuilder()
        .for_kind(WIDGET)
        .owns(CONFIGMAP)
        .build(reconciler, cache=cache, registry=registry)
    )
    await running(controller, cache)
    cache.of(CONFIGMAP).add(obj("cm", kind=CONFIGMAP, ownerReferences=[owner_ref("w1")]))
    cache.of(CONFIGMAP).add(obj("stray", kind=CONFIGMAP))
    cache.of(CONFIGMAP).add(obj("x", kind=CONFIGMAP, ownerReferences=[owner_ref("g", "Gadget")]))
    await until(lambda: reconciler.finished[Request("default", "w1")] == 1)
    await settle()
    assert reconciler.calls == [Request("default", "w1")]
    await controller.stop()


async def test_owned_by_a_cluster_scoped_kind(
    cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler()
    controller = (
        ControllerBuilder()
        .for_kind(Thing)
        .owns(CONFIGMAP)
        .build(reconciler, cache=cache, registry=registry)
    )
    await running(controller, cache)
    child = obj("cm", "team", kind=CONFIGMAP, ownerReferences=[owner_ref("t1", "Thing")])
    cache.of(CONFIGMAP).add(child)
    await until(lambda: reconciler.calls == [Request("", "t1")])
    await controller.stop()


async def test_watches_with_a_map_function_a_scope_and_predicates(
    cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler()
    owned_claims = Scope(label_selector=LabelSelector.parse("kubeloop.dev/owner-uid"))
    controller = (
        ControllerBuilder()
        .for_kind(WIDGET, predicates=[GenerationChanged()])
        .watches(NODECLAIM, lambda o: [Request("default", o["metadata"]["name"] + "-owner")])
        .watches(
            CONFIGMAP,
            EnqueueRequestForObject(),
            predicates=[LabelChanged()],
            scope=owned_claims,
        )
        .build(reconciler, cache=cache, registry=registry)
    )
    await running(controller, cache)
    claim = obj("c1", "", kind=NODECLAIM, annotations={OWNER_ANNOTATION: "default/w1"})
    cache.of(NODECLAIM).add(claim)
    await until(lambda: reconciler.calls == [Request("default", "c1-owner")])
    widgets = cache.of(WIDGET)
    widgets.update(obj("w", rv="1"), obj("w", rv="2"))  # filtered: same generation
    cache.of(CONFIGMAP, owned_claims).update(obj("m", kind=CONFIGMAP), obj("m", kind=CONFIGMAP))
    widgets.update(obj("w", rv="2"), obj("w", rv="3", generation=2))
    await until(lambda: reconciler.finished[Request("default", "w")] == 1)
    assert reconciler.calls == [Request("default", "c1-owner"), Request("default", "w")]
    await controller.stop()


async def test_event_filters_apply_to_every_watch(
    cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler()
    not_system = Funcs(create=lambda o: o["metadata"]["namespace"] != "kube-system")
    controller = (
        ControllerBuilder()
        .for_kind(WIDGET)
        .owns(CONFIGMAP)
        .with_event_filter(not_system)
        .build(reconciler, cache=cache, registry=registry)
    )
    await running(controller, cache)
    cache.of(WIDGET).add(obj("hidden", "kube-system"))
    cache.of(CONFIGMAP).add(
        obj("cm", "kube-system", kind=CONFIGMAP, ownerReferences=[owner_ref("w")])
    )
    cache.of(WIDGET).add(obj("seen"))
    await until(lambda: reconciler.finished[Request("default", "seen")] == 1)
    await settle()
    assert reconciler.calls == [Request("default", "seen")]
    await controller.stop()


async def test_objects_already_in_a_synced_informer_are_enqueued_at_start(
    cache: FakeCache, registry: CollectorRegistry
) -> None:
    reconciler = ScriptedReconciler()
    cache.informer(WIDGET).sync(obj("before"))
    controller = (
        ControllerBuilder().for_kind(WIDGET).build(reconciler, cache=cache, registry=registry)
    )
    await controller.start()
    await until(lambda: reconciler.calls == [Request("default", "before")])
    await controller.stop()
