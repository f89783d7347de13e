"""The informer's watch stream as it arrives off the wire: events split across reads, several
in one read, blank lines, and a last event without its newline."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import orjson

from framework.client import ObjectList
from framework.clock import FakeClock
from framework.informer import EventHandler, Informer
from framework.resources import GroupVersionKind, ResourceInfo

CONFIGMAP = ResourceInfo(
    gvk=GroupVersionKind("", "v1", "ConfigMap"),
    plural="configmaps",
    singular="configmap",
    namespaced=True,
)


def event(kind: str, name: str, rv: int) -> bytes:
    meta = {"name": name, "namespace": "ns", "resourceVersion": str(rv)}
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"x": "y" * 50}}
    return orjson.dumps({"type": kind, "object": obj})


class Content:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self.chunks:
            yield chunk

    def set_exception(self, error: BaseException) -> None:
        pass


class Response:
    def __init__(self, chunks: list[bytes]) -> None:
        self.content = Content(chunks)


class ScriptedWatchClient:
    """Lists nothing; the first watch delivers `chunks` then ends, later ones never end."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.watches = 0

    async def pages(self, kind: Any, **options: Any) -> AsyncIterator[ObjectList[Any]]:
        yield ObjectList(items=[], resource_version="1")

    @asynccontextmanager
    async def stream(self, method: str, path: str, **options: Any) -> AsyncIterator[Response]:
        self.watches += 1
        if self.watches > 1:
            await asyncio.Event().wait()
        yield Response(self.chunks)


async def test_events_are_parsed_across_and_within_reads() -> None:
    stream = b"".join(
        [event("ADDED", "a", 2), b"\n", event("ADDED", "b", 3), b"\n\n", event("MODIFIED", "a", 4)]
    )
    cut = [0, 7, 40, len(event("ADDED", "a", 2)) + 5, len(stream) - 3, len(stream)]
    chunks = [stream[start:end] for start, end in itertools.pairwise(cut)]
    client = ScriptedWatchClient(chunks)
    informer = Informer(client, CONFIGMAP, clock=FakeClock())  # type: ignore[arg-type]
    seen: list[tuple[str, str, str]] = []
    all_seen = asyncio.Event()

    def record(kind: str, name: str, old_version: str) -> None:
        seen.append((kind, name, old_version))
        if len(seen) == 3:
            all_seen.set()

    informer.add_handler(
        EventHandler(
            on_add=lambda obj, _: record("add", obj["metadata"]["name"], ""),
            on_update=lambda old, new: record(
                "update", new["metadata"]["name"], old["metadata"]["resourceVersion"]
            ),
        )
    )
    informer.start()
    try:
        async with asyncio.timeout(10):
            await all_seen.wait()
    finally:
        await informer.stop()
    assert seen == [("add", "a", ""), ("add", "b", ""), ("update", "a", "2")]
    assert informer.resource_version == "4"
    assert informer.store.get("ns/a") == orjson.loads(event("MODIFIED", "a", 4))["object"]


class ListingWatchClient(ScriptedWatchClient):
    """Lists `listed` at resourceVersion 1, then watches as `ScriptedWatchClient`."""

    def __init__(self, listed: list[Any], chunks: list[bytes]) -> None:
        super().__init__(chunks)
        self.listed = listed

    async def pages(self, kind: Any, **options: Any) -> AsyncIterator[ObjectList[Any]]:
        yield ObjectList(items=self.listed, resource_version="1")


def configmap(name: str, rv: int, **meta: Any) -> dict[str, Any]:
    metadata = {"name": name, "namespace": "ns", "resourceVersion": str(rv), **meta}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "é"}}


async def run_until(informer: Informer, done: asyncio.Event) -> None:
    informer.start()
    try:
        async with asyncio.timeout(10):
            await done.wait()
    finally:
        await informer.stop()


async def test_objects_are_stored_as_sent_only_when_the_line_shows_their_exact_span() -> None:
    # the object as a server may write it: an escape orjson would not write
    sent = orjson.dumps(configmap("a", 2)).replace("é".encode(), b"\\u00e9")
    managed = configmap("e", 6, managedFields=[{"manager": "m"}])
    lines = [
        b'{"type":"ADDED","object":' + sent + b"}",
        b'{"type": "ADDED", "object": ' + sent.replace(b'"a"', b'"b"') + b"}",
        b'{"type":"ADDED","object":' + sent.replace(b'"a"', b'"c"') + b',"more":1}',
        b'{"object":' + sent.replace(b'"a"', b'"d"') + b',"type":"ADDED"}',
        b'{"type":"ADDED","object":' + orjson.dumps(managed) + b"}",
    ]
    client = ScriptedWatchClient([b"\n".join(lines) + b"\n"])
    informer = Informer(client, CONFIGMAP, clock=FakeClock())  # type: ignore[arg-type]
    added: list[str] = []
    all_added = asyncio.Event()

    def on_add(obj: Any, _: bool) -> None:
        added.append(obj["metadata"]["name"])
        if len(added) == len(lines):
            all_added.set()

    informer.add_handler(EventHandler(on_add=on_add))
    await run_until(informer, all_added)
    store = informer.store
    assert store.raw("ns/a") == sent
    for name in "bcd":
        expected = configmap(name, 2)
        assert store.raw(f"ns/{name}") == orjson.dumps(expected)
        assert store.get(f"ns/{name}") == expected
    assert store.get("ns/e") == configmap("e", 6)  # the transform dropped the managed fields


async def test_handlers_get_their_own_copies_and_an_object_written_another_way_is_no_update() -> (
    None
):
    same = orjson.dumps(configmap("a", 2)).replace("é".encode(), b"\\u00e9")
    lines = [
        b'{"type":"MODIFIED","object":' + same + b"}",
        b'{"type":"MODIFIED","object":' + orjson.dumps(configmap("a", 3)) + b"}",
    ]
    client = ListingWatchClient([configmap("a", 2)], [b"\n".join(lines) + b"\n"])
    informer = Informer(client, CONFIGMAP, clock=FakeClock())  # type: ignore[arg-type]
    updates: list[list[tuple[str, str, str, str]]] = [[], []]
    both_updated = asyncio.Event()

    def on_update(seen: list[tuple[str, str, str, str]], old: Any, new: Any) -> None:
        versions = old["metadata"]["resourceVersion"], new["metadata"]["resourceVersion"]
        seen.append((*versions, old["data"]["k"], new["data"]["k"]))
        old["data"]["k"] = new["data"]["k"] = "mutated"
        if all(updates):
            both_updated.set()

    for seen in updates:
        informer.add_handler(EventHandler(on_update=partial(on_update, seen)))
    await run_until(informer, both_updated)
    assert updates == [[("2", "3", "é", "é")], [("2", "3", "é", "é")]]
    assert informer.store.get("ns/a") == configmap("a", 3)
