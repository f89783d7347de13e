"""An event recorder on events.k8s.io/v1 that folds repeats into a series, as client-go's does.

Two events are isomorphic when they share the regarding object, related object, reason,
action, type, reporting controller and reporting instance; the note is not part of the key. The
regarding object is identified by apiVersion, kind, namespace, name and uid, without its
resourceVersion: a controller that writes status changes that on every reconcile, so keying on
it (as client-go does) would never find a repeat.

A repeat within `SERIES_WINDOW` (6 minutes) of the last observation of an isomorphic event
updates that event's `series` (count 2 on the first repeat, then +1; lastObservedTime now) with
a merge patch instead of creating another event; if the patch answers 404 (the event expired)
the event is created again with its series. Later than that, a new event is created. The
isomorphic events are remembered in an LRU cache of bounded size.

`event()` writes before it returns; `event(..., wait=False)` (what reconcilers use, so that no
reconcile waits for an event) advances the series at once and leaves the write to background
tasks (at most `WRITERS` at a time); at most `BACKLOG` events wait for them: past that the
caller writes its event itself before returning (back-pressure, nothing dropped). `flush()`
waits until every such event has been written (or has failed): call it before stopping, and in
tests before reading events.

Recording never raises into the caller: a failure is logged and counted in
`kubeloop_event_recording_failures_total{type}` on the recorder's metrics registry.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import structlog
from prometheus_client import CollectorRegistry, Counter

from framework.client import Client
from framework.clock import REAL_CLOCK, Clock
from framework.errors import NotFound
from framework.metrics import per_registry
from framework.models import KubeObject
from framework.resources import GroupVersionKind

__all__ = [
    "BACKLOG",
    "CACHE_SIZE",
    "EVENT_GVK",
    "NOTE_LIMIT",
    "SERIES_WINDOW",
    "WRITERS",
    "CachedEvent",
    "EventKey",
    "EventRecorder",
    "EventType",
    "IsomorphicEventCache",
    "event_key",
    "micro_time",
    "object_reference",
    "truncate_note",
]

EVENT_GVK = GroupVersionKind("events.k8s.io", "v1", "Event")
SERIES_WINDOW = 6 * 60.0
NOTE_LIMIT = 1024
CACHE_SIZE = 4096
BACKLOG = 4096
WRITERS = 4
_NAME_LIMIT = 253

EventType = Literal["Normal", "Warning"]
JSON = dict[str, Any]
Obj = KubeObject | JSON

_log = structlog.get_logger("kubeloop.events")


def micro_time(moment: datetime) -> str:
    """A metav1.MicroTime: RFC 3339 in UTC with microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def truncate_note(note: str) -> str:
    """`note` cut to at most NOTE_LIMIT bytes of UTF-8, on a character boundary."""
    encoded = note.encode()
    if len(encoded) <= NOTE_LIMIT:
        return note
    return encoded[:NOTE_LIMIT].decode(errors="ignore")


def object_reference(obj: Obj) -> JSON:
    """A core/v1 ObjectReference to `obj` (apiVersion, kind, name, namespace, uid,
    resourceVersion; absent fields left out)."""
    wire = obj.to_dict() if isinstance(obj, KubeObject) else obj
    meta = wire.get("metadata") or {}
    ref = {
        "apiVersion": wire.get("apiVersion"),
        "kind": wire.get("kind"),
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "resourceVersion": meta.get("resourceVersion"),
    }
    return {key: value for key, value in ref.items() if value}


def _describe(obj: object) -> str:
    """ "Kind namespace/name" of an object, for logs; never raises."""
    wire = obj.to_dict() if isinstance(obj, KubeObject) else obj
    if not isinstance(wire, Mapping):
        return type(obj).__name__
    meta = wire.get("metadata")
    meta = meta if isinstance(meta, Mapping) else {}
    return f"{wire.get('kind')} {meta.get('namespace') or ''}/{meta.get('name')}"


def _identity(ref: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    if ref is None:
        return None
    return tuple(str(ref.get(k, "")) for k in ("apiVersion", "kind", "namespace", "name", "uid"))


@dataclass(frozen=True, slots=True)
class EventKey:
    """What makes two events isomorphic (see the module docstring)."""

    regarding: tuple[str, ...] | None
    related: tuple[str, ...] | None
    reason: str
    action: str
    type: str
    reporting_controller: str
    reporting_instance: str


def event_key(event: Mapping[str, Any]) -> EventKey:
    """The isomorphism key of an events.k8s.io/v1 Event body."""
    return EventKey(
        regarding=_identity(event.get("regarding")),
        related=_identity(event.get("related")),
        reason=str(event.get("reason", "")),
        action=str(event.get("action", "")),
        type=str(event.get("type", "")),
        reporting_controller=str(event.get("reportingController", "")),
        reporting_instance=str(event.get("reportingInstance", "")),
    )


@dataclass(slots=True)
class CachedEvent:
    """An event body as it should be stored, when it was last observed (monotonic), and the
    series count last written to the server (0: not created yet). Writes of one event are
    serialised by `lock`."""

    body: JSON
    last_observed: float
    written: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def count(self) -> int:
        """1 for a single occurrence, else the series count."""
        return int((self.body.get("series") or {}).get("count", 1))


class IsomorphicEventCache:
    """LRU of the most recent event per isomorphism key (at most `size`), with the series
    rule: `observe` returns the cached event with its series advanced when an isomorphic event
    was observed within `window` seconds, else caches and returns the new one."""

    def __init__(self, clock: Clock, size: int = CACHE_SIZE, window: float = SERIES_WINDOW):
        self._clock = clock
        self._size = size
        self._window = window
        self._entries: OrderedDict[EventKey, CachedEvent] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def observe(self, event: JSON) -> CachedEvent:
        key = event_key(event)
        now = self._clock.now()
        entry = self._entries.get(key)
        if entry is None or now - entry.last_observed > self._window:
            entry = self._entries[key] = CachedEvent(body=event, last_observed=now)
        else:
            entry.body["series"] = {
                "count": entry.count + 1,
                "lastObservedTime": micro_time(self._clock.wall()),
            }
            entry.last_observed = now
        self._entries.move_to_end(key)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return entry


@per_registry
def _failures_of(registry: CollectorRegistry) -> Counter:
    return Counter(
        "kubeloop_event_recording_failures",
        "Events that could not be recorded, by event type.",
        ["type"],
        registry=registry,
    )


class EventRecorder:
    """Records events.k8s.io/v1 Events for one controller instance (see the module docstring).

    `clock` times the series window and stamps eventTime / lastObservedTime; `registry`
    receives the failure metric (default: a private registry); `backlog` and `writers` bound
    what `event(..., wait=False)` leaves to the background.
    """

    def __init__(
        self,
        client: Client,
        reporting_controller: str,
        reporting_instance: str,
        clock: Clock = REAL_CLOCK,
        registry: CollectorRegistry | None = None,
        *,
        cache_size: int = CACHE_SIZE,
        backlog: int = BACKLOG,
        writers: int = WRITERS,
    ) -> None:
        self._client = client
        self.reporting_controller = reporting_controller
        self.reporting_instance = reporting_instance
        self._clock = clock
        self._cache = IsomorphicEventCache(clock, cache_size)
        self._failures = _failures_of(registry if registry is not None else CollectorRegistry())
        self._backlog: deque[tuple[CachedEvent, str]] = deque()
        self._backlog_limit = backlog
        self._writer_limit = writers
        self._writers: set[asyncio.Task[None]] = set()

    async def event(
        self,
        regarding: Obj,
        type_: EventType,
        reason: str,
        action: str,
        note: str,
        related: Obj | None = None,
        *,
        wait: bool = True,
    ) -> None:
        """Record that `action` happened to `regarding` for `reason`; never raises. With
        `wait=False` the write is left to the background unless the backlog is full (see the
        module docstring)."""
        try:
            entry = self._cache.observe(
                self._new_event(regarding, type_, reason, action, note, related)
            )
            if wait or len(self._backlog) >= self._backlog_limit:
                await self._write_locked(entry)
            else:
                self._backlog.append((entry, _describe(regarding)))
                self._spawn()
        except Exception as error:
            self._failed(_describe(regarding), type_, reason, action, error)

    async def flush(self) -> None:
        """Wait until every event left to the background has been written or has failed."""
        while True:
            if self._backlog:
                self._spawn()
            if not self._writers:
                return
            await asyncio.wait(self._writers)
            self._writers = {writer for writer in self._writers if not writer.done()}

    def _spawn(self) -> None:
        """Start a writer unless enough are running (a running writer looks at the backlog
        again after each write)."""
        self._writers = {writer for writer in self._writers if not writer.done()}
        if len(self._writers) < self._writer_limit:
            self._writers.add(asyncio.create_task(self._drain(), name="event writer"))

    async def _drain(self) -> None:
        while self._backlog:
            entry, regarding = self._backlog.popleft()
            try:
                await self._write_locked(entry)
            except Exception as error:
                body = entry.body
                type_, reason, action = (str(body.get(k)) for k in ("type", "reason", "action"))
                self._failed(regarding, type_, reason, action, error)

    def _failed(
        self, regarding: str, type_: str, reason: str, action: str, error: Exception
    ) -> None:
        self._failures.labels(type_).inc()
        _log.warning(
            "event not recorded",
            regarding=regarding,
            type=type_,
            reason=reason,
            action=action,
            error=repr(error),
        )

    def _new_event(
        self, regarding: Obj, type_: str, reason: str, action: str, note: str, related: Obj | None
    ) -> JSON:
        if type_ not in ("Normal", "Warning"):
            raise ValueError(f"event type must be Normal or Warning, not {type_!r}")
        ref = object_reference(regarding)
        suffix = f".{secrets.token_hex(8)}"
        event: JSON = {
            "apiVersion": EVENT_GVK.api_version,
            "kind": EVENT_GVK.kind,
            "metadata": {
                "name": str(ref.get("name", ""))[: _NAME_LIMIT - len(suffix)] + suffix,
                "namespace": ref.get("namespace") or "default",
            },
            "eventTime": micro_time(self._clock.wall()),
            "reportingController": self.reporting_controller,
            "reportingInstance": self.reporting_instance,
            "action": action,
            "reason": reason,
            "type": type_,
            "regarding": ref,
            "note": truncate_note(note),
        }
        if related is not None:
            event["related"] = object_reference(related)
        return event

    async def _write_locked(self, entry: CachedEvent) -> None:
        async with entry.lock:
            await self._write(entry)

    async def _write(self, entry: CachedEvent) -> None:
        count = entry.count
        if count == entry.written:
            return
        body = entry.body
        if entry.written:
            meta = body["metadata"]
            try:
                await self._client.patch(
                    EVENT_GVK,
                    meta["name"],
                    {"series": body["series"]},
                    namespace=meta["namespace"],
                    patch_type="merge",
                )
            except NotFound:
                await self._client.create(body)
        else:
            await self._client.create(body)
        entry.written = count
