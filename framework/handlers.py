"""From informer events to work-queue requests: request mappers and predicates.

A controller watches kinds through informers; each watch pairs a *mapper* (which requests an
object stands for) with *predicates* (which events matter), and `event_handler` turns the
pair into an informer `EventHandler` that adds the requests to the controller's queue.

- `EnqueueRequestForObject`: the object itself.
- `EnqueueRequestForOwner(owner_kind)`: the owner named by the object's owner references (by
  default only the controller reference), as controller-runtime's `EnqueueRequestForOwner`.
- `EnqueueRequestsFromMapFunc(fn)`: whatever `fn(obj)` returns, e.g. `requests_for_annotated_owner`
  for cluster-scoped children that record a namespaced owner in an annotation.

Events, as controller-runtime's handlers see them: an add is a *create*; an update maps both
the old and the new object (an owner that changed gets both owners reconciled); a delete maps
the last known state. Adds from an informer's initial list, and updates that do not change
the resourceVersion (resyncs), go in at `LOW_PRIORITY`, so live changes are served first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, NamedTuple, Protocol, runtime_checkable

from framework.informer import EventHandler
from framework.models import KubeObject
from framework.ownership import owner_from_child
from framework.resources import GroupVersionKind

__all__ = [
    "LOW_PRIORITY",
    "AnnotationChanged",
    "EnqueueRequestForObject",
    "EnqueueRequestForOwner",
    "EnqueueRequestsFromMapFunc",
    "Funcs",
    "GenerationChanged",
    "LabelChanged",
    "MapFunc",
    "Predicate",
    "Request",
    "RequestMapper",
    "ResourceVersionChanged",
    "event_handler",
    "requests_for_annotated_owner",
]

JSON = dict[str, Any]

LOW_PRIORITY = -100
"""controller-runtime's `handler.LowPriority`: initial-list adds and resyncs."""


class Request(NamedTuple):
    """What a controller reconciles: one object by namespace ("" if cluster-scoped) and name.

    Immutable, hashable and ordered by (namespace, name). A named tuple, not a dataclass: it
    keys every work-queue and rate-limiter map, and a tuple hashes and compares in C.
    """

    namespace: str
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any] | KubeObject) -> Request:
        """The request for an object (a wire dict or a `KubeObject`)."""
        if isinstance(obj, KubeObject):
            return cls(obj.metadata.namespace or "", obj.metadata.name or "")
        meta = obj.get("metadata") or {}
        return cls(str(meta.get("namespace") or ""), str(meta.get("name") or ""))

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta: Mapping[str, Any] = obj.get("metadata") or {}
    return meta


# --- predicates -----------------------------------------------------------------------------


class Predicate:
    """Filters events before they reach the queue; each method answers "enqueue?".

    The base class lets every event through; subclasses override what they filter. Combine
    with `&`, `|` and `~` (or `And`, `Or`, `Not`).
    """

    def create(self, obj: JSON) -> bool:
        return True

    def update(self, old: JSON, new: JSON) -> bool:
        return True

    def delete(self, obj: JSON) -> bool:
        return True

    def __and__(self, other: Predicate) -> Predicate:
        return And(self, other)

    def __or__(self, other: Predicate) -> Predicate:
        return Or(self, other)

    def __invert__(self) -> Predicate:
        return Not(self)


class Funcs(Predicate):
    """A predicate from functions; an event whose function is not given passes."""

    def __init__(
        self,
        create: Callable[[JSON], bool] | None = None,
        update: Callable[[JSON, JSON], bool] | None = None,
        delete: Callable[[JSON], bool] | None = None,
    ) -> None:
        self._create = create
        self._update = update
        self._delete = delete

    def create(self, obj: JSON) -> bool:
        return self._create is None or self._create(obj)

    def update(self, old: JSON, new: JSON) -> bool:
        return self._update is None or self._update(old, new)

    def delete(self, obj: JSON) -> bool:
        return self._delete is None or self._delete(obj)


class _MetadataChanged(Predicate):
    """Updates pass only when `metadata[field]` differs; creates and deletes pass."""

    field = ""

    def update(self, old: JSON, new: JSON) -> bool:
        return _meta(old).get(self.field) != _meta(new).get(self.field)


class GenerationChanged(_MetadataChanged):
    """Updates that change `metadata.generation` (the spec, for kinds with a status
    subresource): status-only writes and resyncs are filtered out."""

    field = "generation"


class LabelChanged(_MetadataChanged):
    """Updates that change the labels."""

    field = "labels"


class AnnotationChanged(_MetadataChanged):
    """Updates that change the annotations."""

    field = "annotations"


class ResourceVersionChanged(_MetadataChanged):
    """Updates that change the resourceVersion (filters out resyncs)."""

    field = "resourceVersion"


class And(Predicate):
    """Passes when every predicate passes (no predicate: always)."""

    def __init__(self, *predicates: Predicate) -> None:
        self.predicates = predicates

    def create(self, obj: JSON) -> bool:
        return all(p.create(obj) for p in self.predicates)

    def update(self, old: JSON, new: JSON) -> bool:
        return all(p.update(old, new) for p in self.predicates)

    def delete(self, obj: JSON) -> bool:
        return all(p.delete(obj) for p in self.predicates)


class Or(Predicate):
    """Passes when any predicate passes (no predicate: never)."""

    def __init__(self, *predicates: Predicate) -> None:
        self.predicates = predicates

    def create(self, obj: JSON) -> bool:
        return any(p.create(obj) for p in self.predicates)

    def update(self, old: JSON, new: JSON) -> bool:
        return any(p.update(old, new) for p in self.predicates)

    def delete(self, obj: JSON) -> bool:
        return any(p.delete(obj) for p in self.predicates)


class Not(Predicate):
    """Passes when `predicate` does not."""

    def __init__(self, predicate: Predicate) -> None:
        self.predicate = predicate

    def create(self, obj: JSON) -> bool:
        return not self.predicate.create(obj)

    def update(self, old: JSON, new: JSON) -> bool:
        return not self.predicate.update(old, new)

    def delete(self, obj: JSON) -> bool:
        return not self.predicate.delete(obj)


# --- mappers --------------------------------------------------------------------------------


@runtime_checkable
class RequestMapper(Protocol):
    """Which requests an event on `obj` stands for."""

    def requests(self, obj: JSON) -> Iterable[Request]: ...


MapFunc = Callable[[JSON], Iterable[Request]]


class EnqueueRequestForObject:
    """The object itself."""

    def requests(self, obj: JSON) -> Iterable[Request]:
        return (Request.of(obj),)


class EnqueueRequestForOwner:
    """The owners of kind `owner_kind` named by the object's owner references: only the
    controller reference when `controller_only` (the default), else every matching reference.

    References match on API group and kind (any version). The owner's namespace is the
    object's when `owner_namespaced`, "" when not, and when None it is inferred: a namespaced
    object's owner is taken to share its namespace (a cluster-scoped owner of a namespaced
    object then needs `owner_namespaced=False`).
    """

    def __init__(
        self,
        owner_kind: GroupVersionKind,
        *,
        controller_only: bool = True,
        owner_namespaced: bool | None = None,
    ) -> None:
        self.owner_kind = owner_kind
        self.controller_only = controller_only
        self.owner_namespaced = owner_namespaced

    def requests(self, obj: JSON) -> Iterable[Request]:
        meta = _meta(obj)
        namespace = str(meta.get("namespace") or "") if self.owner_namespaced is not False else ""
        found = []
        for ref in meta.get("ownerReferences") or ():
            if self.controller_only and ref.get("controller") is not True:
                continue
            group = GroupVersionKind.from_api_version(str(ref.get("apiVersion", "")), "").group
            if group == self.owner_kind.group and ref.get("kind") == self.owner_kind.kind:
                found.append(Request(namespace, str(ref.get("name", ""))))
        return found


class EnqueueRequestsFromMapFunc:
    """Whatever `fn(obj)` returns (it must not block: it runs in the informer's task)."""

    def __init__(self, fn: MapFunc) -> None:
        self.fn = fn

    def requests(self, obj: JSON) -> Iterable[Request]:
        return self.fn(obj)


def requests_for_annotated_owner(obj: JSON) -> list[Request]:
    """A map function: the owner named by the `kubeloop.dev/owner` annotation (see
    `framework.ownership.owner_annotations`), for children that cannot carry an owner
    reference to it; nothing when the annotation is absent."""
    owner = owner_from_child(obj)
    return [] if owner is None else [Request(*owner)]


# --- informer events -> queue ---------------------------------------------------------------


class RequestQueue(Protocol):
    """Where handlers put requests (a `RateLimitingQueue[Request]`)."""

    def add(self, item: Request, priority: int = 0) -> None: ...


def event_handler(
    mapper: RequestMapper, queue: RequestQueue, predicates: Iterable[Predicate] = ()
) -> EventHandler:
    """An informer handler adding `mapper`'s requests to `queue` for the events every
    predicate lets through (see the module docstring for priorities)."""
    gate = And(*predicates)

    def on_add(obj: JSON, is_initial_list: bool) -> None:
        if gate.create(obj):
            priority = LOW_PRIORITY if is_initial_list else 0
            for request in mapper.requests(obj):
                queue.add(request, priority)

    def on_update(old: JSON, new: JSON) -> None:
        if gate.update(old, new):
            resync = _meta(old).get("resourceVersion") == _meta(new).get("resourceVersion")
            priority = LOW_PRIORITY if resync else 0
            for request in dict.fromkeys([*mapper.requests(old), *mapper.requests(new)]):
                queue.add(request, priority)

    def on_delete(obj: JSON, final_state_unknown: bool) -> None:
        if gate.delete(obj):
            for request in mapper.requests(obj):
                queue.add(request)

    return EventHandler(on_add=on_add, on_update=on_update, on_delete=on_delete)
