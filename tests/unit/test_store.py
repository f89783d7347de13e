"""Store, indexes, read-your-own-writes expectations and the reflector's backoff (pure)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import orjson
import pytest

from framework.clock import FakeClock
from framework.informer import (
    NAMESPACE_INDEX,
    Backoff,
    BackoffPolicy,
    Store,
    encode,
    index_by_label,
    index_by_owner_uid,
    object_key,
    strip_managed_fields,
)
from framework.selectors import FieldSelector, LabelSelector

JSON = dict[str, Any]


def obj(name: str, namespace: str | None = "default", rv: int = 1, **labels: str) -> JSON:
    meta: JSON = {"name": name, "resourceVersion": str(rv), "labels": labels}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta, "data": {"k": name}}


def put(store: Store, o: JSON) -> bytes | None:
    return store.upsert(object_key(o), o, encode(o))


def test_keys_follow_client_go() -> None:
    assert object_key(obj("a")) == "default/a"
    assert object_key(obj("node", namespace=None)) == "node"


def test_encode_is_exact_size_json() -> None:
    value = obj("a", app="x" * 1000)
    raw = encode(value)
    assert orjson.loads(raw) == value
    assert sys.getsizeof(raw) - len(raw) == sys.getsizeof(b"")


def test_strip_managed_fields() -> None:
    value = obj("a")
    value["metadata"]["managedFields"] = [{"manager": "kubectl"}]
    assert "managedFields" not in strip_managed_fields(value)["metadata"]


def test_reads_are_private_copies() -> None:
    store = Store()
    put(store, obj("a"))
    first = store.get("default/a")
    assert first is not None
    first["data"]["k"] = "changed"
    assert store.get("default/a") == obj("a")
    assert store.list()[0] is not store.list()[0]


def test_upsert_and_remove_return_the_previous_state() -> None:
    store = Store()
    assert put(store, obj("a", rv=1)) is None
    previous = put(store, obj("a", rv=2))
    assert previous is not None
    assert orjson.loads(previous) == obj("a", rv=1)
    assert store.remove("default/a") == encode(obj("a", rv=2))
    assert store.remove("default/a") is None
    assert len(store) == 0
    assert "default/a" not in store


def test_namespace_index_and_selectors() -> None:
    store = Store()
    for o in (obj("a", app="web"), obj("b", "other", app="db"), obj("c", app="db"), obj("n", None)):
        put(store, o)
    assert [o["metadata"]["name"] for o in store.list()] == ["a", "c", "n", "b"]  # key order
    assert [o["metadata"]["name"] for o in store.list("default")] == ["a", "c"]
    assert store.index_keys(NAMESPACE_INDEX, "other") == ["other/b"]
    db = LabelSelector.parse("app=db")
    assert [o["metadata"]["name"] for o in store.list(label_selector=db)] == ["c", "b"]
    named = FieldSelector.parse("metadata.name=c")
    assert [o["metadata"]["name"] for o in store.list(field_selector=named)] == ["c"]
    store.remove("other/b")
    assert store.index_keys(NAMESPACE_INDEX, "other") == []
    with pytest.raises(KeyError):
        store.index_keys("missing", "x")


def test_custom_indexes_follow_updates_and_can_be_added_late() -> None:
    store = Store({"app": index_by_label("app")})
    put(store, obj("a", app="web"))
    put(store, obj("b", app="web"))
    assert store.index_keys("app", "web") == ["default/a", "default/b"]
    put(store, obj("a", rv=2, app="db"))
    assert store.index_keys("app", "web") == ["default/b"]
    assert [o["metadata"]["name"] for o in store.by_index("app", "db")] == ["a"]
    owned = obj("c")
    owned["metadata"]["ownerReferences"] = [{"uid": "u1"}, {"uid": "u2"}]
    put(store, owned)
    store.add_indexers({"owner": index_by_owner_uid})
    assert store.index_keys("owner", "u2") == ["default/c"]
    with pytest.raises(ValueError, match="exists"):
        store.add_indexers({"owner": index_by_owner_uid})


def test_every_index_follows_updates_and_removals_after_a_late_add() -> None:
    store = Store({"app": index_by_label("app")})
    owned = obj("c", app="web")
    owned["metadata"]["ownerReferences"] = [{"uid": "u1"}, {"uid": "u2"}]
    put(store, owned)
    put(store, obj("d", app="web"))
    store.add_indexers({"owner": index_by_owner_uid})
    moved = obj("c", rv=2, app="db")
    moved["metadata"]["ownerReferences"] = [{"uid": "u2"}, {"uid": "u3"}]
    put(store, moved)
    assert (store.index_keys("app", "web"), store.index_keys("app", "db")) == (
        ["default/d"],
        ["default/c"],
    )
    assert [store.index_keys("owner", uid) for uid in ("u1", "u2", "u3")] == [
        [],
        ["default/c"],
        ["default/c"],
    ]
    put(store, obj("c", rv=3, app="db"))  # no owners left
    assert store.index_keys("owner", "u2") == []
    store.remove("default/c")
    assert store.index_keys("app", "db") == []
    assert store.index_keys(NAMESPACE_INDEX, "default") == ["default/d"]


def test_index_reads_stay_ordered_and_current_across_changes() -> None:
    store = Store({"app": index_by_label("app")})
    for name in ("c", "a", "b"):
        put(store, obj(name, app="web"))
    keys = store.index_keys("app", "web")
    assert keys == ["default/a", "default/b", "default/c"]
    keys.append("mine")  # the caller's own list: the store's order is untouched
    assert store.index_keys("app", "web") == ["default/a", "default/b", "default/c"]
    put(store, obj("aa", app="web"))
    store.remove("default/b")
    assert store.index_keys("app", "web") == ["default/a", "default/aa", "default/c"]
    assert [o["metadata"]["name"] for o in store.by_index("app", "web")] == ["a", "aa", "c"]
    put(store, obj("a", rv=2, app="db"))
    assert store.index_keys("app", "web") == ["default/aa", "default/c"]
    assert [o["metadata"]["name"] for o in store.list("default")] == ["a", "aa", "c"]
    store.replace({"default/z": encode(obj("z", app="web"))})
    assert store.index_keys("app", "web") == ["default/z"]
    assert store.index_keys(NAMESPACE_INDEX, "default") == ["default/z"]


def test_replace_swaps_everything_and_rebuilds_indexes() -> None:
    store = Store({"app": index_by_label("app")})
    put(store, obj("a", app="web"))
    put(store, obj("b", app="web"))
    new = obj("c", app="db")
    old = store.replace({"default/c": encode(new)})
    assert sorted(old) == ["default/a", "default/b"]
    assert store.keys() == ["default/c"]
    assert store.index_keys("app", "web") == []
    assert store.index_keys("app", "db") == ["default/c"]
    assert store.index_keys(NAMESPACE_INDEX, "default") == ["default/c"]


async def test_settle_waits_for_the_expected_version_or_deletion() -> None:
    clock = FakeClock()
    store = Store(clock=clock)
    put(store, obj("a", rv=5))
    store.expect("default/a", "3")  # already older than what the store holds
    assert store.pending() == 0
    store.expect("default/a", "12")
    waiter = asyncio.create_task(store.settle("default/a", 5.0))
    await asyncio.sleep(0)
    put(store, obj("a", rv=9))
    await asyncio.sleep(0)
    assert not waiter.done()
    put(store, obj("a", rv=12))
    assert await waiter
    store.expect("default/a", None)
    waiter = asyncio.create_task(store.settle(None, 5.0))
    await asyncio.sleep(0)
    store.remove("default/a")
    assert await waiter
    assert store.pending() == 0


async def test_settle_times_out_on_the_store_clock() -> None:
    clock = FakeClock()
    store = Store(clock=clock)
    store.expect("default/a", "2")
    waiter = asyncio.create_task(store.settle("default/a", 5.0))
    await asyncio.sleep(0)
    clock.advance(4.0)
    await asyncio.sleep(0)
    assert not waiter.done()
    clock.advance(1.0)
    assert not await waiter
    assert store.pending() == 1


def test_expectations_compare_with_what_the_store_holds_however_it_got_there() -> None:
    store = Store()
    store.replace({"default/a": encode(obj("a", rv=7))})
    store.expect("default/a", "7")
    assert store.pending() == 0
    put(store, obj("a", rv=9))
    store.expect("default/a", "9")
    assert store.pending() == 0
    store.replace({"default/a": encode(obj("a", rv=7))})  # a relist found an older state
    store.expect("default/a", "8")
    assert store.pending() == 1
    put(store, obj("a", rv=8))
    assert store.pending() == 0
    store.remove("default/a")
    store.expect("default/a", "8")  # gone: the write is not in the store
    assert store.pending() == 1


def test_deletion_expectation_is_met_by_a_deletion_timestamp() -> None:
    store = Store()
    put(store, obj("a"))
    store.expect("default/a", None)
    marked = obj("a", rv=2)
    marked["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    put(store, marked)
    assert store.pending() == 0


def test_backoff_grows_caps_jitters_and_resets() -> None:
    clock = FakeClock()
    backoff = Backoff(BackoffPolicy(), clock, rng=lambda: 0.0)
    assert [backoff.next() for _ in range(8)] == [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    clock.advance(119.0)
    assert backoff.next() == 30.0
    clock.advance(120.0)
    assert backoff.next() == 0.8
    jittered = Backoff(BackoffPolicy(), clock, rng=lambda: 0.5)
    assert jittered.next() == pytest.approx(1.2)
    assert Backoff(BackoffPolicy(initial=20.0), clock, rng=lambda: 1.0).next() == 30.0
