"""Informer against the embedded API server: initial sync, live changes, handler semantics,
relist after 410, reconnects after dropped watches and a server restart, inactivity restarts,
resync, selectors, and a kind whose CRD appears later."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from prometheus_client import CollectorRegistry
from test_informer_support import (
    GADGET,
    GADGET_GVK,
    counter,
    eventually,
    gadget,
    gadget_crd,
    running,
    server_objects,
    server_write,
)

from framework.client import Client
from framework.clock import Clock, FakeClock
from framework.informer import EventHandler, Informer, InformerOptions
from framework.resources import GroupVersionKind
from framework.selectors import LabelSelector


class Recorder:
    """An event handler that logs every call and mirrors the objects it was told about."""

    def __init__(self) -> None:
        self.events: list[tuple[str, Any, Any]] = []
        self.mirror: dict[str, str] = {}

    def handler(self) -> EventHandler:
        return EventHandler(on_add=self.add, on_update=self.update, on_delete=self.delete)

    @staticmethod
    def _key(obj: dict[str, Any]) -> str:
        return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"

    def add(self, obj: dict[str, Any], initial: bool) -> None:
        self.events.append(("add", obj["metadata"]["name"], initial))
        self.mirror[self._key(obj)] = obj["metadata"]["resourceVersion"]

    def update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self.events.append(("update", old["spec"], new["spec"]))
        self.mirror[self._key(new)] = new["metadata"]["resourceVersion"]

    def delete(self, obj: dict[str, Any], unknown: bool) -> None:
        self.events.append(("delete", obj["metadata"]["name"], unknown))
        self.mirror.pop(self._key(obj), None)


@asynccontextmanager
async def informing(
    client: Client,
    registry: CollectorRegistry,
    options: InformerOptions | None = None,
    clock: Clock | None = None,
    kind: GroupVersionKind = GADGET_GVK,
) -> AsyncIterator[tuple[Informer, Recorder]]:
    recorder = Recorder()
    informer = Informer(
        client, kind, options, registry=registry, **({"clock": clock} if clock else {})
    )
    informer.add_handler(recorder.handler())
    informer.start()
    try:
        yield informer, recorder
    finally:
        await informer.stop()


async def synced(informer: Informer) -> None:
    async with asyncio.timeout(10):
        await informer.wait_for_sync()


def store_versions(informer: Informer) -> dict[str, str]:
    return {
        key: obj["metadata"]["resourceVersion"]
        for key in informer.store
        if (obj := informer.store.get(key)) is not None
    }


async def test_initial_sync_then_adds_updates_and_deletes() -> None:
    async with running() as (env, client, registry):
        for name in ("a", "b"):
            await client.create(gadget(name, size=1))
        async with informing(client, registry) as (informer, recorder):
            await synced(informer)
            assert sorted(recorder.events) == [("add", "a", True), ("add", "b", True)]
            assert store_versions(informer) == server_objects(env)
            recorder.events.clear()

            await client.create(gadget("c", size=1))
            await client.patch(GADGET, "a", {"spec": {"size": 2}}, namespace="default")
            await client.delete(GADGET, "b", namespace="default")
            await eventually(lambda: len(recorder.events) == 3)
            assert recorder.events == [
                ("add", "c", False),
                ("update", {"size": 1}, {"size": 2}),
                ("delete", "b", False),
            ]
            assert store_versions(informer) == server_objects(env)
            assert informer.resource_version == str(env.store.resource_version)
            assert counter(registry, "kubeloop_informer_lists_total", kind=str(GADGET_GVK)) == 1


async def test_late_handler_gets_the_store_as_initial_adds_and_failing_handlers_are_isolated() -> (
    None
):
    async with running() as (_, client, registry):
        await client.create(gadget("a"))
        async with informing(client, registry) as (informer, recorder):
            await synced(informer)

            def explode(obj: dict[str, Any], initial: bool) -> None:
                raise RuntimeError("handler bug")

            informer.add_handler(EventHandler(on_add=explode))
            late = Recorder()
            informer.add_handler(late.handler())
            assert late.events == [("add", "a", True)]
            await client.create(gadget("b"))
            await eventually(lambda: ("add", "b", False) in late.events)
            assert ("add", "b", False) in recorder.events


async def test_handlers_get_private_copies() -> None:
    async with running() as (_, client, registry):
        seen: list[dict[str, Any]] = []

        def keep_and_vandalise(obj: dict[str, Any], initial: bool) -> None:
            seen.append(obj)
            obj["spec"]["size"] = 99

        await client.create(gadget("a", size=1))
        async with informing(client, registry) as (informer, _):
            informer.add_handler(EventHandler(on_add=keep_and_vandalise))
            informer.add_handler(EventHandler(on_add=keep_and_vandalise))
            await synced(informer)
            assert len(seen) == 2
            assert seen[0] is not seen[1]
            stored = informer.store.get("default/a")
            assert stored is not None
            assert stored["spec"] == {"size": 1}


async def test_relist_after_410_swaps_the_store_and_reports_vanished_objects() -> None:
    async with running(event_window=3) as (env, client, registry):
        for name in ("keep", "gone", "changed"):
            await client.create(gadget(name, size=1))
        async with informing(client, registry) as (informer, recorder):
            await synced(informer)
            recorder.events.clear()
            # Drop the watch and write past the event window before the informer can resume.
            env.store.close()
            server_write(env, "delete", "gone")
            server_write(env, "update", "changed", size=2)
            for index in range(4):
                server_write(env, "create", f"new{index}")
            await eventually(lambda: store_versions(informer) == server_objects(env))
            gone = counter(
                registry,
                "kubeloop_informer_watch_restarts_total",
                kind=str(GADGET_GVK),
                reason="gone",
            )
            assert gone >= 1
            assert ("delete", "gone", True) in recorder.events
            assert ("update", {"size": 1}, {"size": 2}) in recorder.events
            assert sorted(e[1] for e in recorder.events if e[0] == "add") == [
                f"new{index}" for index in range(4)
            ]
            assert all(e[2] is False for e in recorder.events if e[0] == "add")
            assert recorder.mirror == server_objects(env)


async def test_dropped_watch_resumes_without_relisting() -> None:
    async with (
        running() as (env, client, registry),
        informing(client, registry) as (informer, recorder),
    ):
        async with asyncio.timeout(10):
            await informer.wait_for_sync()
        for round_ in range(3):
            # After the first round an event has come through a live watch: each later
            # close drops it.
            env.store.close()
            await client.create(gadget(f"g{round_}"))
            await eventually(lambda: store_versions(informer) == server_objects(env))
        assert counter(registry, "kubeloop_informer_lists_total", kind=str(GADGET_GVK)) == 1
        assert counter(registry, "kubeloop_informer_watches_total", kind=str(GADGET_GVK)) >= 3
        assert recorder.mirror == server_objects(env)


async def test_reconnects_with_backoff_after_a_server_restart() -> None:
    clock = FakeClock()
    errors = {"kind": str(GADGET_GVK), "reason": "error"}
    async with running() as (env, client, registry):
        await client.create(gadget("before"))
        async with informing(client, registry, clock=clock) as (informer, recorder):
            await synced(informer)
            await env.stop()  # the watch ends; reconnecting fails until the server is back
            await eventually(
                lambda: counter(registry, "kubeloop_informer_watch_restarts_total", **errors)
            )
            await env.start()  # same port, token and data
            await client.create(gadget("after"))
            await client.delete(GADGET, "before", namespace="default")
            await asyncio.sleep(0.05)
            assert "default/after" not in informer.store  # still backing off
            clock.advance(1.6)  # the first backoff is 0.8 s, stretched by up to 100 % jitter
            await eventually(lambda: store_versions(informer) == server_objects(env))
            assert recorder.mirror == server_objects(env)
            assert ("delete", "before", False) in recorder.events


async def test_silent_watch_is_restarted_after_the_inactivity_timeout() -> None:
    clock = FakeClock()
    async with running() as (env, client, registry):
        options = InformerOptions(inactivity_timeout=70.0)
        async with informing(client, registry, options, clock) as (informer, _recorder):
            await synced(informer)
            watches = {"kind": str(GADGET_GVK)}
            await eventually(lambda: clock.pending_timers() == 1)  # the watch is open
            clock.advance(69.0)
            await asyncio.sleep(0.05)
            assert counter(registry, "kubeloop_informer_watches_total", **watches) == 1
            clock.advance(1.0)
            await eventually(
                lambda: counter(registry, "kubeloop_informer_watches_total", **watches) == 2
            )
            inactive = {"kind": str(GADGET_GVK), "reason": "inactive"}
            assert counter(registry, "kubeloop_informer_watch_restarts_total", **inactive) == 1
            await client.create(gadget("late"))
            await eventually(lambda: store_versions(informer) == server_objects(env))


async def test_resync_replays_every_object_as_an_update() -> None:
    clock = FakeClock()
    async with running() as (_, client, registry):
        await client.create(gadget("a", size=1))
        options = InformerOptions(resync_period=30.0)
        async with informing(client, registry, options, clock) as (informer, recorder):
            await synced(informer)
            recorder.events.clear()
            clock.advance(30.0)
            await eventually(lambda: recorder.events)
            assert recorder.events == [("update", {"size": 1}, {"size": 1})]


async def test_label_selector_scope_follows_label_changes() -> None:
    async with running() as (_, client, registry):
        await client.create(gadget("in"))
        await client.create({**gadget("out"), "metadata": {"name": "out", "namespace": "default"}})
        options = InformerOptions(label_selector=LabelSelector.parse("app=demo"))
        async with informing(client, registry, options) as (informer, recorder):
            await synced(informer)
            assert informer.store.keys() == ["default/in"]
            await client.patch(
                GADGET, "in", {"metadata": {"labels": {"app": None}}}, namespace="default"
            )
            await eventually(lambda: len(informer.store) == 0)
            assert recorder.events[-1] == ("delete", "in", False)


async def test_missing_crd_is_retried_until_it_appears() -> None:
    clock = FakeClock()
    async with (
        running(install_crd=False) as (env, client, registry),
        informing(client, registry, clock=clock) as (informer, recorder),
    ):
        async with asyncio.timeout(10):
            await informer.wait_until_ready()
        assert informer.waiting_for_kind
        assert not informer.has_synced
        await env.install_crds([gadget_crd()])
        await client.create(gadget("a"))
        clock.advance(9.0)
        await asyncio.sleep(0.05)
        assert not informer.has_synced
        clock.advance(1.0)
        async with asyncio.timeout(10):
            await informer.wait_for_sync()
        assert not informer.waiting_for_kind
        assert recorder.events == [("add", "a", True)]


async def test_watch_follows_bookmarks_and_resumes_after_the_server_timeout() -> None:
    async with running(bookmark_interval=0.1) as (env, client, registry):
        options = InformerOptions(watch_timeout=(1.0, 1.0))
        async with informing(client, registry, options) as (informer, _):
            await synced(informer)
            # Another kind's write moves the global resourceVersion; a bookmark carries it.
            await client.create(
                {
                    "apiVersion": "v1",
                    "kind": "ConfigMap",
                    "metadata": {"name": "c", "namespace": "default"},
                }
            )
            await eventually(lambda: informer.resource_version == str(env.store.resource_version))
            watches = {"kind": str(GADGET_GVK)}
            await eventually(
                lambda: counter(registry, "kubeloop_informer_watches_total", **watches) >= 2
            )
            await client.create(gadget("late"))
            await eventually(lambda: "default/late" in informer.store)
            errors = {"kind": str(GADGET_GVK), "reason": "error"}
            assert counter(registry, "kubeloop_informer_watch_restarts_total", **errors) == 0
            assert counter(registry, "kubeloop_informer_lists_total", **watches) == 1
