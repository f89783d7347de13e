"""The cache's default namespaces (controller-runtime's DefaultNamespaces) against the embedded
API server: with namespaces a and b, reads, indexes and handlers of a namespaced kind see a and
b only (one informer each, merged), reads of another namespace raise NamespaceNotCached, an
explicit scope outside the set is a ValueError, cluster-scoped kinds stay cluster-wide, and a
manager given the namespaces (as ManagerOptions or `manager run --namespace`) reconciles only
there, and `manager local` creates only the samples in them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry
from test_cli import GADGETS, _environ, interrupted, line_starting, manager, until_json
from test_informer_support import GADGET, GADGET_GVK, eventually, gadget, gadget_crd, running
from test_manager_support import gadget_reconciler, get_json, managed

from framework.cache import Cache, MultiNamespaceInformer, NamespaceNotCached, Scope
from framework.cli import _apply_manifests
from framework.client import Client
from framework.errors import NoKindMatch, NotFound
from framework.informer import EventHandler, Informer, InformerOptions, index_by_label
from framework.resources import GroupVersionKind

NODE = GroupVersionKind("", "v1", "Node")
WATCHED = ("a", "b")


@asynccontextmanager
async def namespaced_cache(
    client: Client, registry: CollectorRegistry, missing_kind_retry: float = 10.0
) -> AsyncIterator[Cache]:
    options = InformerOptions(missing_kind_retry=missing_kind_retry)
    cache = Cache(client, namespaces=WATCHED, options=options, registry=registry)
    await cache.start()
    try:
        yield cache
    finally:
        await cache.stop()


async def _make_namespaces(client: Client) -> None:
    for namespace in ("a", "b", "c"):
        await client.create(
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
        )


async def _create_in_each(client: Client, name: str, **spec: Any) -> None:
    """One gadget in each of c (first: a cache holding c would see it before the others), a, b."""
    for namespace in ("c", "a", "b"):
        await client.create(gadget(f"{name}-{namespace}", namespace, **spec))


def _names(objects: list[dict[str, Any]]) -> list[str]:
    return [obj["metadata"]["name"] for obj in objects]


async def test_reads_and_indexes_see_only_the_watched_namespaces() -> None:
    async with running() as (_, client, registry), namespaced_cache(client, registry) as cache:
        await _make_namespaces(client)
        await _create_in_each(client, "early")
        cache.add_indexers(GADGET, {"app": index_by_label("app")})
        assert _names(await cache.list(GADGET)) == ["early-a", "early-b"]
        assert _names(await cache.list(GADGET, namespace="b")) == ["early-b"]
        assert _names(await cache.list_by_index(GADGET, "app", "demo")) == ["early-a", "early-b"]
        got = await cache.get(GADGET, "early-a", namespace="a")
        assert got["metadata"]["namespace"] == "a"
        with pytest.raises(NotFound):
            await cache.get(GADGET, "early-b", namespace="a")
        with pytest.raises(NamespaceNotCached, match="holds only a, b"):
            await cache.get(GADGET, "early-c", namespace="c")
        with pytest.raises(NamespaceNotCached):
            await cache.list(GADGET, namespace="c")
        # read-your-own-writes still holds in a member namespace
        cache.wrote(await client.create(gadget("written", "b")))
        assert (await cache.get(GADGET, "written", namespace="b"))["metadata"]["name"] == "written"


async def test_one_informer_per_namespace_shared_with_explicit_scopes() -> None:
    async with running() as (_, client, registry), namespaced_cache(client, registry) as cache:
        group = cache.informer(GADGET)
        assert isinstance(group, MultiNamespaceInformer)
        assert group.namespaces == ["a", "b"]
        assert cache.informer(GADGET, Scope(namespace="a")) is group.members["a"]
        assert len(cache.informers()) == 2
        with pytest.raises(ValueError, match="'c'"):
            cache.informer(GADGET, Scope(namespace="c"))
        await cache.wait_for_sync()
        assert group.has_synced
        assert not group.waiting_for_kind


async def test_a_handler_gets_events_from_the_watched_namespaces_only() -> None:
    async with running() as (_, client, registry), namespaced_cache(client, registry) as cache:
        await _make_namespaces(client)
        seen: list[str] = []

        def on_add(obj: dict[str, Any], _: bool) -> None:
            seen.append(f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")

        await client.create(gadget("before", "c"))
        await client.create(gadget("before", "a"))
        cache.informer(GADGET).add_handler(EventHandler(on_add=on_add))
        await cache.wait_for_sync()
        await _create_in_each(client, "later")
        await eventually(lambda: {"a/later-a", "b/later-b"} <= set(seen))
        assert sorted(seen) == ["a/before", "a/later-a", "b/later-b"]


async def test_cluster_scoped_kinds_are_cached_cluster_wide() -> None:
    async with running() as (_, client, registry), namespaced_cache(client, registry) as cache:
        await client.create({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1"}})
        informer = cache.informer(NODE)
        assert type(informer) is Informer
        assert informer.options.namespace is None
        assert (await cache.get(NODE, "n1"))["metadata"]["name"] == "n1"


async def test_a_kind_unknown_until_its_crd_appears_is_scoped_then() -> None:
    async with (
        running(install_crd=False) as (env, client, registry),
        namespaced_cache(client, registry, missing_kind_retry=0.1) as cache,
    ):
        await _make_namespaces(client)
        group = cache.informer(GADGET_GVK)  # the client cannot tell its scope yet
        assert isinstance(group, MultiNamespaceInformer)
        assert group.waiting_for_kind
        assert not group.has_synced
        await group.wait_until_ready()  # a missing kind holds nobody up
        with pytest.raises(NoKindMatch):
            await cache.list(GADGET_GVK)
        await env.install_crds([gadget_crd()])
        await _create_in_each(client, "x")
        async with asyncio.timeout(30):
            await group.wait_for_sync()
        assert group.namespaces == ["a", "b"]
        await eventually(lambda: len(group.store) == 2)
        assert _names(await cache.list(GADGET_GVK)) == ["x-a", "x-b"]


async def test_a_manager_reconciles_only_in_its_namespaces() -> None:
    async with (
        running() as (_, client, _),
        managed(client, namespaces=WATCHED) as (manager, _),
    ):
        await _make_namespaces(client)
        await _create_in_each(client, "g")
        reconciler = gadget_reconciler(manager)
        await eventually(lambda: {"g-a", "g-b"} <= set(reconciler.finished))
        assert sorted(reconciler.finished) == ["g-a", "g-b"]


async def test_manager_run_takes_repeated_namespace_flags() -> None:
    async with running() as (env, client, _):
        await _make_namespaces(client)
        environ = _environ(
            KUBELOOP_KUBECONFIG=env.kubeconfig,
            KUBELOOP_METRICS_BIND_ADDRESS="127.0.0.1:0",
            KUBELOOP_HEALTH_PROBE_BIND_ADDRESS="0",
        )
        args = ("run", "--module", GADGETS, "--namespace", "a", "--namespace", "b")
        async with manager(*args, env=environ) as process:
            url = await line_starting(process, "status API: ")
            base = url.removesuffix("/controllers/statuses") + "/test.kubeloop.dev/gadgets"
            await until_json(url, lambda body: bool(body["controllers"]))
            await _create_in_each(client, "g")
            for namespace in WATCHED:
                await until_json(f"{base}/{namespace}/g-{namespace}/status")
            code, _ = await get_json(f"{base}/c/g-c/status")
            assert code == 404
            assert await interrupted(process) == 0


async def test_local_applies_only_the_samples_in_watched_namespaces(tmp_path: Path) -> None:
    samples = [gadget("in-default", "default"), gadget("in-a", "a")]
    samples[0]["metadata"].pop("namespace")  # goes to "default"
    (tmp_path / "gadgets.yaml").write_text(yaml.safe_dump_all(samples))
    async with running() as (_, client, _):
        await _make_namespaces(client)
        applied, created, skipped = await _apply_manifests(client, tmp_path, ["a", "b"])
        assert [str(s) for s in applied] == ["Gadget a/in-a"]
        assert [str(s) for s in skipped] == ["Gadget default/in-default"]
        assert created == 1
        assert _names((await client.list(GADGET)).items) == ["in-a"]
