"""Dry run (`dryRun=All`): every write is validated and answered as if done, and nothing is
stored: no resourceVersion consumed, no watch event, no garbage collection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_apiserver_support import WIDGETS, Http, widget, widget_crd

from framework.envtest import Environment

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
DRY = {"dryRun": "All"}


class Unchanged:
    """Asserts on exit that the store's resourceVersion did not move and that a watch of
    every resource saw no event."""

    def __init__(self, env: Environment, *resources: str) -> None:
        self.env = env
        self.resources = resources or ("configmaps",)

    async def __aenter__(self) -> None:
        store = self.env.store
        self.rv = store.resource_version
        self.watchers = [store.watch(r, None, self.rv, 100) for r in self.resources]

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.sleep(0.05)  # let any (wrongly) started background work run
        try:
            assert self.env.store.resource_version == self.rv
            for watcher in self.watchers:
                assert watcher.initial == []
                assert watcher.next_nowait() is False
        finally:
            for watcher in self.watchers:
                watcher.close()


@pytest.fixture
async def existing(http: Http) -> dict[str, Any]:
    reply = await http.post(
        CONFIGMAPS, {"metadata": {"name": "cm", "labels": {"a": "b"}}, "data": {"k": "v"}}
    )
    body: dict[str, Any] = reply.body
    return body


async def test_create(env: Environment, http: Http) -> None:
    async with Unchanged(env):
        reply = await http.post(CONFIGMAPS, {"metadata": {"name": "new"}}, params=DRY)
    assert reply.status == 201
    assert reply.body["metadata"]["name"] == "new"
    assert reply.body["metadata"]["uid"]
    assert "resourceVersion" not in reply.body["metadata"]
    assert (await http.get(f"{CONFIGMAPS}/new")).status == 404


async def test_create_still_validates(env: Environment, http: Http, existing: Any) -> None:
    async with Unchanged(env):
        invalid = await http.post(CONFIGMAPS, {"metadata": {"name": "Bad_Name"}}, params=DRY)
        taken = await http.post(CONFIGMAPS, {"metadata": {"name": "cm"}}, params=DRY)
    assert invalid.status == 422
    assert taken.status == 409


async def test_update(env: Environment, http: Http, existing: dict[str, Any]) -> None:
    body = {**existing, "data": {"k": "changed"}}
    async with Unchanged(env):
        reply = await http.put(f"{CONFIGMAPS}/cm", body, params=DRY)
    assert reply.status == 200
    assert reply.body["data"] == {"k": "changed"}
    assert reply.body["metadata"]["resourceVersion"] == existing["metadata"]["resourceVersion"]
    assert (await http.get(f"{CONFIGMAPS}/cm")).body["data"] == {"k": "v"}


@pytest.mark.parametrize(
    ("content_type", "patch"),
    [
        ("application/merge-patch+json", {"data": {"k": "patched"}}),
        ("application/strategic-merge-patch+json", {"data": {"k": "patched"}}),
        ("application/json-patch+json", [{"op": "replace", "path": "/data/k", "value": "patched"}]),
    ],
)
async def test_patch(
    env: Environment, http: Http, existing: Any, content_type: str, patch: Any
) -> None:
    async with Unchanged(env):
        reply = await http.patch(f"{CONFIGMAPS}/cm", patch, content_type, params=DRY)
    assert reply.status == 200
    assert reply.body["data"] == {"k": "patched"}
    assert (await http.get(f"{CONFIGMAPS}/cm")).body["data"] == {"k": "v"}


@pytest.mark.parametrize("in_body", [False, True])
async def test_delete(env: Environment, http: Http, existing: Any, in_body: bool) -> None:
    async with Unchanged(env):
        if in_body:
            reply = await http.delete(f"{CONFIGMAPS}/cm", {"dryRun": ["All"]})
        else:
            reply = await http.delete(f"{CONFIGMAPS}/cm", params=DRY)
    assert reply.status == 200
    assert (await http.get(f"{CONFIGMAPS}/cm")).status == 200


async def test_foreground_delete_answers_the_deleting_object(
    env: Environment, http: Http, existing: Any
) -> None:
    async with Unchanged(env):
        reply = await http.delete(
            f"{CONFIGMAPS}/cm", {"propagationPolicy": "Foreground"}, params=DRY
        )
    assert reply.body["metadata"]["finalizers"] == ["foregroundDeletion"]
    assert reply.body["metadata"]["deletionTimestamp"]
    assert "deletionTimestamp" not in (await http.get(f"{CONFIGMAPS}/cm")).body["metadata"]


async def test_delete_collection(env: Environment, http: Http, existing: Any) -> None:
    async with Unchanged(env):
        reply = await http.delete(CONFIGMAPS, params={**DRY, "labelSelector": "a=b"})
    assert reply.status == 200
    assert (await http.get(f"{CONFIGMAPS}/cm")).status == 200


async def test_deleting_an_owner_collects_nothing(env: Environment, http: Http) -> None:
    owner = (await http.post(CONFIGMAPS, {"metadata": {"name": "owner"}})).body
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": "owner"}
    ref["uid"] = owner["metadata"]["uid"]
    await http.post(CONFIGMAPS, {"metadata": {"name": "child", "ownerReferences": [ref]}})
    async with Unchanged(env):
        await http.delete(f"{CONFIGMAPS}/owner", params=DRY)
    assert (await http.get(f"{CONFIGMAPS}/child")).status == 200


async def test_custom_resources_and_their_status(crd_env: Environment, http: Http) -> None:
    created = (await http.post(WIDGETS, widget("w"))).body
    async with Unchanged(crd_env, "widgets.example.com"):
        new = await http.post(WIDGETS, widget("dry", size=3), params=DRY)
        status = await http.patch(
            f"{WIDGETS}/w/status", {"status": {"phase": "Running"}}, params=DRY
        )
        too_big = await http.post(WIDGETS, widget("big", size=99), params=DRY)
    assert new.status == 201
    assert new.body["spec"] == {"size": 3, "color": "red"}  # defaulted as a real create
    assert status.body["status"] == {"phase": "Running"}
    assert too_big.status == 422
    assert (await http.get(f"{WIDGETS}/w")).body == created


async def test_a_crd_created_dry_is_not_served(env: Environment, http: Http) -> None:
    crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    async with Unchanged(env, "customresourcedefinitions.apiextensions.k8s.io"):
        reply = await http.post(crds, widget_crd(), params=DRY)
    assert reply.status == 201
    assert (await http.get(WIDGETS)).status == 404


async def test_unknown_dry_run_values_are_refused(http: Http) -> None:
    reply = await http.post(CONFIGMAPS, {"metadata": {"name": "x"}}, params={"dryRun": "Some"})
    assert reply.status == 400
    assert "dryRun" in reply.body["message"]
    assert (await http.get(f"{CONFIGMAPS}/x")).status == 404
