"""Informers: a reflector (list, then watch) keeping an indexed `Store` of one kind, and event
handlers told of every change.

`Store` holds each object serialised (exact-size compact JSON: the object's text as its watch
event carried it when the informer's transform is known to keep it, else orjson's encoding) and
decodes on every read, so a reader always gets its own copy and the memory held is close to
the objects' JSON size (a parsed dict costs about four times that). An update is reported
when an object's bytes changed and the decoded object too. Objects are keyed "namespace/name"
("name" when cluster-scoped); the namespace index is built in, other indexes are functions of
the object. A store also tracks read-your-own-writes expectations: after a write, `expect`
records the written resourceVersion and `settle` waits until the store has caught up (the
store keeps the resourceVersion of each object a watch event brought, for that check).

`Informer` runs the reflector for one (kind, namespace, selectors) and calls its handlers:
- list, then watch from the list's resourceVersion with bookmarks and a server timeout
  jittered in 5..10 min; a silent watch is restarted after the inactivity timeout; a watch
  that ends is resumed from the last resourceVersion seen;
- a 410 (ERROR watch event or HTTP answer) -> relist at once; a relist swaps the store in one
  step and reports vanished objects as deletes whose final state is unknown;
- any other failure -> exponential backoff 0.8 s .. 30 s with jitter, reset after 2 minutes
  without failure;
- a kind the server does not serve (CRD missing) is logged and retried every 10 s; meanwhile
  the informer is `waiting_for_kind` (a cache does not wait for its sync).
Handlers are plain callables run in the informer's task; an exception in one is logged and
never stops the informer.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter

from framework.client import Client, ListOptions, collection_path
from framework.clock import REAL_CLOCK, Clock, TimerHandle
from framework.errors import Gone, NoKindMatch, NotFound, error_from_response
from framework.metrics import per_registry
from framework.resources import GroupVersionKind, ResourceInfo
from framework.selectors import FieldSelector, LabelSelector

__all__ = [
    "NAMESPACE_INDEX",
    "Backoff",
    "BackoffPolicy",
    "EventHandler",
    "IndexFunc",
    "Informer",
    "InformerOptions",
    "Store",
    "Transform",
    "encode",
    "index_by_label",
    "index_by_owner_uid",
    "object_key",
    "resource_version_of",
    "selector_matches",
    "strip_managed_fields",
]

JSON = dict[str, Any]
IndexFunc = Callable[[JSON], Iterable[str]]
Transform = Callable[[JSON], JSON]

NAMESPACE_INDEX = "namespace"

_log = structlog.get_logger("kubeloop.informer")


def object_key(obj: Mapping[str, Any]) -> str:
    """client-go's MetaNamespaceKeyFunc: "namespace/name", or "name" when cluster-scoped."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    return f"{namespace}/{meta['name']}" if namespace else str(meta["name"])


def resource_version_of(obj: Mapping[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def index_by_label(label: str) -> IndexFunc:
    """An index function filing objects under the value of `label` (unlabelled: nowhere)."""

    def index(obj: JSON) -> list[str]:
        value = ((obj.get("metadata") or {}).get("labels") or {}).get(label)
        return [] if value is None else [value]

    return index


def index_by_owner_uid(obj: JSON) -> list[str]:
    """An index function filing objects under each owner reference's uid."""
    owners = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(owner["uid"]) for owner in owners if owner.get("uid")]


def strip_managed_fields(obj: JSON) -> JSON:
    """The default transform: drop `metadata.managedFields` (often half an object's size)."""
    meta = obj.get("metadata")
    if isinstance(meta, dict):
        meta.pop("managedFields", None)
    return obj


def encode(obj: Any) -> bytes:
    """`obj` as compact JSON in an exact-size bytes object (orjson's own buffer can be many
    times larger than its content)."""
    return bytes(memoryview(orjson.dumps(obj)))


def _newer_or_equal(have: str, want: str) -> bool:
    """resourceVersion comparison: as integers (etcd revisions), else only equality."""
    try:
        return int(have) >= int(want)
    except ValueError:
        return have == want


def _field_value(obj: Mapping[str, Any], path: str) -> str:
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def selector_matches(
    obj: Mapping[str, Any],
    label_selector: LabelSelector | None,
    field_selector: FieldSelector | None,
) -> bool:
    """Whether the object matches both selectors (None or empty: everything)."""
    if label_selector is not None and not label_selector.empty:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        if not label_selector.matches(labels):
            return False
    if field_selector is not None and not field_selector.empty:
        fields = {name: _field_value(obj, name) for name in field_selector.fields()}
        if not field_selector.matches(fields):
            return False
    return True


# --- store ----------------------------------------------------------------------------------


class Store:
    """Serialised objects by key, with indexes and read-your-own-writes expectations.

    Reads (`get`, `list`, `by_index`) return freshly decoded dicts the caller owns; `raw`
    returns the stored bytes (immutable). Writes come from the informer (`upsert`, `remove`,
    `replace`); each returns the previous bytes so the caller can report the change.
    Index functions map an object to the index values it is filed under.
    """

    def __init__(
        self, indexers: Mapping[str, IndexFunc] | None = None, *, clock: Clock = REAL_CLOCK
    ) -> None:
        self._items: dict[str, bytes] = {}
        self._indexers: dict[str, IndexFunc] = {}
        self._indices: dict[str, dict[str, set[str]]] = {NAMESPACE_INDEX: {}}
        # The keys of each (index, value) in order, kept until the value's keys change.
        self._ordered: dict[str, dict[str, list[str]]] = {NAMESPACE_INDEX: {}}
        # What each key is filed under by the index functions, so that an update or a removal
        # need not decode the previous object (empty while there are no index functions).
        self._filed: dict[str, tuple[tuple[str, ...], ...]] = {}
        # The resourceVersion of each key since its last upsert, for `expect` not to decode.
        self._versions: dict[str, str] = {}
        self._expected: dict[str, str | None] = {}
        self._waiters: list[asyncio.Future[None]] = []
        self._clock = clock
        if indexers:
            self.add_indexers(indexers)

    # -- reads --

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        """The keys (a snapshot: the store may change while the caller iterates)."""
        return iter(list(self._items))

    def keys(self) -> list[str]:
        return list(self._items)

    def raw(self, key: str) -> bytes | None:
        return self._items.get(key)

    def raw_items(self) -> Iterator[tuple[str, bytes]]:
        """A snapshot of (key, bytes) pairs."""
        return iter(list(self._items.items()))

    def get(self, key: str) -> JSON | None:
        raw = self._items.get(key)
        return None if raw is None else orjson.loads(raw)

    def index_keys(self, index: str, value: str) -> list[str]:
        """The keys filed under `value` in `index`, in order (a list the caller owns)."""
        return list(self._ordered_keys(index, value))

    def by_index(self, index: str, value: str) -> list[JSON]:
        """The objects filed under `value` in `index`, in key order."""
        items = self._items
        return [orjson.loads(items[key]) for key in self._ordered_keys(index, value)]

    def _ordered_keys(self, index: str, value: str) -> list[str]:
        """The keys filed under `value` in `index`, sorted once per change (not to be
        mutated)."""
        ordered = self._ordered.get(index)
        if ordered is None:
            raise KeyError(f"no index named {index!r}")
        keys = ordered.get(value)
        if keys is None:
            members = self._indices[index].get(value)
            if not members:
                return []
            keys = ordered[value] = sorted(members)
        return keys

    def list(
        self,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> list[JSON]:
        """The objects (in `namespace` if given) matching the selectors, in key order."""
        if namespace is None:
            keys: Iterable[str] = sorted(self._items)
        else:
            keys = self._ordered_keys(NAMESPACE_INDEX, namespace)
        objects = (orjson.loads(self._items[key]) for key in keys)
        return [obj for obj in objects if selector_matches(obj, label_selector, field_selector)]

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        """Add indexes (built over the objects already stored). Names must be new."""
        for name in indexers:
            if name in self._indices:
                raise ValueError(f"index {name!r} exists")
        self._indexers.update(indexers)
        for name in indexers:
            self._indices[name] = {}
            self._ordered[name] = {}
        filed, self._filed = self._filed, {}
        for key, raw in self._items.items():
            obj = orjson.loads(raw)
            before = filed.get(key, ())
            values = (*before, *(tuple(function(obj)) for function in indexers.values()))
            self._file(key, values[len(before) :], add=True, start=len(before))
            self._filed[key] = values

    # -- writes (the informer's) --

    def upsert(self, key: str, obj: JSON, raw: bytes) -> bytes | None:
        """Store `raw` (the encoding of `obj`) under `key`; returns the previous bytes."""
        old = self._items.get(key)
        self._items[key] = raw
        self._versions[key] = resource_version_of(obj)
        if old is None:
            self._file_namespace(key, add=True)
        if self._indexers:
            values = self._index_values(obj)
            previous = self._filed.get(key)
            if previous != values:
                if previous is not None:
                    self._file(key, previous, add=False)
                self._file(key, values, add=True)
                self._filed[key] = values
        if self._expected:
            self._changed(key, obj)
        return old

    def remove(self, key: str) -> bytes | None:
        """Drop `key`; returns the bytes it held (None if absent)."""
        old = self._items.pop(key, None)
        if old is not None:
            self._versions.pop(key, None)
            self._file_namespace(key, add=False)
            previous = self._filed.pop(key, None)
            if previous is not None:
                self._file(key, previous, add=False)
            if self._expected:
                self._changed(key, None)
        return old

    def replace(self, items: dict[str, bytes]) -> dict[str, bytes]:
        """Swap in `items` ({key: bytes}, taken over by the store) in one step; returns the
        previous content."""
        old = self._items
        self._items = items
        self._indices = {NAMESPACE_INDEX: {}, **{name: {} for name in self._indexers}}
        self._ordered = {name: {} for name in self._indices}
        self._filed = {}
        self._versions = {}
        for key, raw in items.items():
            self._file_namespace(key, add=True)
            if self._indexers:
                values = self._filed[key] = self._index_values(orjson.loads(raw))
                self._file(key, values, add=True)
        for key in list(self._expected):
            self._changed(key, self.get(key))
        return old

    def _index_values(self, obj: JSON) -> tuple[tuple[str, ...], ...]:
        """The values `obj` is filed under, one tuple per index function (in their order)."""
        return tuple(tuple(function(obj)) for function in self._indexers.values())

    def _file(
        self, key: str, values: tuple[tuple[str, ...], ...], *, add: bool, start: int = 0
    ) -> None:
        """File `key` under (or remove it from) `values` of the index functions from the
        `start`-th on (values as `_index_values` gives them)."""
        names = list(self._indexers)[start:] if start else self._indexers
        for name, index_values in zip(names, values, strict=True):
            _file_in(self._indices[name], self._ordered[name], key, index_values, add)

    def _file_namespace(self, key: str, *, add: bool) -> None:
        namespace, slash, _ = key.partition("/")
        if slash:
            index = NAMESPACE_INDEX
            _file_in(self._indices[index], self._ordered[index], key, (namespace,), add)

    # -- read-your-own-writes --

    def expect(self, key: str, resource_version: str | None) -> None:
        """Record a write of `key`: reads should wait until the store holds `resource_version`
        or newer (None: a delete, so until the key is gone or marked for deletion)."""
        version = self._versions.get(key)
        if version is not None and resource_version is not None:
            caught_up = _newer_or_equal(version, resource_version)
        else:
            caught_up = _caught_up(self.get(key), resource_version)
        if not caught_up:
            self._expected[key] = resource_version

    def pending(self) -> int:
        """How many recorded writes the store has not caught up with."""
        return len(self._expected)

    def settled(self, key: str | None) -> bool:
        """Whether the store caught up with the recorded write of `key` (of every key when
        None)."""
        return key not in self._expected if key is not None else not self._expected

    async def settle(self, key: str | None, max_wait: float) -> bool:
        """Wait until the store caught up with the recorded write of `key` (of every key when
        None); False if it has not within `max_wait` seconds (of the store's clock)."""
        deadline = self._clock.now() + max_wait
        while not self.settled(key):
            remaining = deadline - self._clock.now()
            if remaining <= 0:
                return False
            waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
            timer = self._clock.call_later(remaining, partial(_resolve, waiter))
            try:
                await waiter
            finally:
                timer.cancel()
        return True

    def _changed(self, key: str, obj: JSON | None) -> None:
        """`key` now holds `obj` (None: nothing)."""
        if key in self._expected and _caught_up(obj, self._expected[key]):
            del self._expected[key]
            self._wake()

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            _resolve(waiter)


def _caught_up(obj: JSON | None, resource_version: str | None) -> bool:
    """Whether the stored `obj` (None: absent) satisfies an expected write of
    `resource_version` (None: a delete)."""
    if obj is None:
        return resource_version is None
    meta = obj.get("metadata") or {}
    if resource_version is None:
        return bool(meta.get("deletionTimestamp"))
    return _newer_or_equal(str(meta.get("resourceVersion") or ""), resource_version)


def _file_in(
    index: dict[str, set[str]],
    ordered: dict[str, list[str]],
    key: str,
    values: Iterable[str],
    add: bool,
) -> None:
    """File `key` under (or remove it from) each of `values` in `index`, forgetting the
    orders of those values in `ordered`."""
    for value in values:
        ordered.pop(value, None)
        if add:
            index.setdefault(value, set()).add(key)
        else:
            members = index.get(value)
            if members is not None:
                members.discard(key)
                if not members:
                    del index[value]


def _copies(obj: JSON, count: int, raw: bytes | None = None) -> list[JSON]:
    """`count` independent copies of `obj` (whose encoding `raw` is, when given), the last
    being `obj` itself."""
    if count <= 1:
        return [obj][:count]
    raw = encode(obj) if raw is None else raw
    return [*(orjson.loads(raw) for _ in range(count - 1)), obj]


# The start of a watch event line as Kubernetes API servers write it, by the event types whose
# object is stored.
_EVENT_STARTS = {
    kind: b'{"type":"' + kind.encode() + b'","object":' for kind in ("ADDED", "MODIFIED")
}


def _object_bytes(line: bytes, kind: str, event: JSON) -> bytes | None:
    """The object's JSON exactly as the server wrote it in the watch event `line` (decoded as
    `event`, of type `kind`), when the line shows its span for certain:
    `{"type":"ADDED","object":{...}}` with no other member and no whitespace (else None: the
    caller encodes the object itself)."""
    start = _EVENT_STARTS.get(kind)
    if start is None or len(event) != 2 or not line.startswith(start) or not line.endswith(b"}}"):
        return None
    return line[len(start) : -1]


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# --- backoff --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """Exponential backoff: `initial` growing by `factor` up to `maximum`, each delay stretched
    by up to `jitter` of itself (still capped), back to `initial` after `reset_after` seconds
    without a failure (client-go's reflector: 0.8 s, 30 s, 2.0, 1.0, 2 min)."""

    initial: float = 0.8
    maximum: float = 30.0
    factor: float = 2.0
    jitter: float = 1.0
    reset_after: float = 120.0


class Backoff:
    """The delays of one retry loop under a `BackoffPolicy`; `next()` after each failure."""

    def __init__(
        self,
        policy: BackoffPolicy,
        clock: Clock,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._policy = policy
        self._clock = clock
        self._rng = rng
        self._step = policy.initial
        self._last: float | None = None

    def next(self) -> float:
        policy, now = self._policy, self._clock.now()
        if self._last is not None and now - self._last >= policy.reset_after:
            self._step = policy.initial
        delay = min(self._step * (1.0 + policy.jitter * self._rng()), policy.maximum)
        self._step = min(self._step * policy.factor, policy.maximum)
        self._last = now
        return delay


# --- informer -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventHandler:
    """Callbacks for an informer's changes; each gets its own decoded copy of the object.

    `on_add(obj, is_initial_list)`: a new object (True while delivering the first list);
    `on_update(old, new)`: a changed object (both states; also every resync period, with
    old == new); `on_delete(obj, final_state_unknown)`: a deleted object, with its last known
    state when `final_state_unknown` (found gone by a relist, not seen deleted).
    """

    on_add: Callable[[JSON, bool], object] | None = None
    on_update: Callable[[JSON, JSON], object] | None = None
    on_delete: Callable[[JSON, bool], object] | None = None


@dataclass(frozen=True, slots=True)
class InformerOptions:
    """What to watch and how: namespace (None: all), selectors (server-side filters), the
    resync period (None: never), the transform applied to each object before it is stored
    (None: keep as sent), the inactivity timeout, the range of the server-side watch timeout,
    the backoff policy, the retry interval while the kind is not served, and the list page
    size (None: one request)."""

    namespace: str | None = None
    label_selector: LabelSelector | None = None
    field_selector: FieldSelector | None = None
    resync_period: float | None = None
    transform: Transform | None = strip_managed_fields
    inactivity_timeout: float = 70.0
    watch_timeout: tuple[float, float] = (300.0, 600.0)
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    missing_kind_retry: float = 10.0
    page_size: int | None = 500


@dataclass(frozen=True, slots=True)
class _Metrics:
    lists: Counter
    watches: Counter
    restarts: Counter


@per_registry
def _metrics_of(registry: CollectorRegistry) -> _Metrics:
    return _Metrics(
        lists=Counter(
            "kubeloop_informer_lists", "Lists made by informers.", ["kind"], registry=registry
        ),
        watches=Counter(
            "kubeloop_informer_watches",
            "Watches opened by informers.",
            ["kind"],
            registry=registry,
        ),
        restarts=Counter(
            "kubeloop_informer_watch_restarts",
            "Watches ended other than by the server timeout, by reason "
            "(gone, inactive, error, missing_kind).",
            ["kind", "reason"],
            registry=registry,
        ),
    )


class _Inactive(Exception):
    """The watch was silent for the inactivity timeout."""


class _Watchdog:
    """Calls `expire` once when `touch` has not been called for `timeout` seconds."""

    def __init__(self, clock: Clock, timeout: float, expire: Callable[[], None]) -> None:
        self._clock = clock
        self._timeout = timeout
        self._expire = expire
        self._last = clock.now()
        self._timer: TimerHandle = clock.call_later(timeout, self._check)

    def touch(self) -> None:
        self._last = self._clock.now()

    def _check(self) -> None:
        left = self._last + self._timeout - self._clock.now()
        if left > 0:
            self._timer = self._clock.call_later(left, self._check)
        else:
            self._expire()

    def cancel(self) -> None:
        self._timer.cancel()


class Informer:
    """Keeps `store` in step with the objects of one kind (see the module docstring).

    `start()` launches the reflector task, `stop()` cancels it. `has_synced` turns True once
    the first list is in the store; `waiting_for_kind` is True while the server does not serve
    the kind. `kind` may be a GroupVersionKind (resolved through the client's discovery) or a
    ResourceInfo.
    """

    def __init__(
        self,
        client: Client,
        kind: GroupVersionKind | ResourceInfo,
        options: InformerOptions | None = None,
        *,
        indexers: Mapping[str, IndexFunc] | None = None,
        clock: Clock = REAL_CLOCK,
        registry: CollectorRegistry | None = None,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self._client = client
        self._info = kind if isinstance(kind, ResourceInfo) else None
        self.gvk = kind.gvk if isinstance(kind, ResourceInfo) else kind
        self.options = options or InformerOptions()
        self.store = Store(indexers, clock=clock)
        self._clock = clock
        self._rng = rng
        self._handlers: list[EventHandler] = []
        self._on_add: list[Callable[..., object]] = []
        self._on_update: list[Callable[..., object]] = []
        self._on_delete: list[Callable[..., object]] = []
        self._resource_version = ""
        self._synced = asyncio.Event()
        self._ready = asyncio.Event()
        self._listed_once = False
        self.waiting_for_kind = False
        self._tasks: list[asyncio.Task[None]] = []
        metrics = _metrics_of(registry if registry is not None else CollectorRegistry())
        label = str(self.gvk)
        self._lists = metrics.lists.labels(label)
        self._watches = metrics.watches.labels(label)
        self._restarts = metrics.restarts
        self._label = label
        self._log = _log.bind(gvk=label, namespace=self.options.namespace or "")

    # -- lifecycle --

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    @property
    def resource_version(self) -> str:
        """The last resourceVersion seen (list, event or bookmark)."""
        return self._resource_version

    def start(self) -> None:
        if self._tasks:
            return
        self._tasks.append(asyncio.create_task(self._run(), name=f"informer {self._label}"))
        if self.options.resync_period:
            self._tasks.append(asyncio.create_task(self._resync(self.options.resync_period)))

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_for_sync(self) -> None:
        """Wait until synced (bound it with `asyncio.timeout`)."""
        await self._synced.wait()

    async def wait_until_ready(self) -> None:
        """Wait until synced or found not served: an informer whose kind is missing is exempt
        from sync deadlines until the kind appears."""
        await self._ready.wait()

    def add_handler(self, handler: EventHandler) -> None:
        """Register `handler`; when already synced it first gets every stored object as an
        initial-list add, as client-go does."""
        self._handlers.append(handler)
        self._on_add = self._callbacks("on_add")
        self._on_update = self._callbacks("on_update")
        self._on_delete = self._callbacks("on_delete")
        if self.has_synced and handler.on_add is not None:
            for _, raw in self.store.raw_items():
                self._call(handler.on_add, orjson.loads(raw), True)

    # -- reflector --

    async def _run(self) -> None:
        backoff = Backoff(self.options.backoff, self._clock, self._rng)
        needs_list = True
        while True:
            try:
                info = await self._resource()
                if needs_list:
                    await self._list(info)
                    needs_list = False
                await self._watch(info)  # returns when the server ends it: resume at once
            except (NoKindMatch, NotFound) as error:
                self._kind_missing(error)
                await self._clock.sleep(self.options.missing_kind_retry)
                needs_list = True
            except Gone:
                self._restart("gone", "resourceVersion too old; relisting")
                needs_list = True
            except _Inactive:
                self._restart("inactive", "watch silent too long; restarting it")
            except Exception as error:  # any other failure: log, back off, retry
                delay = backoff.next()
                self._restarts.labels(self._label, "error").inc()
                self._log.warning("list/watch failed", error=repr(error), retry_in=delay)
                await self._clock.sleep(delay)

    async def _resource(self) -> ResourceInfo:
        if self._info is None:
            self._info = await self._client.ensure_resource(self.gvk)
        return self._info

    def _kind_missing(self, error: Exception) -> None:
        self._info = None
        self.waiting_for_kind = True
        self._ready.set()
        self._restarts.labels(self._label, "missing_kind").inc()
        self._log.error(
            "kind not served (is its CustomResourceDefinition installed?); retrying",
            error=str(error),
            retry_in=self.options.missing_kind_retry,
        )

    def _restart(self, reason: str, message: str) -> None:
        self._restarts.labels(self._label, reason).inc()
        self._log.info(message, resource_version=self._resource_version)

    def _selector_query(self) -> list[tuple[str, str]]:
        query = []
        if self.options.label_selector is not None and not self.options.label_selector.empty:
            query.append(("labelSelector", str(self.options.label_selector)))
        if self.options.field_selector is not None and not self.options.field_selector.empty:
            query.append(("fieldSelector", str(self.options.field_selector)))
        return query

    async def _list(self, info: ResourceInfo) -> None:
        self._lists.inc()
        items, resource_version = await self._list_pages(info)
        old = self.store.replace(items)
        self._resource_version = resource_version
        self.waiting_for_kind = False
        initial = not self._listed_once
        self._listed_once = True
        self._synced.set()
        self._ready.set()
        self._log.debug("listed", objects=len(items), resource_version=resource_version)
        self._report_replace(old, items, initial)

    async def _list_pages(self, info: ResourceInfo) -> tuple[dict[str, bytes], str]:
        """Every object serialised by key, and the list's resourceVersion. Pages are stored
        as they come (only one page is ever decoded at a time); when a continue token
        expires the list is redone in one request, as client-go's pager does."""
        options: ListOptions = {
            "namespace": self.options.namespace,
            "label_selector": self.options.label_selector,
            "field_selector": self.options.field_selector,
            "limit": self.options.page_size,
        }
        items: dict[str, bytes] = {}
        resource_version = ""
        try:
            async for page in self._client.pages(info, **options):
                resource_version = resource_version or page.resource_version
                self._serialise(page.items, items)
        except Gone:
            if not items:
                raise
            items.clear()
            options["limit"] = None
            whole = await self._client.list(info, **options)
            resource_version = whole.resource_version
            self._serialise(whole.items, items)
        return items, resource_version

    def _serialise(self, objects: list[JSON], into: dict[str, bytes]) -> None:
        for obj in objects:
            stored = self._transform(obj)
            into[object_key(stored)] = encode(stored)

    def _report_replace(
        self, old: Mapping[str, bytes], new: Mapping[str, bytes], initial: bool
    ) -> None:
        if not self._handlers:
            return
        for key, raw in new.items():
            previous = old.get(key)
            if previous is None:
                self._added(orjson.loads(raw), initial, raw)
            elif previous != raw:
                self._updated(previous, orjson.loads(raw), raw)
        for key, raw in old.items():
            if key not in new:
                self._deleted(orjson.loads(raw), final_state_unknown=True)

    async def _watch(self, info: ResourceInfo) -> None:
        low, high = self.options.watch_timeout
        query = [
            ("watch", "1"),
            ("resourceVersion", self._resource_version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", str(int(low + (high - low) * self._rng()))),
            *self._selector_query(),
        ]
        path = collection_path(info, self.options.namespace)
        self._watches.inc()
        async with self._client.stream("GET", path, query=query) as response:
            content = response.content
            watchdog = _Watchdog(
                self._clock,
                self.options.inactivity_timeout,
                lambda: content.set_exception(_Inactive()),
            )
            received = False
            partial: list[bytes] = []  # the start of a line that has not ended yet
            try:
                # whatever has arrived at once, split into lines here: one await per read
                # rather than per event
                async for chunk in content.iter_any():
                    watchdog.touch()
                    received = True
                    lines = chunk.split(b"\n")
                    if partial:
                        partial.append(lines[0])
                        lines[0] = b"".join(partial)
                        partial.clear()
                    if lines[-1]:
                        partial.append(lines[-1])
                    for line in lines[:-1]:
                        if line.strip():
                            self._apply(orjson.loads(line), line)
            finally:
                watchdog.cancel()
            if not received:
                # closed at once (e.g. a stopping server): not a reason to reconnect at once
                raise ConnectionResetError("the watch ended without any event")
            last = b"".join(partial)
            if last.strip():
                self._apply(orjson.loads(last), last)

    def _apply(self, event: JSON, line: bytes) -> None:
        """Apply the watch `event` decoded from `line`."""
        kind, obj = event.get("type"), event.get("object") or {}
        if kind == "ERROR":
            status = orjson.dumps(obj)
            raise error_from_response(int(obj.get("code") or 500), status, None)
        if kind not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
            raise ValueError(f"unknown watch event type {kind!r}")
        resource_version = resource_version_of(obj)
        if kind != "BOOKMARK":
            sent = _object_bytes(line, kind, event) if self._keeps(obj) else None
            obj = self._transform(obj)
            key = object_key(obj)
            if kind == "DELETED":
                if self.store.remove(key) is not None:
                    self._deleted(obj, final_state_unknown=False)
            else:
                raw = encode(obj) if sent is None else sent
                previous = self.store.upsert(key, obj, raw)
                if previous is None:
                    self._added(obj, False, raw)
                elif previous != raw:
                    self._updated(previous, obj, raw)
        if resource_version:
            self._resource_version = resource_version

    def _transform(self, obj: JSON) -> JSON:
        transform = self.options.transform
        return transform(obj) if transform is not None else obj

    def _keeps(self, obj: JSON) -> bool:
        """Whether the transform is known to leave `obj` as it is."""
        transform = self.options.transform
        if transform is None:
            return True
        return transform is strip_managed_fields and "managedFields" not in (
            obj.get("metadata") or ()
        )

    # -- handlers --

    def _callbacks(self, name: str) -> list[Callable[..., object]]:
        found = (getattr(handler, name) for handler in self._handlers)
        return [callback for callback in found if callback is not None]

    def _added(self, obj: JSON, initial: bool, raw: bytes | None = None) -> None:
        callbacks = self._on_add
        for callback, copy in zip(callbacks, _copies(obj, len(callbacks), raw), strict=True):
            self._call(callback, copy, initial)

    def _updated(self, previous: bytes, new: JSON, raw: bytes) -> None:
        """Report the change from the stored `previous` to `new` (stored as `raw`), unless they
        are the same object written two ways."""
        callbacks = self._on_update
        if not callbacks:
            return
        old = orjson.loads(previous)
        if old == new:
            return
        if len(callbacks) == 1:
            self._call(callbacks[0], old, new)
            return
        count = len(callbacks)
        olds, news = _copies(old, count, previous), _copies(new, count, raw)
        for callback, old_copy, copy in zip(callbacks, olds, news, strict=True):
            self._call(callback, old_copy, copy)

    def _deleted(self, obj: JSON, final_state_unknown: bool) -> None:
        callbacks = self._on_delete
        for callback, copy in zip(callbacks, _copies(obj, len(callbacks)), strict=True):
            self._call(callback, copy, final_state_unknown)

    def _call(self, callback: Callable[..., object], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:  # a handler's failure must not stop the informer
            self._log.exception("event handler failed", handler=repr(callback))

    async def _resync(self, period: float) -> None:
        while True:
            await self._clock.sleep(period)
            if not self.has_synced:
                continue
            for _, raw in self.store.raw_items():
                for handler in self._handlers:
                    if handler.on_update is not None:
                        self._call(handler.on_update, orjson.loads(raw), orjson.loads(raw))
