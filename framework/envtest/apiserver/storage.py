"""Object storage: one global resourceVersion counter, objects per resource, change events.

`Storage` is the interface the REST layer uses; `MemoryStorage` keeps everything in dicts
(with each object's serialised bytes, so reads never re-encode). Objects are keyed by resource
("plural" or "plural.group", shared by all versions of a kind) and (namespace, name); the
namespace of cluster-scoped objects is "". Every write takes the next resourceVersion, writes it
into `metadata.resourceVersion`, and publishes one `WatchEvent` to the window and to watchers.
The REST layer owns all API semantics (validation, preconditions); storage only persists.
`storage_sqlite.SqliteStorage` adds durability: the same store, with every write also kept in
SQLite.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from typing import Any, Protocol

from framework.envtest.apiserver.watch import (
    ADDED,
    DELETED,
    MODIFIED,
    EventWindow,
    StoredObject,
    Watcher,
    WatcherSet,
    WatchEvent,
)

Key = tuple[str, str]


class TooOld(Exception):
    """A watch asked for a resourceVersion older than the kept event window."""

    def __init__(self, requested: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {requested} ({oldest})")
        self.requested = requested
        self.oldest = oldest


class Storage(Protocol):
    """What the REST layer needs from a backend (memory now; SQLite-backed later)."""

    @property
    def resource_version(self) -> int:
        """The newest resourceVersion handed out."""
        ...

    @property
    def oldest_resource_version(self) -> int:
        """Watches and continue tokens from before this resourceVersion get 410 Expired."""
        ...

    def get(self, resource: str, namespace: str, name: str) -> StoredObject | None: ...

    def list(
        self, resource: str, namespace: str | None, after: Key | None = None
    ) -> list[StoredObject]:
        """Objects in (namespace, name) order, optionally only those after key `after`."""
        ...

    def count(self, resource: str, namespace: str | None) -> int: ...

    def create(self, resource: str, obj: dict[str, Any]) -> StoredObject:
        """Store a new object (caller checked it is absent); publishes ADDED."""
        ...

    def update(self, resource: str, obj: dict[str, Any]) -> StoredObject:
        """Replace an existing object; publishes MODIFIED with the previous state."""
        ...

    def delete(
        self, resource: str, namespace: str, name: str, final: dict[str, Any] | None = None
    ) -> StoredObject:
        """Remove an existing object; publishes DELETED with its last state (`final` if given,
        else the stored one) at a new resourceVersion."""
        ...

    def drop(self, resource: str) -> None:
        """Delete every object of `resource` (DELETED each) and close its watchers."""
        ...

    def watch(
        self, resource: str, namespace: str | None, since: int | None, maxsize: int
    ) -> Watcher:
        """Start a watch: `since` None means current objects as ADDED first, else replay after it.

        Raises TooOld when `since` is older than the event window.
        """
        ...

    def close(self) -> None:
        """Close every watcher (their streams end; clients resume from their last RV)."""
        ...

    def compact(self) -> None:
        """Forget the event window: every watch or continue token from an older
        resourceVersion than the current one gets 410 Expired."""
        ...


def _key(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return meta.get("namespace") or "", meta["name"]


class _Table:
    """One resource's objects plus a lazily rebuilt sorted key list."""

    __slots__ = ("_sorted", "objects")

    def __init__(self) -> None:
        self.objects: dict[Key, StoredObject] = {}
        self._sorted: list[Key] | None = None

    def invalidate(self) -> None:
        self._sorted = None

    def keys(self) -> list[Key]:
        if self._sorted is None:
            self._sorted = sorted(self.objects)
        return self._sorted

    def range(self, namespace: str | None, after: Key | None) -> list[Key]:
        keys = self.keys()
        lo, hi = 0, len(keys)
        if namespace is not None:
            lo = bisect.bisect_left(keys, (namespace, ""))
            hi = bisect.bisect_left(keys, (namespace + "\0", ""))
        if after is not None:
            lo = max(lo, bisect.bisect_right(keys, after))
        return keys[lo:hi]


class MemoryStorage:
    """In-memory `Storage` with an event window of `event_window` events."""

    def __init__(self, event_window: int = 10_000) -> None:
        self._rv = 0
        self._tables: dict[str, _Table] = {}
        self._window_size = event_window
        self._window = EventWindow(event_window)
        self._watchers = WatcherSet()

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def oldest_resource_version(self) -> int:
        return self._window.floor

    def _table(self, resource: str) -> _Table:
        table = self._tables.get(resource)
        if table is None:
            table = self._tables[resource] = _Table()
        return table

    def get(self, resource: str, namespace: str, name: str) -> StoredObject | None:
        table = self._tables.get(resource)
        return None if table is None else table.objects.get((namespace, name))

    def list(
        self, resource: str, namespace: str | None, after: Key | None = None
    ) -> list[StoredObject]:
        table = self._tables.get(resource)
        if table is None:
            return []
        objects = table.objects
        return [objects[k] for k in table.range(namespace, after)]

    def count(self, resource: str, namespace: str | None) -> int:
        table = self._tables.get(resource)
        if table is None:
            return 0
        if namespace is None:
            return len(table.objects)
        return len(table.range(namespace, None))

    def _stamp(self, obj: dict[str, Any]) -> StoredObject:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        return StoredObject.of(obj, self._rv)

    def _publish(self, event: WatchEvent) -> None:
        self._window.append(event)
        self._watchers.notify(event)

    def create(self, resource: str, obj: dict[str, Any]) -> StoredObject:
        table = self._table(resource)
        key = _key(obj)
        if key in table.objects:
            raise KeyError(key)
        stored = self._stamp(obj)
        table.objects[key] = stored
        table.invalidate()
        self._publish(WatchEvent(ADDED, resource, key[0], stored))
        return stored

    def update(self, resource: str, obj: dict[str, Any]) -> StoredObject:
        table = self._table(resource)
        key = _key(obj)
        old = table.objects[key]
        stored = self._stamp(obj)
        table.objects[key] = stored
        self._publish(WatchEvent(MODIFIED, resource, key[0], stored, old))
        return stored

    def delete(
        self, resource: str, namespace: str, name: str, final: dict[str, Any] | None = None
    ) -> StoredObject:
        table = self._table(resource)
        old = table.objects.pop((namespace, name))
        table.invalidate()
        obj = final if final is not None else {**old.obj, "metadata": {**old.obj["metadata"]}}
        stored = self._stamp(obj)
        self._publish(WatchEvent(DELETED, resource, namespace, stored, old))
        return stored

    def drop(self, resource: str) -> None:
        table = self._tables.get(resource)
        if table is not None:
            for namespace, name in list(table.keys()):
                self.delete(resource, namespace, name)
            del self._tables[resource]
        self._watchers.close_resource(resource)

    def watch(
        self, resource: str, namespace: str | None, since: int | None, maxsize: int
    ) -> Watcher:
        if since is not None and since < self._window.floor:
            raise TooOld(since, self._window.floor + 1)
        watcher = Watcher(resource, namespace, maxsize, self._watchers.discard)
        if since is None:
            watcher.initial = [
                WatchEvent(ADDED, resource, s.obj["metadata"].get("namespace") or "", s)
                for s in self.list(resource, namespace)
            ]
        else:
            watcher.initial = [
                e
                for e in self._window.since(since, resource)
                if namespace is None or e.namespace == namespace
            ]
        self._watchers.add(watcher)
        return watcher

    def watcher_count(self, resource: str) -> int:
        """How many watches of `resource` are open (for tests and diagnostics)."""
        return sum(1 for w in self._watchers.watchers() if w.resource == resource)

    def close(self) -> None:
        self._watchers.close_all()

    def compact(self) -> None:
        self._window = EventWindow(self._window_size, floor=self._rv)

    def load(self, objects: Iterable[tuple[str, StoredObject]], resource_version: int) -> None:
        """Replace every object with `objects` ((resource, stored) pairs) and continue from
        `resource_version`; publishes nothing and forgets the event window (a restart)."""
        self._tables.clear()
        for resource, stored in objects:
            table = self._table(resource)
            table.objects[_key(stored.obj)] = stored
            table.invalidate()
        self._rv = resource_version
        self.compact()
