"""The informer's watch stream as it arrives off the wire: events split across reads, several
in one read, blank lines, and a last event without its newline."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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
