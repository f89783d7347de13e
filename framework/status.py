"""`StatusWriter`: status writes that send only what the caller's mutation changed.

`patch_status(obj, mutate)` snapshots the object (the base: a model's wire form; for a dict, a
shallow copy holding a deep copy of its status, since a mutation changes the status only), runs
`mutate(obj)` (sync or async), and sends the JSON merge patch of `status` between base and
result to the `/status` subresource (`application/merge-patch+json`). Consequences:
- nothing the mutation left alone is sent, so a subtree written concurrently by another actor
  (e.g. `status.workspaceStatus.atProvider`) survives, and a value absent from the mutation's
  source is never written as null unless the mutation removed it;
- an empty diff sends no request (empty objects count as no change);
- the patch carries the base's resourceVersion as an optimistic lock on request and always
  when it holds a list (a merge patch replaces lists whole: two writers of `conditions` would
  clobber each other otherwise);
- on 409 Conflict the object is re-read from the API, the mutation re-run on it and the diff
  re-sent, up to `attempts` times in all;
- on success `obj` takes the server's answer (status and metadata); on failure its status is
  restored to the base and the error raised;
- every successful write is reported to the `observer` (the cache, for read-your-own-writes).

`update_status(obj)` PUTs the whole status instead: the clobbering choice (it overwrites what
other writers put there since `obj` was read, or fails with Conflict on a stale resourceVersion).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

import orjson

from framework.client import Client
from framework.errors import Conflict
from framework.models import KubeObject
from framework.patch import diff_contains_list, merge_diff
from framework.resources import GroupVersionKind

__all__ = ["StatusWriter", "WriteObserver"]

JSON = dict[str, Any]
T = TypeVar("T", bound=KubeObject | dict[str, Any])
Mutation = Callable[[T], object] | Callable[[T], Awaitable[object]]


class WriteObserver(Protocol):
    """Told of every object the writer stored (`framework.cache.Cache` is one)."""

    def wrote(self, obj: KubeObject | JSON) -> None: ...


def _wire(obj: KubeObject | JSON) -> JSON:
    """A deep copy of the object's wire form."""
    if isinstance(obj, KubeObject):
        return obj.to_dict()
    copied: JSON = orjson.loads(orjson.dumps(obj))
    return copied


def _snapshot(obj: KubeObject | JSON) -> JSON:
    """The base of a status write: a model's wire form; a dict's top level and metadata as
    they are, its status deep-copied."""
    if isinstance(obj, KubeObject):
        return obj.to_dict()
    status = obj.get("status")
    return {**obj, "status": None if status is None else orjson.loads(orjson.dumps(status))}


def _view(obj: KubeObject | JSON) -> JSON:
    """The object's wire form, to read only (a dict is itself; the diff copies what it sends)."""
    return obj.to_dict() if isinstance(obj, KubeObject) else obj


def _assign(obj: KubeObject | JSON, wire: JSON) -> None:
    """Make `obj` hold `wire`'s metadata and status (in place)."""
    if isinstance(obj, dict):
        obj["metadata"] = wire.get("metadata") or {}
        if wire.get("status") is None:
            obj.pop("status", None)
        else:
            obj["status"] = wire["status"]
        return
    fresh = type(obj).model_validate(wire)
    obj.metadata = fresh.metadata
    setattr(obj, "status", getattr(fresh, "status", None))  # noqa: B010 - status is not declared on KubeObject


def _prune(patch: JSON) -> JSON:
    """The merge patch without empty objects, which change nothing (an absent status that
    the mutation turned into `{}` is no change)."""
    pruned = {}
    for key, value in patch.items():
        if isinstance(value, dict):
            value = _prune(value)
            if not value:
                continue
        pruned[key] = value
    return pruned


def _same(old: object, new: object) -> bool:
    """Equal with the same encoding (found without a walk); False lets the diff decide."""
    if old is new:
        return True
    try:
        return old == new and orjson.dumps(old) == orjson.dumps(new)
    except TypeError:  # not JSON as it is
        return False


def _status_patch(base: JSON, after: JSON) -> JSON:
    """The merge patch of `status` from `base` to `after`, without empty objects. Top-level
    fields with an equal encoding are left out before diffing (a write changes a few fields
    of a large status; a no-op reconcile changes none)."""
    old, new = base.get("status"), after.get("status")
    if _same(old, new):
        return {}
    if isinstance(old, dict) and isinstance(new, dict):
        changed = {key for key in old.keys() | new.keys() if not _same(old.get(key), new.get(key))}
        old = {key: value for key, value in old.items() if key in changed}
        new = {key: value for key, value in new.items() if key in changed}
    return _prune(merge_diff({"status": old}, {"status": new}))


def _like(obj: T, wire: JSON) -> T:
    """`wire` as the same type as `obj` (model or dict)."""
    if isinstance(obj, KubeObject):
        return type(obj).model_validate(wire)
    return wire  # type: ignore[return-value]


class StatusWriter:
    """Writes objects' status through `client` (see the module docstring)."""

    def __init__(
        self, client: Client, *, observer: WriteObserver | None = None, attempts: int = 5
    ) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._client = client
        self._observer = observer
        self._attempts = attempts

    async def patch_status(
        self, obj: T, mutate: Mutation[T], *, optimistic_lock: bool = False
    ) -> bool:
        """Apply `mutate` to `obj` and write the status it changed. Returns whether a status
        was written (False: the mutation changed nothing)."""
        original = _snapshot(obj)
        target = obj
        attempt = 1
        try:
            while True:
                base = original if target is obj else _snapshot(target)
                result = mutate(target)
                if inspect.isawaitable(result):
                    await result
                after = _view(target)
                patch = _status_patch(base, after)
                if not patch:
                    if target is not obj:
                        _assign(obj, after)
                    return False
                try:
                    locked = optimistic_lock or diff_contains_list(patch)
                    written = await self._send(base, patch, locked)
                except Conflict:
                    if attempt >= self._attempts:
                        raise
                    attempt += 1
                    target = _like(obj, await self._reread(base))
                    continue
                _assign(obj, written)
                self._notify(written)
                return True
        except BaseException:
            _assign(obj, original)
            raise

    async def update_status(self, obj: T) -> None:
        """PUT the whole status of `obj` (locked by its resourceVersion): overwrites anything
        other writers changed since, unlike `patch_status`. `obj` takes the server's answer."""
        written = await self._client.update(_wire(obj), subresource="status")
        _assign(obj, written)
        self._notify(written)

    async def _send(self, base: JSON, patch: JSON, locked: bool) -> JSON:
        meta = base.get("metadata") or {}
        return await self._client.patch(
            _gvk(base),
            str(meta.get("name") or ""),
            patch,
            namespace=meta.get("namespace"),
            subresource="status",
            resource_version=str(meta.get("resourceVersion")) if locked else None,
        )

    async def _reread(self, base: JSON) -> JSON:
        meta = base.get("metadata") or {}
        return await self._client.get(
            _gvk(base), str(meta.get("name") or ""), namespace=meta.get("namespace")
        )

    def _notify(self, written: JSON) -> None:
        if self._observer is not None:
            self._observer.wrote(written)


def _gvk(wire: JSON) -> GroupVersionKind:
    return GroupVersionKind.from_api_version(str(wire.get("apiVersion")), str(wire.get("kind")))
