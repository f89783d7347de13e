"""Finalizers and owner references against the embedded API server: test-guarded JSON patches,
lost races retried after a re-read (proved by the retry log), other controllers' finalizers
kept, real validation errors raised, and controller references the server stores."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from framework.client import Client
from framework.envtest import Environment
from framework.errors import Invalid
from framework.finalizers import (
    FinalizerRaceError,
    ensure_finalizer,
    has_finalizer,
    remove_finalizer,
)
from framework.models import KubeObject
from framework.ownership import get_controller_of, is_controlled_by, set_controller_reference
from framework.resources import GroupVersionKind, ResourceRegistry

CONFIG_MAP = GroupVersionKind("", "v1", "ConfigMap")
OURS, THEIRS, THIRD = "kubeloop.dev/cleanup", "other.io/protect", "third.io/hold"
RETRY_LOG = "finalizer list changed concurrently; re-read"


class ConfigMap(KubeObject):
    __resource__ = ResourceRegistry.with_builtins().get(CONFIG_MAP)
    data: dict[str, str] = {}


@pytest.fixture
async def kube(env: Environment) -> AsyncIterator[Client]:
    async with await Client.for_environment(env, registry=CollectorRegistry()) as client:
        yield client


async def config_map(kube: Client, name: str, finalizers: list[str] | None = None) -> Any:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if finalizers:
        meta["finalizers"] = finalizers
    return await kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta})


async def stored_finalizers(kube: Client, name: str) -> list[str]:
    stored = await kube.get(CONFIG_MAP, name, namespace="default")
    finalizers: list[str] = stored["metadata"].get("finalizers") or []
    return finalizers


async def test_add_then_remove_updates_the_object_in_place(kube: Client) -> None:
    obj = await config_map(kube, "a")
    version = obj["metadata"]["resourceVersion"]
    assert await ensure_finalizer(kube, obj, OURS)
    assert has_finalizer(obj, OURS)
    assert obj["metadata"]["resourceVersion"] != version
    assert await stored_finalizers(kube, "a") == [OURS]
    assert not await ensure_finalizer(kube, obj, OURS)  # already there: nothing sent

    assert await remove_finalizer(kube, obj, OURS)
    assert not has_finalizer(obj, OURS)
    assert await stored_finalizers(kube, "a") == []
    assert not await remove_finalizer(kube, obj, OURS)


async def test_kube_objects_are_updated_in_place(kube: Client) -> None:
    await config_map(kube, "m", [THEIRS])
    obj = await kube.get(ConfigMap, "m", namespace="default")
    version = obj.metadata.resource_version
    assert await ensure_finalizer(kube, obj, OURS)
    assert obj.metadata.finalizers == [THEIRS, OURS]
    assert obj.metadata.resource_version != version
    assert await remove_finalizer(kube, obj, OURS)
    assert obj.metadata.finalizers == [THEIRS]
    # A model cannot tell an empty list from an absent one; either way the next add works.
    assert await remove_finalizer(kube, obj, THEIRS)
    assert await ensure_finalizer(kube, obj, OURS)
    assert await stored_finalizers(kube, "m") == [OURS]


async def test_two_concurrent_writers_both_end_up_present(kube: Client) -> None:
    """Both start from the same stale copy: one patch's test must fail, be re-read and retried;
    then removing ours leaves theirs."""
    created = await config_map(kube, "b")
    ours, theirs = copy.deepcopy(created), copy.deepcopy(created)
    with capture_logs() as logs:
        added = await asyncio.gather(
            ensure_finalizer(kube, ours, OURS), ensure_finalizer(kube, theirs, THEIRS)
        )
    assert list(added) == [True, True]
    assert sorted(await stored_finalizers(kube, "b")) == sorted([OURS, THEIRS])
    retries = [log for log in logs if log["event"] == RETRY_LOG]
    assert len(retries) == 1
    assert retries[0]["expected"] is None

    assert await remove_finalizer(kube, ours, OURS)
    assert await stored_finalizers(kube, "b") == [THEIRS]


async def test_a_change_between_read_and_patch_is_retried(kube: Client) -> None:
    obj = await config_map(kube, "c", [THEIRS])
    stale = copy.deepcopy(obj)
    await kube.patch(
        CONFIG_MAP, "c", {"metadata": {"finalizers": [THEIRS, THIRD]}}, namespace="default"
    )
    with capture_logs() as logs:
        assert await ensure_finalizer(kube, stale, OURS)
    [retry] = [log for log in logs if log["event"] == RETRY_LOG]
    assert (retry["expected"], retry["found"], retry["attempt"]) == ([THEIRS], [THEIRS, THIRD], 1)
    assert await stored_finalizers(kube, "c") == [THEIRS, THIRD, OURS]

    await kube.patch(
        CONFIG_MAP, "c", {"metadata": {"finalizers": [THIRD, OURS]}}, namespace="default"
    )
    with capture_logs() as logs:
        assert await remove_finalizer(kube, stale, OURS)
    assert [log["event"] for log in logs] == [RETRY_LOG]
    assert await stored_finalizers(kube, "c") == [THIRD]


async def test_someone_else_did_it_first(kube: Client) -> None:
    """After the re-read the finalizer is already there: no second patch, False, obj fresh."""
    stale = await config_map(kube, "d")
    await kube.patch(CONFIG_MAP, "d", {"metadata": {"finalizers": [OURS]}}, namespace="default")
    assert not await ensure_finalizer(kube, stale, OURS)
    assert stale["metadata"]["finalizers"] == [OURS]


async def test_races_are_bounded(kube: Client) -> None:
    stale = await config_map(kube, "e")
    await kube.patch(CONFIG_MAP, "e", {"metadata": {"finalizers": [THEIRS]}}, namespace="default")
    with pytest.raises(FinalizerRaceError, match="1 attempts"):
        await ensure_finalizer(kube, stale, OURS, attempts=1)
    assert await stored_finalizers(kube, "e") == [THEIRS]


async def test_a_rejection_that_is_not_a_race_is_raised(kube: Client) -> None:
    """No new finalizer on an object being deleted: 422 with the list unchanged."""
    obj = await config_map(kube, "f", [THEIRS])
    await kube.delete(CONFIG_MAP, "f", namespace="default")
    obj = await kube.get(CONFIG_MAP, "f", namespace="default")
    with capture_logs() as logs, pytest.raises(Invalid, match="no new finalizers"):
        await ensure_finalizer(kube, obj, OURS)
    assert logs == []

    assert await remove_finalizer(kube, obj, THEIRS)  # the last one: the object goes
    assert not (await kube.list(CONFIG_MAP, namespace="default")).items


async def test_controller_references_are_accepted_by_the_server(kube: Client) -> None:
    owner = await config_map(kube, "owner")
    child: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "child", "namespace": "default"},
    }
    set_controller_reference(owner, child, resources=kube.resources)
    stored = await kube.create(child)
    assert is_controlled_by(stored, owner)
    controller = get_controller_of(stored)
    assert controller is not None
    assert (controller.kind, controller.name, controller.block_owner_deletion) == (
        "ConfigMap",
        "owner",
        True,
    )
