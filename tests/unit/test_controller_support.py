"""In-process stand-ins for the controller tests: an informer fed by the test, a cache of
them, a scripted reconciler, and bounded waits.

(A test_ module so that it sits with the tests it serves; it holds no tests itself.)"""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import Callable
from typing import Any

from framework.cache import Scope
from framework.controller import Kind, Request, Result
from framework.informer import EventHandler
from framework.models import KubeObject
from framework.resources import GroupVersionKind, ResourceInfo

JSON = dict[str, Any]
WIDGET = GroupVersionKind("example.com", "v1", "Widget")
CONFIGMAP = GroupVersionKind("", "v1", "ConfigMap")

# One outcome of a reconcile: a Result to return, or an exception to raise.
Outcome = Result | BaseException


def gvk_of(kind: Kind) -> GroupVersionKind:
    if isinstance(kind, GroupVersionKind):
        return kind
    if isinstance(kind, ResourceInfo):
        return kind.gvk
    assert issubclass(kind, KubeObject)
    return kind.resource_info().gvk


def obj(
    name: str,
    namespace: str = "default",
    *,
    kind: GroupVersionKind = WIDGET,
    rv: str = "1",
    generation: int = 1,
    **meta: Any,
) -> JSON:
    metadata = {
        "name": name,
        "namespace": namespace,
        "resourceVersion": rv,
        "generation": generation,
        "uid": f"uid-{name}",
        **meta,
    }
    return {"apiVersion": kind.api_version, "kind": kind.kind, "metadata": metadata}


class FakeInformer:
    """An informer whose events the test sends; `sync()` delivers the initial list."""

    def __init__(self, gvk: GroupVersionKind) -> None:
        self.gvk = gvk
        self.waiting_for_kind = False
        self.handlers: list[EventHandler] = []
        self.objects: dict[Request, JSON] = {}
        self._synced = asyncio.Event()

    @property
    def has_synced(self) -> bool:
        return self._synced.is_set()

    async def wait_for_sync(self) -> None:
        await self._synced.wait()

    def add_handler(self, handler: EventHandler) -> None:
        self.handlers.append(handler)
        if self.has_synced and handler.on_add is not None:
            for item in self.objects.values():
                handler.on_add(item, True)

    def sync(self, *objects: JSON) -> None:
        self.waiting_for_kind = False
        for item in objects:
            self.objects[Request.of(item)] = item
            self._each("on_add", item, True)
        self._synced.set()

    def add(self, item: JSON) -> None:
        self.objects[Request.of(item)] = item
        self._each("on_add", item, False)

    def update(self, old: JSON, new: JSON) -> None:
        self.objects[Request.of(new)] = new
        self._each("on_update", old, new)

    def delete(self, item: JSON) -> None:
        self.objects.pop(Request.of(item), None)
        self._each("on_delete", item, False)

    def _each(self, event: str, *args: Any) -> None:
        for handler in self.handlers:
            callback = getattr(handler, event)
            if callback is not None:
                callback(*args)


class FakeCache:
    """One `FakeInformer` per (kind, scope)."""

    def __init__(self) -> None:
        self.informers: dict[tuple[GroupVersionKind, Scope | None], FakeInformer] = {}

    def informer(self, kind: Kind, scope: Scope | None = None) -> FakeInformer:
        key = (gvk_of(kind), scope)
        if key not in self.informers:
            self.informers[key] = FakeInformer(key[0])
        return self.informers[key]

    def of(self, gvk: GroupVersionKind, scope: Scope | None = None) -> FakeInformer:
        return self.informers[gvk, scope]


class ScriptedReconciler:
    """Plays each request's script of outcomes in order (then `default`), recording calls
    begun and finished (the controller has handled an outcome once `finished` counts it), and
    the most reconciles of one key and of all keys in flight at once.

    `gate`, when set, is awaited inside every reconcile (to hold reconciles in flight).
    """

    def __init__(
        self,
        scripts: dict[Request, list[Outcome]] | None = None,
        default: Outcome | None = None,
        hook: Callable[[Request], object] | None = None,
    ) -> None:
        self.scripts = {key: list(value) for key, value in (scripts or {}).items()}
        self.default = default if default is not None else Result()
        self.hook = hook
        self.calls: list[Request] = []
        self.finished: Counter[Request] = Counter()
        self.gate: asyncio.Event | None = None
        self.active: Counter[Request] = Counter()
        self.max_per_key = 0
        self.max_total = 0

    def count(self, request: Request) -> int:
        """Reconciles of `request` begun."""
        return self.calls.count(request)

    async def reconcile(self, request: Request) -> Result:
        self.calls.append(request)
        self.active[request] += 1
        self.max_per_key = max(self.max_per_key, self.active[request])
        self.max_total = max(self.max_total, sum(self.active.values()))
        try:
            if self.hook is not None:
                self.hook(request)
            if self.gate is not None:
                await self.gate.wait()
            for _ in range(3):
                await asyncio.sleep(0)  # let other workers interleave
            script = self.scripts.get(request)
            outcome = script.pop(0) if script else self.default
            if isinstance(outcome, BaseException):
                raise outcome
            return outcome
        finally:
            self.active[request] -= 1
            self.finished[request] += 1


async def until(condition: Callable[[], object], within: float = 5.0) -> None:
    """Wait (bounded by `within` seconds) until `condition()` is true."""
    async with asyncio.timeout(within):
        for _ in itertools.count():
            if condition():
                return
            await asyncio.sleep(0.001)


async def settle(rounds: int = 50) -> None:
    """Let every runnable task run until the loop is quiet (nothing here waits on time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)
