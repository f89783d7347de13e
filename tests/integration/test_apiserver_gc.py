"""Garbage collection in the embedded API server: ownerReferences, propagation policies,
deletecollection, over raw HTTP (bounded waits for the collector's background work)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from test_apiserver_support import WIDGETS, Http, widget

from framework.envtest import Environment

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
NODES = "/api/v1/nodes"


def owned_by(*owners: dict[str, Any], block: bool = False) -> list[dict[str, Any]]:
    refs = []
    for owner in owners:
        ref = {
            "apiVersion": owner["apiVersion"],
            "kind": owner["kind"],
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
        }
        if block:
            ref["blockOwnerDeletion"] = True
        refs.append(ref)
    return refs


async def make(
    http: Http,
    name: str,
    *owners: dict[str, Any],
    block: bool = False,
    path: str = CONFIGMAPS,
    **meta: Any,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, **meta}
    if owners:
        metadata["ownerReferences"] = owned_by(*owners, block=block)
    reply = await http.post(path, {"metadata": metadata})
    assert reply.status == 201, reply.body
    body: dict[str, Any] = reply.body
    return body


async def until(check: Callable[[], Any], what: str) -> None:
    """Wait (bounded, 10 s) until the async `check()` is true."""
    for _ in range(200):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting until {what}")


async def until_gone(http: Http, *paths: str) -> None:
    async def gone() -> bool:
        return all([(await http.get(p)).status == 404 for p in paths])

    await until(gone, f"{paths} are gone")


def deleting(http: Http, path: str) -> Callable[[], Any]:
    async def check() -> bool:
        return "deletionTimestamp" in (await http.get(path)).body["metadata"]

    return check


async def test_background_deletion_collects_a_chain(http: Http) -> None:
    owner = await make(http, "owner")
    child = await make(http, "child", owner)
    await make(http, "grandchild", child)
    await make(http, "bystander")
    reply = await http.delete(f"{CONFIGMAPS}/owner")
    assert reply.status == 200
    await until_gone(http, f"{CONFIGMAPS}/child", f"{CONFIGMAPS}/grandchild")
    assert (await http.get(f"{CONFIGMAPS}/bystander")).status == 200


async def test_a_dependent_whose_owner_is_already_gone_is_collected(http: Http) -> None:
    ghost = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ghost", "uid": "00000000-0000-0000-0000-000000000000"},
    }
    await make(http, "orphaned", ghost)
    await until_gone(http, f"{CONFIGMAPS}/orphaned")


async def test_a_solid_owner_keeps_the_dependent(http: Http) -> None:
    first = await make(http, "first")
    second = await make(http, "second")
    await make(http, "shared", first, second)
    await http.delete(f"{CONFIGMAPS}/first")

    async def one_owner_left() -> bool:
        refs = (await http.get(f"{CONFIGMAPS}/shared")).body["metadata"]["ownerReferences"]
        return bool([r["name"] for r in refs] == ["second"])

    await until(one_owner_left, "the reference to the deleted owner is removed")
    await http.delete(f"{CONFIGMAPS}/second")
    await until_gone(http, f"{CONFIGMAPS}/shared")


async def test_orphan_policy_removes_owner_references(http: Http) -> None:
    owner = await make(http, "owner")
    await make(http, "child", owner)
    reply = await http.delete(f"{CONFIGMAPS}/owner", {"propagationPolicy": "Orphan"})
    assert reply.status == 200
    assert reply.body["metadata"]["finalizers"] == ["orphan"]
    await until_gone(http, f"{CONFIGMAPS}/owner")
    child = (await http.get(f"{CONFIGMAPS}/child")).body
    assert "ownerReferences" not in child["metadata"]


async def test_an_orphan_finalizer_on_the_owner_orphans_by_default(http: Http) -> None:
    owner = await make(http, "owner", finalizers=["orphan"])
    await make(http, "child", owner)
    await http.delete(f"{CONFIGMAPS}/owner")
    await until_gone(http, f"{CONFIGMAPS}/owner")
    assert (await http.get(f"{CONFIGMAPS}/child")).status == 200


async def test_foreground_deletion_waits_for_blocking_dependents(http: Http) -> None:
    owner = await make(http, "owner")
    await make(http, "held", owner, block=True, finalizers=["example.com/hold"])
    await make(http, "loose", owner)
    reply = await http.delete(f"{CONFIGMAPS}/owner", {"propagationPolicy": "Foreground"})
    assert reply.status == 200
    assert "foregroundDeletion" in reply.body["metadata"]["finalizers"]
    assert reply.body["metadata"]["deletionTimestamp"]
    await until(deleting(http, f"{CONFIGMAPS}/held"), "the blocking dependent is being deleted")
    assert (await http.get(f"{CONFIGMAPS}/owner")).status == 200
    await http.patch(f"{CONFIGMAPS}/held", {"metadata": {"finalizers": None}})
    await until_gone(http, f"{CONFIGMAPS}/held", f"{CONFIGMAPS}/owner", f"{CONFIGMAPS}/loose")


async def test_a_dependent_letting_go_releases_a_foreground_owner(http: Http) -> None:
    owner = await make(http, "owner")
    other = await make(http, "other")
    await make(http, "held", owner, other, block=True)
    await http.delete(f"{CONFIGMAPS}/owner", {"propagationPolicy": "Foreground"})
    await until_gone(http, f"{CONFIGMAPS}/owner")
    # held has another owner: it loses the reference to the deleted one and stays
    refs = (await http.get(f"{CONFIGMAPS}/held")).body["metadata"]["ownerReferences"]
    assert [r["name"] for r in refs] == ["other"]


async def test_removing_the_blocking_reference_releases_a_foreground_owner(http: Http) -> None:
    owner = await make(http, "owner")
    await make(http, "held", owner, block=True, finalizers=["example.com/hold"])
    await http.delete(f"{CONFIGMAPS}/owner", {"propagationPolicy": "Foreground"})
    await until(deleting(http, f"{CONFIGMAPS}/held"), "the blocking dependent is being deleted")
    await http.patch(f"{CONFIGMAPS}/held", {"metadata": {"ownerReferences": None}})
    await until_gone(http, f"{CONFIGMAPS}/owner")
    assert (await http.get(f"{CONFIGMAPS}/held")).status == 200


async def test_foreground_deletion_goes_down_a_chain(http: Http) -> None:
    owner = await make(http, "owner")
    child = await make(http, "child", owner, block=True)
    await make(http, "grandchild", child, block=True, finalizers=["example.com/hold"])
    await http.delete(f"{CONFIGMAPS}/owner", {"propagationPolicy": "Foreground"})

    async def child_waits() -> bool:
        meta = (await http.get(f"{CONFIGMAPS}/child")).body["metadata"]
        return "foregroundDeletion" in meta.get("finalizers", [])

    await until(child_waits, "the child is deleted in the foreground too")
    await http.patch(f"{CONFIGMAPS}/grandchild", {"metadata": {"finalizers": None}})
    await until_gone(http, f"{CONFIGMAPS}/owner", f"{CONFIGMAPS}/child")


async def test_scopes_cluster_owner_of_namespaced_and_never_the_reverse(http: Http) -> None:
    node = await make(http, "node", path=NODES)
    config = await make(http, "config")
    await make(http, "of-node", node)
    # a cluster-scoped object cannot be owned by a namespaced one: the owner counts as absent
    await make(http, "bad", config, path=NODES)
    await until_gone(http, f"{NODES}/bad")
    assert (await http.get(f"{CONFIGMAPS}/of-node")).status == 200
    await http.delete(f"{NODES}/node")
    await until_gone(http, f"{CONFIGMAPS}/of-node")


async def test_custom_resource_owners_and_their_crd_deletion(
    crd_env: Environment, http: Http
) -> None:
    first = (await http.post(WIDGETS, widget("first"))).body
    second = (await http.post(WIDGETS, widget("second"))).body
    await make(http, "of-first", first)
    await make(http, "of-second", second)
    await http.delete(f"{WIDGETS}/first")
    await until_gone(http, f"{CONFIGMAPS}/of-first")
    assert (await http.get(f"{CONFIGMAPS}/of-second")).status == 200
    crd = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
    await http.delete(crd)
    await until_gone(http, f"{CONFIGMAPS}/of-second")


async def test_delete_collection_cascades(http: Http) -> None:
    owners = [await make(http, f"owner-{i}", labels={"tier": "top"}) for i in range(3)]
    for i, owner in enumerate(owners):
        await make(http, f"child-{i}", owner)
    reply = await http.delete(CONFIGMAPS, params={"labelSelector": "tier=top"})
    assert reply.status == 200
    await until_gone(http, *(f"{CONFIGMAPS}/child-{i}" for i in range(3)))


async def test_invalid_propagation_policy_is_refused(http: Http) -> None:
    await make(http, "owner")
    reply = await http.delete(f"{CONFIGMAPS}/owner", {"propagationPolicy": "Sideways"})
    assert reply.status == 400
    assert (await http.get(f"{CONFIGMAPS}/owner")).status == 200


async def test_collection_reacts_to_deletion_without_polling(env: Environment, http: Http) -> None:
    owner = await make(http, "owner")
    await make(http, "child", owner)
    await until(_idle(env), "the collector is idle")
    assert (await http.get(f"{CONFIGMAPS}/child")).status == 200
    await http.delete(f"{CONFIGMAPS}/owner")
    await until_gone(http, f"{CONFIGMAPS}/child")
    await until(_idle(env), "the collector is idle again")


async def test_a_write_keeping_the_owner_references_gives_the_collector_no_work(
    env: Environment, http: Http
) -> None:
    owner = await make(http, "owner")
    second = await make(http, "second")
    child = await make(http, "child", owner)
    await until(_idle(env), "the collector is idle")
    rest = env.server.rest
    configmaps = rest.catalog.lookup("", "v1", "configmaps")
    assert configmaps is not None
    # called on the loop without yielding: what the write queued is still queued after it
    written = rest.update(configmaps, "default", "child", {**child, "data": {"k": "v"}})
    assert not rest.gc.busy
    meta = {**written.stored.obj["metadata"], "ownerReferences": owned_by(owner, second)}
    rest.update(configmaps, "default", "child", {**written.stored.obj, "metadata": meta})
    assert rest.gc.busy  # new references: their owners are looked up
    await until(_idle(env), "the collector is idle again")
    assert (await http.get(f"{CONFIGMAPS}/child")).status == 200


def _idle(env: Environment) -> Callable[[], Any]:
    async def idle() -> bool:
        return not env.server.rest.gc.busy

    return idle
