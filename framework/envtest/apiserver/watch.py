"""Watch plumbing: change events, the bounded event window, and per-watcher queues.

Every write produces one `WatchEvent` carrying the new state and, for updates, the previous
one (so a selector watch can tell "started matching" from "stopped matching"). The store keeps
the last N events in an `EventWindow` to resume watches from a resourceVersion; older ones are
gone (410 Expired). A `Watcher` receives events through a bounded queue: the server never waits
for a slow watcher; one that falls `maxsize` events behind is closed, as kube-apiserver does.
Its consumer takes what is queued in batches (one write to the client per batch).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"


@dataclass(slots=True)
class StoredObject:
    """An object as stored: the dict, its JSON bytes, its resourceVersion as an int."""

    obj: dict[str, Any]
    raw: bytes
    rv: int

    @classmethod
    def of(cls, obj: dict[str, Any], rv: int) -> StoredObject:
        return cls(obj, orjson.dumps(obj), rv)


@dataclass(slots=True)
class WatchEvent:
    """One change of one object of `resource` (a "plural.group" key).

    `line(type)` is the event's JSON line, encoded once and shared by every watcher.
    """

    type: str
    resource: str
    namespace: str
    new: StoredObject
    old: StoredObject | None = None
    _lines: dict[str, bytes] | None = None

    @property
    def rv(self) -> int:
        return self.new.rv

    def line(self, kind: str) -> bytes:
        """`{"type":kind,"object":...}` and a newline, for the stored apiVersion."""
        if self._lines is None:
            self._lines = {}
        line = self._lines.get(kind)
        if line is None:
            line = b'{"type":"' + kind.encode() + b'","object":' + self.new.raw + b"}\n"
            self._lines[kind] = line
        return line


class EventWindow:
    """The last `size` events, for resuming watches; `floor` is the newest event forgotten.

    A watch from resourceVersion `rv` can be served iff `rv >= floor`.
    """

    def __init__(self, size: int, floor: int = 0) -> None:
        if size < 1:
            raise ValueError("the event window holds at least one event")
        self._events: deque[WatchEvent] = deque()
        self._size = size
        self.floor = floor

    def append(self, event: WatchEvent) -> None:
        if len(self._events) >= self._size:
            self.floor = self._events.popleft().rv
        self._events.append(event)

    def since(self, rv: int, resource: str) -> list[WatchEvent]:
        """Events of `resource` newer than `rv`, oldest first (caller checked `rv >= floor`)."""
        out: list[WatchEvent] = []
        for event in reversed(self._events):
            if event.rv <= rv:
                break
            if event.resource == resource:
                out.append(event)
        out.reverse()
        return out


class Watcher:
    """A consumer's end of a watch: `initial` events to send first, then live ones through
    `next()` one at a time or `batch()` all that are ready (one consumer at a time).

    Both return None once the watch was closed (overflow, resource removed, server stop) and
    every event queued before the close was taken.
    """

    def __init__(
        self,
        resource: str,
        namespace: str | None,
        maxsize: int,
        on_close: Callable[[Watcher], None],
    ) -> None:
        self.resource = resource
        self.namespace = namespace
        self.initial: list[WatchEvent] = []
        self._events: deque[WatchEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._alarm: asyncio.TimerHandle | None = None
        self._rang = False
        self._maxsize = maxsize
        self._on_close = on_close
        self.closed = False

    def deliver(self, event: WatchEvent) -> None:
        if self.closed or (self.namespace is not None and event.namespace != self.namespace):
            return
        if len(self._events) >= self._maxsize:
            self.close(discard=True)
        else:
            self._events.append(event)
            self._wake()

    def close(self, discard: bool = False) -> None:
        """Stop delivering. The consumer gets the events already queued (none if `discard`:
        a watcher that fell behind), then None."""
        if self.closed:
            return
        self.closed = True
        if discard:
            self._events.clear()
        self.alarm(None)
        self._wake()
        self._on_close(self)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _ring(self) -> None:
        self._alarm = None
        self._rang = True
        self._wake()

    def alarm(self, when: float | None) -> None:
        """Make `batch()` return [] once the loop's clock reaches `when` (None: never)."""
        if self._alarm is not None:
            self._alarm.cancel()
            self._alarm = None
        self._rang = False
        if when is not None:
            self._alarm = asyncio.get_running_loop().call_at(when, self._ring)

    async def _wait(self, alarm: bool) -> None:
        """Until an event is queued, the watch is closed or (if `alarm`) the alarm rang."""
        while not (self._events or self.closed or (alarm and self._rang)):
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    async def next(self) -> WatchEvent | None:
        await self._wait(alarm=False)
        return self._events.popleft() if self._events else None

    def next_nowait(self) -> WatchEvent | bool | None:
        """The next queued event, None if closed, False if nothing is queued."""
        if self._events:
            return self._events.popleft()
        return None if self.closed else False

    async def batch(self, limit: int, settle: int = 0) -> list[WatchEvent] | None:
        """Up to `limit` queued events, oldest first, waiting for one if none is; [] when the
        alarm rang with nothing queued (the alarm is then spent). With fewer than `limit`
        queued, it first lets the loop run `settle` more times, so that the events of writes
        served meanwhile join the batch."""
        await self._wait(alarm=True)
        if self._events and len(self._events) < limit:
            for _ in range(settle):
                await asyncio.sleep(0)
        events = self._events
        if not events:
            if self.closed:
                return None
            self._rang = False
            return []
        if len(events) <= limit:
            self._events = deque()
            return list(events)
        return [events.popleft() for _ in range(limit)]


class WatcherSet:
    """The live watchers, grouped by resource key."""

    def __init__(self) -> None:
        self._by_resource: dict[str, set[Watcher]] = {}

    def add(self, watcher: Watcher) -> None:
        self._by_resource.setdefault(watcher.resource, set()).add(watcher)

    def discard(self, watcher: Watcher) -> None:
        watchers = self._by_resource.get(watcher.resource)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._by_resource[watcher.resource]

    def notify(self, event: WatchEvent) -> None:
        for watcher in list(self._by_resource.get(event.resource, ())):
            watcher.deliver(event)

    def close_resource(self, resource: str) -> None:
        for watcher in list(self._by_resource.get(resource, ())):
            watcher.close()

    def close_all(self) -> None:
        for resource in list(self._by_resource):
            self.close_resource(resource)

    def watchers(self) -> Iterable[Watcher]:
        return [w for ws in self._by_resource.values() for w in ws]
