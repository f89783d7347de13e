"""The shared cache: one informer per (kind, scope) for every controller, and cache-backed reads.

`Cache.informer(kind, scope)` returns the informer for that kind and scope (namespace, label
and field selectors), creating it on first use and starting it when the cache is running.
Reads (`get`, `list`, `list_by_index`) are served from the kind's read informer, whose scope
is the one configured for the kind in `by_kind` (default: everything), and decode a fresh copy
for each caller: plain dicts when the kind is given as a GroupVersionKind or ResourceInfo,
model instances when given a `KubeObject` class. Selector matching uses `framework.selectors`.

Read-your-own-writes: after the framework writes an object it calls `wrote(obj)` (or
`deleted(...)`); a read of that key then waits up to `read_your_writes_timeout` seconds for the
cache to hold that resourceVersion or newer (or the deletion), and on timeout reads from the
API instead, counting it in `kubeloop_cache_read_your_writes_fallbacks_total`.

A kind the server does not serve (CRD missing) does not hold up `wait_for_sync`; its informer
keeps retrying, and reads of it raise `NoKindMatch` until the kind appears.

Default namespaces (controller-runtime's `DefaultNamespaces`): a cache given `namespaces` holds
namespaced kinds only in those namespaces. The API has no multi-namespace watch, so a scope
without a namespace becomes one informer per namespace (shared with explicit scopes of that
namespace), presented as one `MultiNamespaceInformer` whose store merges theirs. A scope naming
a namespace outside the set is a ValueError; reading a namespace outside it raises
`NamespaceNotCached`. Cluster-scoped kinds are cached cluster-wide as before. Whether a kind is
namespaced comes from its ResourceInfo, its model class or the client's registry; for other
kinds the running cache asks discovery (and a read does first), retrying every
`missing_kind_retry` seconds while the kind is not served: meanwhile its informer has no
members and is waiting for the kind. With namespaces, a Role in each namespace (plus a
ClusterRole for the cluster-scoped kinds) is enough RBAC.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, overload

import orjson
import structlog
from prometheus_client import CollectorRegistry, Counter

from framework.client import Client
from framework.clock import REAL_CLOCK, Clock
from framework.errors import NoKindMatch, NotFound
from framework.informer import (
    EventHandler,
    IndexFunc,
    Informer,
    InformerOptions,
    Store,
    object_key,
    resource_version_of,
    selector_matches,
)
from framework.metrics import per_registry
from framework.models import KubeObject
from framework.resources import GroupVersionKind, ResourceInfo
from framework.selectors import FieldSelector, LabelSelector

_log = structlog.get_logger("kubeloop.cache")

__all__ = ["Cache", "MultiNamespaceInformer", "NamespaceNotCached", "Scope"]

JSON = dict[str, Any]
M = TypeVar("M", bound=KubeObject)
Kind = type[KubeObject] | GroupVersionKind | ResourceInfo


@dataclass(frozen=True, slots=True)
class Scope:
    """Which objects of a kind an informer holds: one namespace (None: all) and selectors."""

    namespace: str | None = None
    label_selector: LabelSelector | None = None
    field_selector: FieldSelector | None = None

    def contains(self, obj: Mapping[str, Any]) -> bool:
        namespace = (obj.get("metadata") or {}).get("namespace")
        if self.namespace is not None and namespace != self.namespace:
            return False
        return selector_matches(obj, self.label_selector, self.field_selector)


_EVERYTHING = Scope()


@per_registry
def _fallbacks_of(registry: CollectorRegistry) -> Counter:
    """The read-your-own-writes fallback counter of `registry`, shared by its caches."""
    return Counter(
        "kubeloop_cache_read_your_writes_fallbacks",
        "Cache reads that gave up waiting for the framework's own write and read the API.",
        ["kind"],
        registry=registry,
    )


def _gvk(kind: Kind) -> GroupVersionKind:
    if isinstance(kind, GroupVersionKind):
        return kind
    if isinstance(kind, ResourceInfo):
        return kind.gvk
    return kind.resource_info().gvk


def _wire(obj: KubeObject | JSON) -> JSON:
    return obj.to_dict() if isinstance(obj, KubeObject) else obj


class NamespaceNotCached(LookupError):
    """A read of a namespace the cache does not hold (outside its `namespaces`)."""


class _MergedStore(Store):
    """A read view over the stores of a `MultiNamespaceInformer`'s members: keys
    ("namespace/name") route to their namespace's store (a cluster-scoped kind has one store);
    merged reads are in key order. Indexes added before the members exist are added to them
    when they are attached."""

    def __init__(self, clock: Clock) -> None:
        self._stores: dict[str, Store] = {}
        self._namespaced = True
        self._indexers: dict[str, IndexFunc] = {}
        self._clock = clock

    def attach(self, stores: Mapping[str, Store], namespaced: bool) -> None:
        self._stores = dict(sorted(stores.items()))
        self._namespaced = namespaced
        if self._indexers:
            for store in self._stores.values():
                store.add_indexers(self._indexers)

    def _of(self, key: str) -> Store | None:
        if not self._namespaced:
            return next(iter(self._stores.values()), None)
        return self._stores.get(key.partition("/")[0])

    def __len__(self) -> int:
        return sum(len(store) for store in self._stores.values())

    def __contains__(self, key: object) -> bool:
        store = self._of(key) if isinstance(key, str) else None
        return store is not None and key in store

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def keys(self) -> builtins.list[str]:
        return [key for store in self._stores.values() for key in sorted(store.keys())]

    def raw(self, key: str) -> bytes | None:
        store = self._of(key)
        return None if store is None else store.raw(key)

    def raw_items(self) -> Iterator[tuple[str, bytes]]:
        return (pair for store in self._stores.values() for pair in store.raw_items())

    def get(self, key: str) -> JSON | None:
        store = self._of(key)
        return None if store is None else store.get(key)

    def index_keys(self, index: str, value: str) -> builtins.list[str]:
        return [k for store in self._stores.values() for k in store.index_keys(index, value)]

    def by_index(self, index: str, value: str) -> builtins.list[JSON]:
        return [obj for store in self._stores.values() for obj in store.by_index(index, value)]

    def list(
        self,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> builtins.list[JSON]:
        stores = list(self._stores.values())
        if namespace is not None and self._namespaced:
            stores = [self._stores[namespace]] if namespace in self._stores else []
        return [o for s in stores for o in s.list(namespace, label_selector, field_selector)]

    def add_indexers(self, indexers: Mapping[str, IndexFunc]) -> None:
        self._indexers.update(indexers)
        for store in self._stores.values():
            store.add_indexers(indexers)

    def expect(self, key: str, resource_version: str | None) -> None:
        store = self._of(key)
        if store is not None:
            store.expect(key, resource_version)

    def pending(self) -> int:
        return sum(store.pending() for store in self._stores.values())

    def settled(self, key: str | None) -> bool:
        if key is None:
            return all(store.settled(None) for store in self._stores.values())
        store = self._of(key)
        return store is None or store.settled(key)

    async def settle(self, key: str | None, max_wait: float) -> bool:
        deadline = self._clock.now() + max_wait
        found = self._of(key) if key is not None else None
        stores = self._stores.values() if key is None else [found] if found else []
        for store in stores:
            if not await store.settle(key, max(0.0, deadline - self._clock.now())):
                return False
        return True


class MultiNamespaceInformer(Informer):
    """The informer of a kind in a cache's namespaces, presented as one `Informer` so callers
    need not know: one member informer per namespace for a namespaced kind (the API has no
    multi-namespace watch), the one cluster-wide informer for a cluster-scoped kind. Its own
    reflector never runs; `store` is a read view merging the members' stores, handlers go to
    every member, and it has synced when every member has. Until the cache learns whether the
    kind is namespaced (its CRD is missing) it has no members and waits for the kind."""

    def __init__(self, gvk: GroupVersionKind, options: InformerOptions, clock: Clock) -> None:
        self.gvk = gvk
        self.options = options
        self.members: dict[str, Informer] = {}
        self.namespaced = True
        self.store = self._view = _MergedStore(clock)
        self._handlers: builtins.list[EventHandler] = []
        self._resolved = asyncio.Event()

    def resolve(self, members: Mapping[str, Informer], namespaced: bool) -> None:
        """Take the members (by namespace; one for a cluster-scoped kind), giving them the
        handlers and indexes added so far."""
        self.members = dict(sorted(members.items()))
        self.namespaced = namespaced
        self._view.attach({ns: member.store for ns, member in self.members.items()}, namespaced)
        for member in self.members.values():
            for handler in self._handlers:
                member.add_handler(handler)
        self._resolved.set()

    @property
    def resolved(self) -> bool:
        return self._resolved.is_set()

    @property
    def namespaces(self) -> builtins.list[str]:
        """The namespaces of the members (none for a cluster-scoped kind)."""
        return list(self.members) if self.namespaced else []

    @property
    def has_synced(self) -> bool:
        return self.resolved and all(member.has_synced for member in self.members.values())

    @property
    def waiting_for_kind(self) -> bool:  # type: ignore[override]  # derived: read-only
        return not self.resolved or any(m.waiting_for_kind for m in self.members.values())

    @property
    def resource_version(self) -> str:
        """Empty: each member has its own resourceVersion; there is none for the group."""
        return ""

    def start(self) -> None:
        for member in self.members.values():
            member.start()

    async def stop(self) -> None:
        for member in self.members.values():
            await member.stop()

    async def wait_for_sync(self) -> None:
        await self._resolved.wait()
        for member in self.members.values():
            await member.wait_for_sync()

    async def wait_until_ready(self) -> None:
        """Return at once while the kind is unknown (a missing kind does not hold anyone up),
        else when every member is ready."""
        for member in self.members.values():
            await member.wait_until_ready()

    def add_handler(self, handler: EventHandler) -> None:
        self._handlers.append(handler)
        for member in self.members.values():
            member.add_handler(handler)


class Cache:
    """Shared informers and reads from them (see the module docstring).

    `options` is the template of every informer's options (its namespace and selectors are
    replaced by the scope's); `by_kind` restricts what the cache holds of a kind (and so what
    reads of it see); `sync_timeout` bounds how long a read waits for its informer's first
    sync; `namespaces` (empty: all) are the only namespaces the cache holds of namespaced kinds
    (see the module docstring). `start()` starts the informers created so far and any created
    later; `stop()` stops them all.
    """

    def __init__(
        self,
        client: Client,
        *,
        options: InformerOptions | None = None,
        by_kind: Mapping[GroupVersionKind, Scope] | None = None,
        read_your_writes_timeout: float = 5.0,
        sync_timeout: float = 120.0,
        namespaces: Sequence[str] = (),
        clock: Clock = REAL_CLOCK,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._client = client
        self._options = options or InformerOptions()
        self._by_kind = dict(by_kind or {})
        self._ryow_timeout = read_your_writes_timeout
        self._sync_timeout = sync_timeout
        self._clock = clock
        self._registry = registry if registry is not None else CollectorRegistry()
        self._informers: dict[tuple[GroupVersionKind, Scope], Informer] = {}
        # The same informers by (apiVersion, kind), for the write hooks.
        self._by_type: dict[tuple[str, str], list[tuple[Scope, Informer]]] = {}
        self._namespaces = tuple(sorted(set(namespaces)))
        self._groups: dict[tuple[GroupVersionKind, Scope], MultiNamespaceInformer] = {}
        self._unresolved: dict[tuple[GroupVersionKind, Scope], Kind] = {}
        self._learner: asyncio.Task[None] | None = None
        self._synced_readers: dict[Kind, Informer] = {}
        self._started = False
        self._fallbacks = _fallbacks_of(self._registry)

    # -- informers --

    @property
    def namespaces(self) -> tuple[str, ...]:
        """The namespaces the cache holds of namespaced kinds (empty: all)."""
        return self._namespaces

    def informer(self, kind: Kind, scope: Scope | None = None) -> Informer:
        """The shared informer of `kind` in `scope` (default: the kind's read scope); with
        `namespaces`, a `MultiNamespaceInformer` for a namespaced kind (or one whose scope is
        not known yet) in a scope without a namespace, and a ValueError for a scope naming a
        namespace outside them."""
        gvk = _gvk(kind)
        scope = scope if scope is not None else self._by_kind.get(gvk, _EVERYTHING)
        if not self._namespaces:
            return self._single(kind, gvk, scope)
        namespaced = self._namespaced(kind)
        if scope.namespace is not None:
            if namespaced is not False and scope.namespace not in self._namespaces:
                raise ValueError(_outside(gvk, scope.namespace, self._namespaces))
            return self._single(kind, gvk, scope)
        group = self._groups.get((gvk, scope))
        if group is None:
            if namespaced is False:
                return self._single(kind, gvk, scope)
            group = MultiNamespaceInformer(gvk, self._options, self._clock)
            self._groups[gvk, scope] = group
        if group.resolved:
            return group
        if namespaced is None:
            self._unresolved[gvk, scope] = kind
            self._learn()
        else:
            self._unresolved.pop((gvk, scope), None)
            names = self._namespaces if namespaced else (None,)
            members = {
                ns or "": self._single(kind, gvk, replace(scope, namespace=ns)) for ns in names
            }
            group.resolve(members, namespaced)
        return group

    def _namespaced(self, kind: Kind) -> bool | None:
        """Whether `kind` is namespaced (None: the client does not know the kind yet)."""
        if isinstance(kind, ResourceInfo):
            return kind.namespaced
        if isinstance(kind, type):
            return kind.resource_info().namespaced
        info = self._client.resources.get(kind)
        return None if info is None else info.namespaced

    def _learn(self) -> None:
        """Start asking discovery for the kinds of unresolved groups (when running)."""
        if self._started and self._unresolved and (self._learner is None or self._learner.done()):
            self._learner = asyncio.create_task(self._learn_kinds(), name="cache: learn kinds")

    async def _learn_kinds(self) -> None:
        """Resolve the groups whose kinds discovery now knows; retry the others every
        `missing_kind_retry` seconds (while their CRDs are missing)."""
        while self._unresolved:
            for (gvk, scope), kind in list(self._unresolved.items()):
                try:
                    await self._client.ensure_resource(gvk)
                except NoKindMatch:
                    _log.info("kind not served yet; waiting for its CRD", gvk=str(gvk))
                except Exception as error:  # unreachable or failing: try again later
                    _log.warning("discovery failed; retrying", gvk=str(gvk), error=repr(error))
                if self._client.resources.get(gvk) is not None:
                    self.informer(kind, scope)
            if self._unresolved:
                await self._clock.sleep(self._options.missing_kind_retry)

    def _single(self, kind: Kind, gvk: GroupVersionKind, scope: Scope) -> Informer:
        informer = self._informers.get((gvk, scope))
        if informer is None:
            options = replace(
                self._options,
                namespace=scope.namespace,
                label_selector=scope.label_selector,
                field_selector=scope.field_selector,
            )
            target = (
                kind if isinstance(kind, GroupVersionKind | ResourceInfo) else kind.__resource__
            )
            informer = Informer(
                self._client,
                target or gvk,
                options,
                clock=self._clock,
                registry=self._registry,
            )
            self._informers[gvk, scope] = informer
            self._by_type.setdefault((gvk.api_version, gvk.kind), []).append((scope, informer))
            if self._started:
                informer.start()
        return informer

    def informers(self) -> list[Informer]:
        """Every informer that runs (the members of a `MultiNamespaceInformer`, not it)."""
        return list(self._informers.values())

    def add_indexers(
        self, kind: Kind, indexers: Mapping[str, IndexFunc], scope: Scope | None = None
    ) -> None:
        """Add indexes to the informer of `kind` (in `scope`), for `list_by_index`."""
        self.informer(kind, scope).store.add_indexers(indexers)

    async def start(self) -> None:
        self._started = True
        for informer in self._informers.values():
            informer.start()
        self._learn()

    async def stop(self) -> None:
        self._started = False
        self._synced_readers.clear()
        if self._learner is not None:
            self._learner.cancel()
            await asyncio.gather(self._learner, return_exceptions=True)
        for informer in list(self._informers.values()):
            await informer.stop()

    async def wait_for_sync(self) -> None:
        """Wait until every informer has synced, except those whose kind is not served
        (bound it with `asyncio.timeout`)."""
        for informer in list(self._informers.values()):
            await informer.wait_until_ready()

    # -- reads --

    async def _read_informer(self, kind: Kind) -> Informer:
        """The synced informer that serves reads of `kind`."""
        informer = self._synced_readers.get(kind)
        if informer is not None:
            return informer
        if not self._started:
            raise RuntimeError("the cache is not started")
        if self._namespaces and isinstance(kind, GroupVersionKind):
            await self._client.ensure_resource(kind)  # NoKindMatch while it is not served
        informer = self.informer(kind)
        async with asyncio.timeout(self._sync_timeout):
            await informer.wait_until_ready()
        if not informer.has_synced:
            raise NoKindMatch(f"the server does not serve {informer.gvk}")
        self._synced_readers[kind] = informer
        return informer

    @overload
    async def get(self, kind: type[M], name: str, *, namespace: str | None = None) -> M: ...
    @overload
    async def get(
        self, kind: GroupVersionKind | ResourceInfo, name: str, *, namespace: str | None = None
    ) -> JSON: ...
    async def get(
        self, kind: Kind, name: str, *, namespace: str | None = None
    ) -> KubeObject | JSON:
        """The cached object (a fresh copy). NotFound when the cache does not hold it."""
        informer = await self._read_informer(kind)
        _check_namespace(informer, namespace)
        key = f"{namespace}/{name}" if namespace else name
        store = informer.store
        if not store.settled(key) and not await store.settle(key, self._ryow_timeout):
            self._fallbacks.labels(str(informer.gvk)).inc()
            return await self._client.get(kind, name, namespace=namespace)
        raw = store.raw(key)
        if raw is None:
            raise NotFound(404, "NotFound", f'{informer.gvk.kind} "{name}" not found')
        return _decode(kind, raw)

    @overload
    async def list(
        self,
        kind: type[M],
        *,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> builtins.list[M]: ...
    @overload
    async def list(
        self,
        kind: GroupVersionKind | ResourceInfo,
        *,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> builtins.list[JSON]: ...
    async def list(
        self,
        kind: Kind,
        *,
        namespace: str | None = None,
        label_selector: LabelSelector | None = None,
        field_selector: FieldSelector | None = None,
    ) -> builtins.list[Any]:
        """The cached objects (in `namespace`) matching the selectors, in key order. Waits
        for the framework's pending writes of this kind like `get`, else lists from the API."""
        informer = await self._read_informer(kind)
        _check_namespace(informer, namespace)
        store = informer.store
        if not store.settled(None) and not await store.settle(None, self._ryow_timeout):
            self._fallbacks.labels(str(informer.gvk)).inc()
            result = await self._client.list(
                kind,
                namespace=namespace,
                label_selector=label_selector,
                field_selector=field_selector,
            )
            return result.items
        objects = informer.store.list(namespace, label_selector, field_selector)
        return _typed(kind, objects)

    async def settled_store(self, kind: Kind) -> Store:
        """The store serving reads of `kind`, once it holds the framework's pending writes of
        that kind (waiting at most `read_your_writes_timeout`, as `list_by_index` does): for
        callers that read keys and indexes and decode only the objects they need."""
        informer = await self._read_informer(kind)
        await informer.store.settle(None, self._ryow_timeout)
        return informer.store

    @overload
    async def list_by_index(self, kind: type[M], index: str, value: str) -> builtins.list[M]: ...
    @overload
    async def list_by_index(
        self, kind: GroupVersionKind | ResourceInfo, index: str, value: str
    ) -> builtins.list[JSON]: ...
    async def list_by_index(self, kind: Kind, index: str, value: str) -> builtins.list[Any]:
        """The cached objects filed under `value` in the index `index` (see `add_indexers`;
        "namespace" is built in), in key order."""
        informer = await self._read_informer(kind)
        await informer.store.settle(None, self._ryow_timeout)
        return _typed(kind, informer.store.by_index(index, value))

    # -- read-your-own-writes --

    def wrote(self, obj: KubeObject | JSON) -> None:
        """The framework wrote `obj` (as the server returned it): reads of its key wait for
        its resourceVersion (or, in a scope it no longer belongs to, for its removal)."""
        wire = _wire(obj)
        informers = self._by_type.get((str(wire.get("apiVersion")), str(wire.get("kind"))), ())
        if not informers:
            return
        key, version = object_key(wire), resource_version_of(wire)
        for scope, informer in informers:
            if scope.contains(wire):
                informer.store.expect(key, version)
            elif key in informer.store:
                informer.store.expect(key, None)

    def deleted(self, kind: Kind, name: str, namespace: str | None = None) -> None:
        """The framework deleted this object: reads of its key wait until it is gone from the
        cache (or marked for deletion, when finalizers hold it)."""
        gvk = _gvk(kind)
        key = f"{namespace}/{name}" if namespace else name
        for _, informer in self._by_type.get((gvk.api_version, gvk.kind), ()):
            informer.store.expect(key, None)


def _check_namespace(informer: Informer, namespace: str | None) -> None:
    """Raise NamespaceNotCached when `informer` holds some namespaces, not `namespace`."""
    if (
        isinstance(informer, MultiNamespaceInformer)
        and informer.namespaced
        and namespace is not None
        and namespace not in informer.members
    ):
        raise NamespaceNotCached(_outside(informer.gvk, namespace, informer.namespaces))


def _outside(gvk: GroupVersionKind, namespace: str, namespaces: Iterable[str]) -> str:
    return f"{gvk} in namespace {namespace!r}: the cache holds only {', '.join(namespaces)}"


def _decode(kind: Kind, raw: bytes) -> KubeObject | JSON:
    if isinstance(kind, type):
        return kind.model_validate_json(raw)
    decoded: JSON = orjson.loads(raw)
    return decoded


def _typed(kind: Kind, objects: list[JSON]) -> builtins.list[Any]:
    if isinstance(kind, type):
        return [kind.model_validate(obj) for obj in objects]
    return objects
