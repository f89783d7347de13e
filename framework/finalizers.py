"""Adding and removing one finalizer without disturbing anyone else's.

Each change is a JSON patch whose first operation `test`s the whole current finalizer list
(against null when the object has none, which Kubernetes' json-patch and the local API server
accept), followed by `add` of the whole list, `add` at "-", or `remove` at the index. The server
applies it only if the list is still what we saw; otherwise it answers 422, and we re-read the
object and try again (at most `attempts` patches; each lost race is logged). A 422 after which
the re-read list is unchanged was not a lost race (e.g. a finalizer added to an object being
deleted) and is raised as it came. Only the named finalizer is ever removed.

Objects are dicts (wire form) or `KubeObject`s. When a patch is sent or the object is re-read,
`obj` is replaced in place by the server's copy, whole (as controller-runtime's Patch decodes
the answer into its argument), so a later update carries a resourceVersion that matches its
content. When `obj` already has (or lacks) the finalizer, nothing is sent and `obj` is
unchanged.
"""

from __future__ import annotations

from typing import Any

import structlog

from framework.client import Client
from framework.errors import Invalid
from framework.models import KubeObject
from framework.resources import GroupVersionKind

__all__ = [
    "DEFAULT_ATTEMPTS",
    "FinalizerRaceError",
    "ensure_finalizer",
    "has_finalizer",
    "remove_finalizer",
]

DEFAULT_ATTEMPTS = 5
_PATH = "/metadata/finalizers"

JSON = dict[str, Any]
Obj = KubeObject | JSON

_log = structlog.get_logger("kubeloop.finalizers")


class FinalizerRaceError(RuntimeError):
    """Every attempt found the finalizer list changed by someone else before our patch."""


def _finalizers(obj: Obj) -> list[str] | None:
    """The finalizer list as the server holds it; None when absent. A KubeObject cannot tell
    an absent list from an empty one, and servers omit empty lists: None."""
    if isinstance(obj, KubeObject):
        return list(obj.metadata.finalizers) or None
    finalizers: list[str] | None = (obj.get("metadata") or {}).get("finalizers")
    return finalizers


def has_finalizer(obj: Obj, finalizer: str) -> bool:
    return finalizer in (_finalizers(obj) or ())


def _add_operations(current: list[str] | None, finalizer: str) -> list[JSON]:
    if current is None:
        return [
            {"op": "test", "path": _PATH, "value": None},
            {"op": "add", "path": _PATH, "value": [finalizer]},
        ]
    return [
        {"op": "test", "path": _PATH, "value": current},
        {"op": "add", "path": f"{_PATH}/-", "value": finalizer},
    ]


def _remove_operations(current: list[str] | None, finalizer: str) -> list[JSON]:
    indexes = [index for index, name in enumerate(current or ()) if name == finalizer]
    return [
        {"op": "test", "path": _PATH, "value": current},
        *({"op": "remove", "path": f"{_PATH}/{index}"} for index in reversed(indexes)),
    ]


def _replace_contents(obj: Obj, answer: JSON) -> None:
    if isinstance(obj, KubeObject):
        fresh = type(obj).model_validate(answer)
        for name in type(obj).model_fields:
            setattr(obj, name, getattr(fresh, name))
        object.__setattr__(obj, "__pydantic_extra__", fresh.__pydantic_extra__)
    else:
        obj.clear()
        obj.update(answer)


async def _change(client: Client, obj: Obj, finalizer: str, *, add: bool, attempts: int) -> bool:
    """Make `finalizer`'s presence equal `add`; True if this call's patch did it."""
    current = _finalizers(obj)
    if (finalizer in (current or ())) == add:
        return False
    wire = obj.to_dict() if isinstance(obj, KubeObject) else obj
    gvk = GroupVersionKind.from_api_version(wire["apiVersion"], wire["kind"])
    meta = wire["metadata"]
    name, namespace = meta["name"], meta.get("namespace")
    operations = _add_operations if add else _remove_operations
    for attempt in range(1, attempts + 1):
        try:
            answer = await client.patch(
                gvk, name, operations(current, finalizer), namespace=namespace, patch_type="json"
            )
        except Invalid:
            fresh = await client.get(gvk, name, namespace=namespace)
            seen, current = current, _finalizers(fresh)
            if seen == current:
                raise
            _log.info(
                "finalizer list changed concurrently; re-read",
                kind=gvk.kind,
                namespace=namespace,
                name=name,
                finalizer=finalizer,
                operation="add" if add else "remove",
                attempt=attempt,
                expected=seen,
                found=current,
            )
            if (finalizer in (current or ())) == add:
                _replace_contents(obj, fresh)
                return False
        else:
            _replace_contents(obj, answer)
            return True
    raise FinalizerRaceError(
        f"{gvk.kind} {namespace}/{name}: finalizer list kept changing; "
        f"{'adding' if add else 'removing'} {finalizer!r} gave up after {attempts} attempts"
    )


async def ensure_finalizer(
    client: Client, obj: Obj, finalizer: str, *, attempts: int = DEFAULT_ATTEMPTS
) -> bool:
    """Add `finalizer` to the stored object unless `obj` already lists it. True if this call
    added it. Raises `FinalizerRaceError` after `attempts` lost races, and API errors as they
    come (NotFound; Invalid when the object is being deleted)."""
    return await _change(client, obj, finalizer, add=True, attempts=attempts)


async def remove_finalizer(
    client: Client, obj: Obj, finalizer: str, *, attempts: int = DEFAULT_ATTEMPTS
) -> bool:
    """Remove `finalizer` (every occurrence) from the stored object if `obj` lists it, leaving
    every other finalizer. True if this call removed it. Errors as `ensure_finalizer`."""
    return await _change(client, obj, finalizer, add=False, attempts=attempts)
