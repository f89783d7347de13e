"""Random writes interleaved with faults (dropped watches; writes past the event window while
no watch is open, so the resume gets 410; silent watches past the inactivity timeout; a server
restart) never leave the informer's store or its handlers' view different from the server, and
handlers never see a version twice or go back."""

from __future__ import annotations

import asyncio
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from test_informer_support import GADGET, eventually, gadget, running, server_objects, server_write

from framework.client import Client
from framework.clock import FakeClock
from framework.envtest import Environment
from framework.errors import AlreadyExists, NotFound
from framework.informer import EventHandler, Informer

NAMES = [f"g{i}" for i in range(5)]

operations = st.one_of(
    st.tuples(st.sampled_from(["create", "update", "delete"]), st.sampled_from(NAMES)),
    st.tuples(st.sampled_from(["drop", "compact", "tick", "restart"]), st.just("")),
)


class LevelMirror:
    """Mirrors the server through handler calls; records any version seen twice or older."""

    def __init__(self) -> None:
        self.objects: dict[str, str] = {}
        self.violations: list[str] = []

    def handler(self) -> EventHandler:
        return EventHandler(
            on_add=lambda obj, _: self._seen(obj, "add"),
            on_update=lambda _, obj: self._seen(obj, "update"),
            on_delete=lambda obj, _: self.objects.pop(self._key(obj), None),
        )

    @staticmethod
    def _key(obj: dict[str, Any]) -> str:
        return f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"

    def _seen(self, obj: dict[str, Any], how: str) -> None:
        key, version = self._key(obj), obj["metadata"]["resourceVersion"]
        previous = self.objects.get(key)
        if previous is not None and int(version) <= int(previous):
            self.violations.append(f"{how} {key} at {version} after {previous}")
        if previous is None and how == "update":
            self.violations.append(f"update of unknown {key}")
        self.objects[key] = version


async def write(env: Environment, client: Client, verb: str, name: str, size: int) -> None:
    try:
        if verb == "create":
            await client.create(gadget(name, size=size))
        elif verb == "update":
            await client.patch(GADGET, name, {"spec": {"size": size}}, namespace="default")
        else:
            await client.delete(GADGET, name, namespace="default")
    except (AlreadyExists, NotFound):
        pass


async def fault(env: Environment, clock: FakeClock, verb: str) -> None:
    if verb == "drop":
        env.store.close()
    elif verb == "compact":
        env.store.close()
        for _ in range(5):
            server_write(env, "create", "filler")
            server_write(env, "delete", "filler")
    elif verb == "tick":  # ends backoffs; two in a row make the watch inactive
        clock.advance(35.0)
    elif verb == "restart":
        await env.stop()
        await env.start()
    await asyncio.sleep(0.01)


@settings(max_examples=20)
@given(steps=st.lists(operations, max_size=30))
async def test_store_and_handlers_converge_to_the_server(steps: list[tuple[str, str]]) -> None:
    clock = FakeClock()
    async with running(event_window=4) as (env, client, registry):
        mirror = LevelMirror()
        informer = Informer(client, GADGET, registry=registry, clock=clock)
        informer.add_handler(mirror.handler())
        informer.start()
        try:
            async with asyncio.timeout(10):
                await informer.wait_for_sync()
            restarted = False
            for size, (verb, name) in enumerate(steps):
                if name:
                    await write(env, client, verb, name, size)
                elif verb != "restart" or not restarted:  # a restart costs a second: one at most
                    restarted = restarted or verb == "restart"
                    await fault(env, clock, verb)

            def converged() -> bool:
                clock.advance(35.0)  # past any backoff
                stored = {
                    key: obj["metadata"]["resourceVersion"]
                    for key in informer.store
                    if (obj := informer.store.get(key))
                }
                return stored == server_objects(env) == mirror.objects

            await eventually(converged)
            assert mirror.violations == []
        finally:
            await informer.stop()
