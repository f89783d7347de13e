"""Shared cache against the embedded API server: one informer per (kind, scope), reads as
copies (dicts or models), selectors, indexes, read-your-own-writes, and a missing CRD that
neither blocks the sync nor breaks reads of other kinds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from prometheus_client import CollectorRegistry
from test_informer_support import (
    GADGET,
    GADGET_GVK,
    Gadget,
    counter,
    gadget,
    gadget_crd,
    running,
)

from framework.cache import Cache, Scope
from framework.client import Client
from framework.clock import FakeClock
from framework.errors import NoKindMatch, NotFound
from framework.informer import index_by_label
from framework.resources import GroupVersionKind
from framework.selectors import FieldSelector, LabelSelector

CONFIGMAP = GroupVersionKind("", "v1", "ConfigMap")
FALLBACKS = "kubeloop_cache_read_your_writes_fallbacks_total"


@asynccontextmanager
async def caching(
    client: Client, registry: CollectorRegistry, **options: object
) -> AsyncIterator[Cache]:
    cache = Cache(client, registry=registry, **options)  # type: ignore[arg-type]
    await cache.start()
    try:
        yield cache
    finally:
        await cache.stop()


async def test_informers_are_shared_per_kind_and_scope() -> None:
    async with running() as (_, client, registry), caching(client, registry) as cache:
        assert cache.informer(GADGET_GVK) is cache.informer(GADGET)
        assert cache.informer(Gadget) is cache.informer(GADGET_GVK)
        scoped = cache.informer(GADGET_GVK, Scope(namespace="default"))
        assert scoped is not cache.informer(GADGET_GVK)
        assert scoped is cache.informer(GADGET_GVK, Scope(namespace="default"))
        assert len(cache.informers()) == 2


async def test_reads_are_fresh_copies_as_dicts_or_models() -> None:
    async with running() as (_, client, registry), caching(client, registry) as cache:
        await client.create(gadget("a", size=1))
        obj = await cache.get(GADGET_GVK, "a", namespace="default")
        assert obj["spec"] == {"size": 1}
        obj["spec"]["size"] = 5
        again = await cache.get(GADGET_GVK, "a", namespace="default")
        assert again["spec"] == {"size": 1}
        model = await cache.get(Gadget, "a", namespace="default")
        assert isinstance(model, Gadget)
        assert model.spec == {"size": 1}
        with pytest.raises(NotFound):
            await cache.get(GADGET_GVK, "missing", namespace="default")


async def test_list_with_namespace_and_selectors_and_custom_index() -> None:
    async with running() as (_env, client, registry), caching(client, registry) as cache:
        await client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}})
        await client.create(gadget("a"))
        await client.create(gadget("b", namespace="x"))
        other = gadget("c")
        other["metadata"]["labels"] = {"app": "other"}
        await client.create(other)
        cache.add_indexers(GADGET_GVK, {"app": index_by_label("app")})

        def names(objects: list[dict[str, object]]) -> list[object]:
            return [o["metadata"]["name"] for o in objects]  # type: ignore[index]

        everything = await cache.list(GADGET_GVK)
        assert names(everything) == ["a", "c", "b"]  # key order: default/a, default/c, x/b
        assert names(await cache.list(GADGET_GVK, namespace="x")) == ["b"]
        demo = LabelSelector.parse("app=demo")
        assert names(await cache.list(GADGET_GVK, label_selector=demo)) == ["a", "b"]
        by_name = FieldSelector.parse("metadata.name=c")
        assert names(await cache.list(GADGET_GVK, field_selector=by_name)) == ["c"]
        assert names(await cache.list_by_index(GADGET_GVK, "app", "other")) == ["c"]
        assert names(await cache.list_by_index(GADGET_GVK, "namespace", "x")) == ["b"]
        models = await cache.list(Gadget, namespace="default")
        assert [m.metadata.name for m in models] == ["a", "c"]


async def test_scoped_kind_reads_only_what_its_scope_holds() -> None:
    async with running() as (_, client, registry):
        by_kind = {GADGET_GVK: Scope(label_selector=LabelSelector.parse("app=demo"))}
        async with caching(client, registry, by_kind=by_kind) as cache:
            await client.create(gadget("in"))
            await client.create(
                {**gadget("out"), "metadata": {"name": "out", "namespace": "default"}}
            )
            assert [o["metadata"]["name"] for o in await cache.list(GADGET_GVK)] == ["in"]


async def test_read_your_own_writes_waits_for_the_written_version() -> None:
    async with running() as (_, client, registry), caching(client, registry) as cache:
        created = await client.create(gadget("a", size=1))
        cache.wrote(created)
        assert (await cache.get(GADGET_GVK, "a", namespace="default"))["metadata"][
            "resourceVersion"
        ] == created["metadata"]["resourceVersion"]
        for size in range(2, 12):
            written = await client.patch(GADGET, "a", {"spec": {"size": size}}, namespace="default")
            cache.wrote(written)
            read = await cache.get(GADGET_GVK, "a", namespace="default")
            assert read["spec"]["size"] == size
            listed = await cache.list(GADGET_GVK)
            assert listed[0]["spec"]["size"] == size
        await client.delete(GADGET, "a", namespace="default")
        cache.deleted(GADGET_GVK, "a", namespace="default")
        with pytest.raises(NotFound):
            await cache.get(GADGET_GVK, "a", namespace="default")
        assert counter(registry, FALLBACKS, kind=str(GADGET_GVK)) == 0


async def test_read_your_own_writes_falls_back_to_the_api_after_the_timeout() -> None:
    clock = FakeClock()
    async with (
        running() as (_env, client, registry),
        caching(client, registry, clock=clock) as cache,
    ):
        created = await client.create(gadget("a", size=1))
        async with asyncio.timeout(10):
            await cache.informer(GADGET_GVK).wait_for_sync()
        # A write the cache will not see for a while: a resourceVersion ahead of the server.
        ahead = {**created, "metadata": {**created["metadata"], "resourceVersion": "999999"}}
        cache.wrote(ahead)
        read = asyncio.create_task(cache.get(GADGET_GVK, "a", namespace="default"))
        await asyncio.sleep(0.05)
        clock.advance(4.9)
        await asyncio.sleep(0.05)
        assert not read.done()
        clock.advance(0.1)
        async with asyncio.timeout(10):
            result = await read
        assert result["metadata"]["name"] == "a"
        assert counter(registry, FALLBACKS, kind=str(GADGET_GVK)) == 1


async def test_missing_crd_does_not_block_sync_and_appears_later() -> None:
    clock = FakeClock()
    async with (
        running(install_crd=False) as (env, client, registry),
        caching(client, registry, clock=clock) as cache,
    ):
        cache.informer(GADGET_GVK)
        cache.informer(CONFIGMAP)
        async with asyncio.timeout(10):
            await cache.wait_for_sync()
        assert cache.informer(CONFIGMAP).has_synced
        assert await cache.list(CONFIGMAP) == []
        with pytest.raises(NoKindMatch):
            await cache.get(GADGET_GVK, "a", namespace="default")
        await env.install_crds([gadget_crd()])
        await client.create(gadget("a"))
        clock.advance(10.0)
        async with asyncio.timeout(10):
            await cache.informer(GADGET_GVK).wait_for_sync()
        assert (await cache.get(GADGET_GVK, "a", namespace="default"))["spec"] == {}


async def test_reads_need_a_started_cache() -> None:
    async with running() as (_, client, registry):
        cache = Cache(client, registry=registry)
        with pytest.raises(RuntimeError):
            await cache.get(GADGET_GVK, "a", namespace="default")


async def test_caches_share_a_registry() -> None:
    async with (
        running() as (_, client, registry),
        caching(client, registry) as first,
        caching(client, registry) as second,
    ):
        await client.create(gadget("a"))
        assert (await first.get(GADGET_GVK, "a", namespace="default"))["spec"] == {}
        assert (await second.get(GADGET_GVK, "a", namespace="default"))["spec"] == {}
