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
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar, overload

import orjson
from prometheus_client import CollectorRegistry, Counter

from framework.client import Client
from framework.clock import REAL_CLOCK, Clock
from framework.errors import NoKindMatch, NotFound
from framework.informer import (
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

__all__ = ["Cache", "Scope"]

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


class Cache:
    """Shared informers and reads from them (see the module docstring).

    `options` is the template of every informer's options (its namespace and selectors are
    replaced by the scope's); `by_kind` restricts what the cache holds of a kind (and so what
    reads of it see); `sync_timeout` bounds how long a read waits for its informer's first
    sync. `start()` starts the informers created so far and any created later; `stop()` stops
    them all.
    """

    def __init__(
        self,
        client: Client,
        *,
        options: InformerOptions | None = None,
        by_kind: Mapping[GroupVersionKind, Scope] | None = None,
        read_your_writes_timeout: float = 5.0,
        sync_timeout: float = 120.0,
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
        self._synced_readers: dict[Kind, Informer] = {}
        self._started = False
        self._fallbacks = _fallbacks_of(self._registry)

    # -- informers --

    def informer(self, kind: Kind, scope: Scope | None = None) -> Informer:
        """The shared informer of `kind` in `scope` (default: the kind's read scope)."""
        gvk = _gvk(kind)
        scope = scope if scope is not None else self._by_kind.get(gvk, _EVERYTHING)
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
            if self._started:
                informer.start()
        return informer

    def informers(self) -> list[Informer]:
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

    async def stop(self) -> None:
        self._started = False
        self._synced_readers.clear()
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
        gvk = GroupVersionKind.from_api_version(str(wire.get("apiVersion")), str(wire.get("kind")))
        key, version = object_key(wire), resource_version_of(wire)
        for (informer_gvk, scope), informer in self._informers.items():
            if informer_gvk != gvk:
                continue
            if scope.contains(wire):
                informer.store.expect(key, version)
            elif key in informer.store:
                informer.store.expect(key, None)

    def deleted(self, kind: Kind, name: str, namespace: str | None = None) -> None:
        """The framework deleted this object: reads of its key wait until it is gone from the
        cache (or marked for deletion, when finalizers hold it)."""
        gvk = _gvk(kind)
        key = f"{namespace}/{name}" if namespace else name
        for (informer_gvk, _), informer in self._informers.items():
            if informer_gvk == gvk:
                informer.store.expect(key, None)


def _decode(kind: Kind, raw: bytes) -> KubeObject | JSON:
    if isinstance(kind, type):
        return kind.model_validate_json(raw)
    decoded: JSON = orjson.loads(raw)
    return decoded


def _typed(kind: Kind, objects: list[JSON]) -> builtins.list[Any]:
    if isinstance(kind, type):
        return [kind.model_validate(obj) for obj in objects]
    return objects
