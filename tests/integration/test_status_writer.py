"""StatusWriter against the embedded API server: only changed fields are sent, another
writer's `atProvider` survives, list diffs are locked and conflicts re-run the mutation, no
request for an empty diff, restore on failure, PUT as the clobbering choice, and many random
interleavings of concurrent writers."""

from __future__ import annotations

import asyncio
import copy
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry
from test_informer_support import GADGET, Gadget, counter, gadget, running

from framework.client import Client
from framework.errors import Conflict, NotFound
from framework.status import StatusWriter

JSON = dict[str, Any]


def requests(registry: CollectorRegistry, method: str) -> float:
    return sum(
        counter(registry, "rest_client_requests_total", code=code, method=method)
        for code in ("200", "409", "404")
    )


async def provider_writes(client: Client, name: str, value: JSON) -> None:
    """Another actor (say a Terraform provider) writes its own subtree of the status."""
    patch = {"status": {"workspaceStatus": {"atProvider": value}}}
    await client.patch(GADGET, name, patch, namespace="default", subresource="status")


async def stored(client: Client, name: str) -> JSON:
    return await client.get(GADGET, name, namespace="default")


def set_phase(phase: str) -> Any:
    def mutate(obj: JSON) -> None:
        obj.setdefault("status", {})["phase"] = phase

    return mutate


async def test_only_changed_fields_are_sent_so_another_writers_subtree_survives() -> None:
    async with running() as (_, client, _registry):
        await client.create(gadget("a"))
        await provider_writes(client, "a", {"id": "ws-1", "state": "creating"})
        stale = await stored(client, "a")
        await provider_writes(client, "a", {"id": "ws-1", "state": "ready"})
        writer = StatusWriter(client)
        assert await writer.patch_status(stale, set_phase("Running"))
        status = (await stored(client, "a"))["status"]
        assert status == {
            "phase": "Running",
            "workspaceStatus": {"atProvider": {"id": "ws-1", "state": "ready"}},
        }
        assert stale["status"] == status  # the caller's object holds the server's answer
        assert (
            stale["metadata"]["resourceVersion"]
            == (await stored(client, "a"))["metadata"]["resourceVersion"]
        )


async def test_provider_value_absent_in_the_source_is_not_written_as_null() -> None:
    async with running() as (_, client, _registry):
        obj = await client.create(gadget("a"))
        await provider_writes(client, "a", {"id": "ws-1"})
        source: JSON = {}  # the provider's data is momentarily missing from what we copy from

        def mirror(target: JSON) -> None:
            status = target.setdefault("status", {})
            status["phase"] = "Creating"
            if "atProvider" in source:
                status.setdefault("workspaceStatus", {})["atProvider"] = source["atProvider"]

        await StatusWriter(client).patch_status(obj, mirror)
        assert (await stored(client, "a"))["status"]["workspaceStatus"] == {
            "atProvider": {"id": "ws-1"}
        }


async def test_no_request_for_an_empty_diff() -> None:
    async with running() as (_, client, registry):
        obj = await client.create(gadget("a"))
        writer = StatusWriter(client)
        await writer.patch_status(obj, set_phase("Running"))
        before = requests(registry, "PATCH")
        assert not await writer.patch_status(obj, set_phase("Running"))
        assert not await writer.patch_status(obj, lambda o: None)
        bare = await client.create(gadget("b"))
        assert not await writer.patch_status(bare, lambda o: o.setdefault("status", {}))
        assert requests(registry, "PATCH") == before == 1


async def test_conditions_are_locked_and_conflicts_rerun_the_mutation() -> None:
    async with running() as (_, client, registry):
        created = await client.create(gadget("a"))
        first, second = copy.deepcopy(created), copy.deepcopy(created)
        calls: list[str] = []

        def add_condition(kind: str) -> Any:
            def mutate(obj: JSON) -> None:
                calls.append(kind)
                conditions = obj.setdefault("status", {}).setdefault("conditions", [])
                conditions[:] = [c for c in conditions if c["type"] != kind]
                conditions.append({"type": kind, "status": "True"})

            return mutate

        writer = StatusWriter(client)
        await writer.patch_status(first, add_condition("Ready"))
        await writer.patch_status(second, add_condition("Synced"))  # stale: 409, then re-run
        conditions = (await stored(client, "a"))["status"]["conditions"]
        assert {c["type"] for c in conditions} == {"Ready", "Synced"}
        assert calls == ["Ready", "Synced", "Synced"]
        assert counter(registry, "rest_client_requests_total", code="409", method="PATCH") == 1


async def test_requested_lock_conflicts_on_a_stale_object_even_without_lists() -> None:
    async with running() as (_, client, registry):
        stale = await client.create(gadget("a"))
        await provider_writes(client, "a", {"id": "ws-1"})
        await StatusWriter(client).patch_status(stale, set_phase("Running"), optimistic_lock=True)
        assert counter(registry, "rest_client_requests_total", code="409", method="PATCH") == 1
        assert (await stored(client, "a"))["status"]["phase"] == "Running"


async def test_final_failure_restores_the_in_memory_status() -> None:
    async with running() as (_, client, _registry):
        obj = await client.create(gadget("a"))
        writer = StatusWriter(client)
        await writer.patch_status(obj, set_phase("Pending"))
        stale = copy.deepcopy(obj)
        await provider_writes(client, "a", {"id": "ws-1"})
        one_try = StatusWriter(client, attempts=1)
        with pytest.raises(Conflict):
            await one_try.patch_status(stale, set_phase("Running"), optimistic_lock=True)
        assert stale["status"] == {"phase": "Pending"}

        model = await client.get(Gadget, "a", namespace="default")
        await client.delete(GADGET, "a", namespace="default")
        with pytest.raises(NotFound):
            await writer.patch_status(model, lambda m: m.status.update(phase="Gone"))
        assert model.status is not None
        assert model.status["phase"] == "Pending"


async def test_models_are_written_and_refreshed_in_place() -> None:
    async with running() as (_, client, _registry):
        await client.create(gadget("a"))
        model = await client.get(Gadget, "a", namespace="default")

        def mutate(obj: Gadget) -> None:
            obj.status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}

        seen: list[JSON] = []

        class Observer:
            def wrote(self, obj: Any) -> None:
                seen.append(obj)

        assert await StatusWriter(client, observer=Observer()).patch_status(model, mutate)
        assert model.status == (await stored(client, "a"))["status"]
        assert seen[0]["metadata"]["resourceVersion"] == model.metadata.resource_version


async def test_update_status_is_the_clobbering_choice() -> None:
    async with running() as (_, client, _registry):
        obj = await client.create(gadget("a"))
        obj = await client.get(GADGET, "a", namespace="default")
        await StatusWriter(client).patch_status(obj, set_phase("Pending"))
        obj["status"] = {"phase": "Running"}
        await provider_writes(client, "a", {"id": "ws-1"})
        with pytest.raises(Conflict):  # PUT is locked by the (now stale) resourceVersion
            await StatusWriter(client).update_status(obj)
        fresh = await stored(client, "a")
        fresh["status"]["phase"] = "Running"
        fresh["status"].pop("workspaceStatus")
        await StatusWriter(client).update_status(fresh)
        assert (await stored(client, "a"))["status"] == {"phase": "Running"}


@settings(max_examples=15)
@given(
    seed=st.integers(0, 2**32 - 1),
    controller_rounds=st.integers(1, 6),
    provider_rounds=st.integers(1, 6),
)
async def test_concurrent_writers_never_lose_each_others_fields(
    seed: int, controller_rounds: int, provider_rounds: int
) -> None:
    rng = random.Random(seed)
    async with running() as (_, client, _registry):
        await client.create(gadget("a"))
        await provider_writes(client, "a", {"serial": "initial"})
        created = await stored(client, "a")
        writer = StatusWriter(client, attempts=20)
        types = [f"C{i}" for i in range(controller_rounds)]
        conditioned: list[str] = []

        async def controller(kind: str) -> None:
            await asyncio.sleep(rng.random() * 0.02)
            obj = copy.deepcopy(created)  # always stale: conflicts must be resolved by re-running
            with_condition = rng.random() < 0.5

            def mutate(target: JSON) -> None:
                status = target.setdefault("status", {})
                status["phase"] = kind
                if not with_condition:
                    return
                conditions = status.setdefault("conditions", [])
                conditions[:] = [c for c in conditions if c["type"] != kind]
                conditions.append({"type": kind, "status": "True"})

            if with_condition:
                conditioned.append(kind)
            await writer.patch_status(obj, mutate)

        async def provider() -> None:
            for round_ in range(provider_rounds):
                await asyncio.sleep(rng.random() * 0.02 / provider_rounds)
                await provider_writes(client, "a", {"serial": round_})

        await asyncio.gather(*(controller(kind) for kind in types), provider())
        status = (await stored(client, "a"))["status"]
        assert status["workspaceStatus"] == {"atProvider": {"serial": provider_rounds - 1}}
        got = sorted(c["type"] for c in status.get("conditions", []))
        assert got == sorted(conditioned)
        assert status["phase"] in types
