"""MemoryStorage and the watch plumbing on their own: resourceVersions, ordering, the event
window, replay, watcher closing and batching. (Pure; kept beside the server's other tests.)"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from framework.envtest.apiserver.storage import MemoryStorage, TooOld
from framework.envtest.apiserver.watch import ADDED, DELETED, MODIFIED


def obj(name: str, namespace: str = "default", **extra: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace}, **extra}


def test_one_counter_across_resources_and_ordering() -> None:
    storage = MemoryStorage()
    a = storage.create("configmaps", obj("b"))
    b = storage.create("secrets", obj("a"))
    c = storage.create("configmaps", obj("a", "other"))
    d = storage.create("configmaps", obj("a"))
    assert [a.rv, b.rv, c.rv, d.rv] == [1, 2, 3, 4]
    assert a.obj["metadata"]["resourceVersion"] == "1"
    names = [
        (s.obj["metadata"]["namespace"], s.obj["metadata"]["name"])
        for s in storage.list("configmaps", None)
    ]
    assert names == [("default", "a"), ("default", "b"), ("other", "a")]
    assert [s.rv for s in storage.list("configmaps", "default")] == [4, 1]
    assert [s.rv for s in storage.list("configmaps", None, after=("default", "b"))] == [3]
    assert storage.count("configmaps", "default") == 2
    assert storage.count("configmaps", None) == 3
    assert storage.list("nothing", None) == []
    with pytest.raises(KeyError):
        storage.create("configmaps", obj("a"))


def test_stored_bytes_match_the_object() -> None:
    storage = MemoryStorage()
    stored = storage.create("configmaps", obj("a", data={"k": "v"}))
    updated = storage.update("configmaps", obj("a", data={"k": "w"}))
    assert b'"k":"w"' in updated.raw
    assert b'"resourceVersion":"2"' in updated.raw
    assert storage.get("configmaps", "default", "a") is updated
    assert stored.rv == 1


def test_delete_publishes_the_last_state_at_a_new_version() -> None:
    storage = MemoryStorage()
    storage.create("configmaps", obj("a"))
    watcher = storage.watch("configmaps", None, 1, maxsize=10)
    final = obj("a", data={"last": "state"})
    deleted = storage.delete("configmaps", "default", "a", final)
    assert deleted.rv == 2
    assert deleted.obj["data"] == {"last": "state"}
    assert storage.get("configmaps", "default", "a") is None
    event = watcher.next_nowait()
    assert not isinstance(event, bool)
    assert event is not None
    assert (event.type, event.rv) == (DELETED, 2)


def test_window_replay_and_expiry() -> None:
    storage = MemoryStorage(event_window=3)
    storage.create("configmaps", obj("a"))  # rv 1
    storage.create("secrets", obj("s"))  # rv 2
    storage.update("configmaps", obj("a"))  # rv 3
    storage.create("configmaps", obj("b", "other"))  # rv 4
    assert storage.oldest_resource_version == 1
    replay = storage.watch("configmaps", None, 2, maxsize=10)
    assert [(e.type, e.rv) for e in replay.initial] == [(MODIFIED, 3), (ADDED, 4)]
    scoped = storage.watch("configmaps", "default", 1, maxsize=10)
    assert [e.rv for e in scoped.initial] == [3]
    with pytest.raises(TooOld) as too_old:
        storage.watch("configmaps", None, 0, maxsize=10)
    assert str(too_old.value) == "too old resource version: 0 (2)"
    current = storage.watch("configmaps", None, None, maxsize=10)
    assert [(e.type, e.rv) for e in current.initial] == [(ADDED, 3), (ADDED, 4)]


async def test_watchers_get_live_events_and_close_gracefully() -> None:
    storage = MemoryStorage()
    everything = storage.watch("configmaps", None, None, maxsize=10)
    default_only = storage.watch("configmaps", "default", None, maxsize=10)
    storage.create("configmaps", obj("a", "other"))
    storage.create("configmaps", obj("b"))
    storage.drop("configmaps")
    seen = []
    while (event := await everything.next()) is not None:
        seen.append((event.type, event.new.obj["metadata"]["name"]))
    # drop deletes in (namespace, name) order
    assert seen == [(ADDED, "a"), (ADDED, "b"), (DELETED, "b"), (DELETED, "a")]
    names = []
    while (event := await default_only.next()) is not None:
        names.append(event.new.obj["metadata"]["name"])
    assert names == ["b", "b"]
    assert storage.watcher_count("configmaps") == 0


def test_event_lines_are_encoded_once() -> None:
    storage = MemoryStorage()
    watcher = storage.watch("configmaps", None, None, maxsize=10)
    storage.create("configmaps", obj("a"))
    event = watcher.next_nowait()
    assert not isinstance(event, bool)
    assert event is not None
    line = event.line(ADDED)
    assert line.startswith(b'{"type":"ADDED","object":{')
    assert line.endswith(b"}\n")
    assert event.line(ADDED) is line


def names(events: list[Any] | None) -> list[str]:
    assert events is not None
    return [e.new.obj["metadata"]["name"] for e in events]


async def test_a_batch_takes_what_is_queued() -> None:
    storage = MemoryStorage()
    watcher = storage.watch("configmaps", None, None, maxsize=10)
    storage.create("configmaps", obj("a"))
    storage.create("configmaps", obj("b"))
    storage.create("configmaps", obj("c", "other"))
    assert names(await watcher.batch(10)) == ["a", "b", "c"]
    for name in ("d", "e", "f"):
        storage.create("configmaps", obj(name))
    assert names(await watcher.batch(2)) == ["d", "e"]
    assert names(await watcher.batch(2)) == ["f"]


async def test_a_batch_waits_for_an_event() -> None:
    storage = MemoryStorage()
    watcher = storage.watch("configmaps", None, None, maxsize=10)
    waiting = asyncio.create_task(watcher.batch(10))
    await asyncio.sleep(0)
    assert not waiting.done()
    storage.create("configmaps", obj("a"))
    storage.create("configmaps", obj("b", "other"))
    assert names(await asyncio.wait_for(waiting, 10)) == ["a", "b"]


@pytest.mark.parametrize(("settle", "batched"), [(0, ["a"]), (1, ["a", "b"]), (2, ["a", "b", "c"])])
async def test_a_batch_settles_for_the_writes_served_meanwhile(
    settle: int, batched: list[str]
) -> None:
    storage = MemoryStorage()
    watcher = storage.watch("configmaps", None, None, maxsize=10)
    storage.create("configmaps", obj("a"))
    waiting = asyncio.create_task(watcher.batch(10, settle))
    for name in ("b", "c", "d"):
        await asyncio.sleep(0)  # one loop turn, then another write
        storage.create("configmaps", obj(name))
    assert names(await waiting) == batched


async def test_a_settling_batch_ends_when_the_watcher_falls_behind() -> None:
    storage = MemoryStorage()
    watcher = storage.watch("configmaps", None, None, maxsize=1)
    storage.create("configmaps", obj("a"))
    waiting = asyncio.create_task(watcher.batch(10, settle=2))
    await asyncio.sleep(0)
    storage.create("configmaps", obj("b"))  # overflow: the watch closes, its queue dropped
    assert await waiting is None


async def test_the_alarm_gives_an_empty_batch_once_nothing_is_queued() -> None:
    storage = MemoryStorage()
    watcher = storage.watch("configmaps", None, None, maxsize=10)
    loop = asyncio.get_running_loop()
    watcher.alarm(loop.time())
    assert await asyncio.wait_for(watcher.batch(10), 10) == []
    watcher.alarm(loop.time())
    await asyncio.sleep(0)  # the alarm rings
    storage.create("configmaps", obj("a"))
    assert names(await watcher.batch(10)) == ["a"]
    assert await watcher.batch(10) == []
    # spent: the next batch waits for an event again
    waiting = asyncio.create_task(watcher.batch(10))
    await asyncio.sleep(0)
    assert not waiting.done()
    watcher.alarm(None)
    storage.create("configmaps", obj("b"))
    assert names(await asyncio.wait_for(waiting, 10)) == ["b"]
    # next() takes events only
    watcher.alarm(loop.time())
    one = asyncio.create_task(watcher.next())
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert not one.done()
    storage.create("configmaps", obj("c"))
    event = await asyncio.wait_for(one, 10)
    assert event is not None
    assert event.new.obj["metadata"]["name"] == "c"


async def test_a_closed_watcher_hands_out_what_was_queued_then_none() -> None:
    storage = MemoryStorage()
    watcher = storage.watch("configmaps", None, None, maxsize=10)
    waiting = asyncio.create_task(watcher.batch(10))
    await asyncio.sleep(0)
    watcher.close()
    assert await asyncio.wait_for(waiting, 10) is None
    queued = storage.watch("configmaps", None, None, maxsize=10)
    storage.create("configmaps", obj("a"))
    queued.close()
    storage.create("configmaps", obj("b"))
    assert names(await queued.batch(10)) == ["a"]
    assert await queued.batch(10) is None
    behind = storage.watch("configmaps", None, None, maxsize=1)
    storage.create("configmaps", obj("c"))
    storage.create("configmaps", obj("d"))
    assert behind.closed
    assert await behind.batch(10) is None
