"""Garbage collection: dependents follow their owners, as kube-controller-manager's GC does.

An object's `ownerReferences` name its owners by uid (and apiVersion, kind, name to find them).
An owner is *absent* when no object of that kind and name has that uid (already gone), or when
it cannot own the dependent (a cluster-scoped dependent with a namespaced owner); it is
*waiting* while being deleted with the `foregroundDeletion` finalizer; else *solid*.

- A dependent with no solid owner and at least one owner reference is deleted: Background by
  default, Orphan or Foreground if it carries that finalizer, Foreground when a waiting owner
  blocks on it and it has dependents of its own. With a solid owner, references to absent or
  waiting owners are removed instead.
- An owner being deleted with `orphan` (propagationPolicy=Orphan) has its uid removed from
  every dependent's ownerReferences, then loses the finalizer (and goes, if it was the last).
- An owner being deleted with `foregroundDeletion` has its blocking dependents
  (`blockOwnerDeletion: true`) deleted; once none remain it loses the finalizer.

The collector never polls: `observe` is called for every stored write (the REST layer's hook),
which queues work for the objects concerned (a dependent's owners are looked up when it is
written with new or changed references, and again when one of them is deleted); a task on the
running loop works the queue off after the request that caused it was answered, and ends when
the queue is empty. Writes made to the storage directly, around the REST layer, are not seen
(except when the dependents index is first built from storage).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from framework.envtest.apiserver.errors import ApiError

if TYPE_CHECKING:
    from framework.envtest.apiserver.catalog import ServedResource
    from framework.envtest.apiserver.rest import Rest
    from framework.envtest.apiserver.watch import StoredObject

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"
_log = logging.getLogger(__name__)


class ObjectKey(NamedTuple):
    """Where an object is stored: resource key, namespace ("" if cluster-scoped), name (a
    tuple: every write makes and hashes one)."""

    resource: str
    namespace: str
    name: str

    @classmethod
    def of(cls, resource: str, obj: dict[str, Any]) -> ObjectKey:
        meta = obj["metadata"]
        return cls(resource, meta.get("namespace") or "", meta["name"])


Refs = dict[str, dict[str, Any]]  # an object's ownerReferences by owner uid


def _owner_refs(obj: dict[str, Any]) -> Refs:
    refs = obj["metadata"].get("ownerReferences") or []
    return {str(r["uid"]): r for r in refs if isinstance(r, dict) and r.get("uid")}


class GarbageCollector:
    """Keeps dependents in step with their owners' deletion (see the module docstring)."""

    def __init__(self, rest: Rest) -> None:
        self._rest = rest
        self._queue: deque[Callable[[], None]] = deque()
        self._task: asyncio.Task[None] | None = None
        # owner uid -> dependents, and each dependent's references; built from storage when
        # first needed, then kept up to date by `observe`
        self._dependents: dict[str, set[ObjectKey]] | None = None
        self._refs: dict[ObjectKey, Refs] = {}

    # -- input -----------------------------------------------------------------------------

    def observe(self, resource: str, obj: dict[str, Any], deleted: bool) -> None:
        """An object of `resource` was stored (or removed, if `deleted`): queue what follows."""
        key = ObjectKey.of(resource, obj)
        meta = obj["metadata"]
        fresh = self._dependents is None  # the index is built now, with this write in it
        refs = {} if deleted else _owner_refs(obj)
        previous = self._index(key, refs)
        released = [ref for uid, ref in previous.items() if refs.get(uid) != ref]
        if deleted:
            uid = str(meta.get("uid", ""))
            self._enqueue(lambda: self._owner_gone(uid))
            released = [*released, *(meta.get("ownerReferences") or [])]
        # an owner waiting for its dependents may wait for this one no longer
        for ref in released:
            self._enqueue(functools.partial(self._recheck_owner, ref, key.namespace))
        if deleted:
            return
        # whether the owners are there is checked when the references change; after that,
        # their deletion (`_owner_gone`, `_process_deleting_owner`) brings the dependents back
        if meta.get("ownerReferences") and (fresh or refs != previous):
            self._enqueue(lambda: self._attempt_delete(key))
        if meta.get("deletionTimestamp") and {ORPHAN, FOREGROUND} & set(
            meta.get("finalizers") or []
        ):
            self._enqueue(lambda: self._process_deleting_owner(key))

    @property
    def busy(self) -> bool:
        """Whether work is queued or being done (for tests and diagnostics)."""
        return bool(self._queue) or (self._task is not None and not self._task.done())

    def _enqueue(self, work: Callable[[], None]) -> None:
        self._queue.append(work)
        if self._task is not None and not self._task.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (setup code): the next write inside one drains it
            return
        self._task = loop.create_task(self._run(), name="envtest-garbage-collector")

    async def _run(self) -> None:
        while self._queue:
            work = self._queue.popleft()
            try:
                work()
            except ApiError as error:
                _log.debug("garbage collection step failed: %s", error.message)
            except Exception:  # a bug here must not stop collection
                _log.exception("garbage collection step failed")
            await asyncio.sleep(0)

    # -- the dependents index --------------------------------------------------------------

    def _index_of(self) -> dict[str, set[ObjectKey]]:
        if self._dependents is None:
            self._dependents = {}
            storage = self._rest.storage
            for resource in sorted({s.key for s in self._rest.catalog.all()}):
                for stored in storage.list(resource, None):
                    self._index(ObjectKey.of(resource, stored.obj), _owner_refs(stored.obj))
        return self._dependents

    def _index(self, key: ObjectKey, refs: Refs) -> Refs:
        """Record `key`'s owner references; returns the previous ones."""
        dependents = self._index_of()
        old = self._refs.pop(key, {})
        for uid in old.keys() - refs.keys():
            keys = dependents.get(uid)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del dependents[uid]
        if refs:
            self._refs[key] = refs
            for uid in refs:
                dependents.setdefault(uid, set()).add(key)
        return old

    def _dependents_of(self, uid: str) -> list[tuple[ObjectKey, StoredObject]]:
        """The stored objects naming `uid` among their owners."""
        found = []
        for key in sorted(self._index_of().get(uid, ()), key=str):
            dependent = self._get(key)
            if dependent is not None and uid in _owner_refs(dependent.obj):
                found.append((key, dependent))
        return found

    # -- lookups ---------------------------------------------------------------------------

    def _served(self, resource: str, stored: StoredObject) -> ServedResource | None:
        """How to write `stored` back: its resource at the version it is stored at."""
        candidates = [s for s in self._rest.catalog.all() if s.key == resource]
        api_version = stored.obj.get("apiVersion")
        exact = [s for s in candidates if s.api_version == api_version]
        return next(iter(exact or candidates), None)

    def _owner(self, ref: dict[str, Any], namespace: str) -> tuple[ObjectKey, StoredObject] | None:
        """The owner a reference of a dependent in `namespace` names, if present."""
        group = str(ref.get("apiVersion", "")).rpartition("/")[0]
        served = next(
            (
                s
                for s in self._rest.catalog.all()
                if s.info.group == group and s.info.kind == ref.get("kind")
            ),
            None,
        )
        if served is None or (served.info.namespaced and not namespace):
            return None
        key = ObjectKey(
            served.key, namespace if served.info.namespaced else "", str(ref.get("name", ""))
        )
        stored = self._get(key)
        if stored is None or stored.obj["metadata"].get("uid") != ref.get("uid"):
            return None
        return key, stored

    def _get(self, key: ObjectKey) -> StoredObject | None:
        return self._rest.storage.get(key.resource, key.namespace, key.name)

    # -- work ------------------------------------------------------------------------------

    def _owner_gone(self, uid: str) -> None:
        for key, _ in self._dependents_of(uid):
            self._attempt_delete(key)

    def _recheck_owner(self, ref: dict[str, Any], namespace: str) -> None:
        owner = self._owner(ref, namespace)
        if owner is not None:
            self._process_deleting_owner(owner[0])

    def _attempt_delete(self, key: ObjectKey) -> None:
        stored = self._get(key)
        if stored is None:
            return
        meta = stored.obj["metadata"]
        refs = [r for r in meta.get("ownerReferences") or [] if isinstance(r, dict)]
        served = self._served(key.resource, stored)
        if meta.get("deletionTimestamp") or not refs or served is None:
            return
        solid = False
        gone: set[str] = set()
        waiting = False
        for ref in refs:
            owner = self._owner(ref, key.namespace)
            if owner is not None and not _deleting_with(owner[1].obj, FOREGROUND):
                solid = True
                continue
            gone.add(str(ref.get("uid")))
            waiting = waiting or owner is not None
        if solid:
            if gone:
                self._remove_owner_references(served, stored, gone)
            return
        finalizers = meta.get("finalizers") or []
        if waiting and self._dependents_of(str(meta.get("uid"))):
            policy = "Foreground"
        elif ORPHAN in finalizers:
            policy = "Orphan"
        elif FOREGROUND in finalizers:
            policy = "Foreground"
        else:
            policy = "Background"
        self._rest.delete(
            served,
            key.namespace,
            key.name,
            {"propagationPolicy": policy, "preconditions": {"uid": meta.get("uid")}},
        )

    def _process_deleting_owner(self, key: ObjectKey) -> None:
        stored = self._get(key)
        served = None if stored is None else self._served(key.resource, stored)
        if stored is None or served is None:
            return
        uid = str(stored.obj["metadata"].get("uid"))
        if _deleting_with(stored.obj, ORPHAN):
            for dependent_key, dependent in self._dependents_of(uid):
                dependent_served = self._served(dependent_key.resource, dependent)
                if dependent_served is not None:
                    self._remove_owner_references(dependent_served, dependent, {uid})
            self._remove_finalizer(served, key, ORPHAN)
        elif _deleting_with(stored.obj, FOREGROUND):
            for dependent_key in self._blocking(uid):
                self._attempt_delete(dependent_key)
            if not self._blocking(uid):
                self._remove_finalizer(served, key, FOREGROUND)

    def _blocking(self, uid: str) -> list[ObjectKey]:
        """The dependents that block owner `uid`'s deletion (blockOwnerDeletion: true)."""
        return [
            key
            for key, dependent in self._dependents_of(uid)
            if any(
                r.get("uid") == uid and r.get("blockOwnerDeletion")
                for r in dependent.obj["metadata"].get("ownerReferences") or []
            )
        ]

    def _remove_owner_references(
        self, served: ServedResource, stored: StoredObject, uids: set[str]
    ) -> None:
        obj: dict[str, Any] = orjson.loads(stored.raw)
        meta = obj["metadata"]
        meta["ownerReferences"] = [
            r for r in meta.get("ownerReferences") or [] if r.get("uid") not in uids
        ]
        if not meta["ownerReferences"]:
            del meta["ownerReferences"]
        self._rest.update(served, meta.get("namespace") or "", meta["name"], obj)

    def _remove_finalizer(self, served: ServedResource, key: ObjectKey, finalizer: str) -> None:
        stored = self._get(key)
        if stored is None:
            return
        obj: dict[str, Any] = orjson.loads(stored.raw)
        meta = obj["metadata"]
        meta["finalizers"] = [f for f in meta.get("finalizers") or [] if f != finalizer]
        self._rest.update(served, key.namespace, key.name, obj)


def _deleting_with(obj: dict[str, Any], finalizer: str) -> bool:
    meta = obj["metadata"]
    return bool(meta.get("deletionTimestamp")) and finalizer in (meta.get("finalizers") or [])
