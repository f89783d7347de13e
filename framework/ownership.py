"""Owner references with controller-runtime's rules, and the label pattern for owners that
Kubernetes cannot record.

Pure functions on objects given as dicts (wire form) or `KubeObject`s; the setters change the
object in place, as controller-runtime's controllerutil does, and nothing is sent to the server.

- `set_controller_reference(owner, obj)` makes `owner` the controller of `obj` (controller and
  blockOwnerDeletion true). `AlreadyOwnedError` if another object already controls it; setting
  the same controller again only refreshes the reference.
- `set_owner_reference(owner, obj)` adds a plain (non-controller) reference.
- Both upsert: a reference to the same object (same API group, kind and name; the version does
  not matter) is replaced, any other is kept.
- Scope rules (`OwnershipError`): a namespaced owner cannot own a cluster-scoped object, nor an
  object in another namespace; a cluster-scoped owner may own anything. Whether an object is
  namespaced comes from `resources` (a `ResourceRegistry`) when given and it knows the kind;
  otherwise it is inferred from `metadata.namespace` (set: namespaced), as controller-runtime
  does.

A namespaced object that must own a cluster-scoped one (a NodeClaim, a Terraform Workspace)
records the relation with `owner_labels` (selectable: `kubeloop.dev/owner-uid=<uid>`) and
`owner_annotations` (`kubeloop.dev/owner: <namespace>/<name>`); `owner_from_child` reads the
owner back for a map function, and the owner's finalizer deletes the child.
"""

from __future__ import annotations

from typing import Any

from framework.models import KubeObject, OwnerReference
from framework.resources import GroupVersionKind, ResourceRegistry

__all__ = [
    "OWNER_ANNOTATION",
    "OWNER_UID_LABEL",
    "AlreadyOwnedError",
    "OwnershipError",
    "get_controller_of",
    "is_controlled_by",
    "owner_annotations",
    "owner_from_child",
    "owner_labels",
    "set_controller_reference",
    "set_owner_reference",
]

OWNER_UID_LABEL = "kubeloop.dev/owner-uid"
OWNER_ANNOTATION = "kubeloop.dev/owner"
_LABEL_VALUE_MAX = 63

Obj = KubeObject | dict[str, Any]


class OwnershipError(ValueError):
    """The owner reference breaks a rule: scope, namespace, or an owner that is not stored yet
    (no uid)."""


class AlreadyOwnedError(OwnershipError):
    """The object already has a different controller, named by `existing`."""

    def __init__(self, obj: Obj, existing: OwnerReference) -> None:
        namespace, name = _namespace(obj), _meta(obj).get("name", "")
        super().__init__(
            f"object {namespace}/{name} is already owned by another {existing.kind} "
            f"controller {existing.name}"
        )
        self.existing = existing


def _wire(obj: Obj) -> dict[str, Any]:
    return obj.to_dict() if isinstance(obj, KubeObject) else obj


def _meta(obj: Obj) -> dict[str, Any]:
    meta: dict[str, Any] = _wire(obj).get("metadata") or {}
    return meta


def _namespace(obj: Obj) -> str:
    return str(_meta(obj).get("namespace") or "")


def _owner_references(obj: Obj) -> list[OwnerReference]:
    if isinstance(obj, KubeObject):
        return list(obj.metadata.owner_references)
    return [OwnerReference.model_validate(ref) for ref in _meta(obj).get("ownerReferences") or []]


def _store_owner_references(obj: Obj, refs: list[OwnerReference]) -> None:
    if isinstance(obj, KubeObject):
        obj.metadata.owner_references = refs
    else:
        obj.setdefault("metadata", {})["ownerReferences"] = [ref.to_dict() for ref in refs]


def _group(api_version: str) -> str:
    return GroupVersionKind.from_api_version(api_version, "").group


def _same_object(a: OwnerReference, b: OwnerReference) -> bool:
    """controller-runtime's referSameObject: group (not version), kind and name."""
    return (_group(a.api_version), a.kind, a.name) == (_group(b.api_version), b.kind, b.name)


def _is_namespaced(obj: Obj, resources: ResourceRegistry | None) -> bool:
    wire = _wire(obj)
    if resources is not None:
        gvk = GroupVersionKind.from_api_version(wire.get("apiVersion", ""), wire.get("kind", ""))
        info = resources.get(gvk)
        if info is not None:
            return info.namespaced
    return bool(_namespace(obj))


def _reference_to(owner: Obj, *, controller: bool) -> OwnerReference:
    wire = _wire(owner)
    meta = wire.get("metadata") or {}
    api_version, kind = wire.get("apiVersion"), wire.get("kind")
    name, uid = meta.get("name"), meta.get("uid")
    if not (api_version and kind and name and uid):
        raise OwnershipError("an owner needs apiVersion, kind, metadata.name and metadata.uid")
    return OwnerReference(
        api_version=api_version,
        kind=kind,
        name=name,
        uid=uid,
        controller=True if controller else None,
        block_owner_deletion=True if controller else None,
    )


def _validate_scope(owner: Obj, obj: Obj, resources: ResourceRegistry | None) -> None:
    if not _is_namespaced(owner, resources):
        return
    owner_namespace = _namespace(owner)
    if not _is_namespaced(obj, resources):
        raise OwnershipError(
            "cluster-scoped resource must not have a namespace-scoped owner, "
            f"owner's namespace {owner_namespace}"
        )
    if owner_namespace != _namespace(obj):
        raise OwnershipError(
            "cross-namespace owner references are disallowed, "
            f"owner's namespace {owner_namespace}, obj's namespace {_namespace(obj)}"
        )


def _upsert(obj: Obj, ref: OwnerReference) -> None:
    refs = _owner_references(obj)
    for index, existing in enumerate(refs):
        if _same_object(existing, ref):
            refs[index] = ref
            break
    else:
        refs.append(ref)
    _store_owner_references(obj, refs)


def set_controller_reference(
    owner: Obj, obj: Obj, *, resources: ResourceRegistry | None = None
) -> None:
    """Make `owner` the controller of `obj` (in place). Raises `AlreadyOwnedError` if another
    object controls `obj`, `OwnershipError` if the scope rules forbid the reference."""
    ref = _reference_to(owner, controller=True)
    existing = get_controller_of(obj)
    if existing is not None and not _same_object(existing, ref):
        raise AlreadyOwnedError(obj, existing)
    _validate_scope(owner, obj, resources)
    _upsert(obj, ref)


def set_owner_reference(owner: Obj, obj: Obj, *, resources: ResourceRegistry | None = None) -> None:
    """Add (or refresh) a non-controller reference from `obj` to `owner` (in place); a
    reference to the same owner is replaced, so this also demotes a controller reference.
    Raises `OwnershipError` if the scope rules forbid it."""
    ref = _reference_to(owner, controller=False)
    _validate_scope(owner, obj, resources)
    _upsert(obj, ref)


def get_controller_of(obj: Obj) -> OwnerReference | None:
    """The owner reference marked controller, if any."""
    return next((ref for ref in _owner_references(obj) if ref.controller), None)


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    """Whether `obj`'s controller reference names `owner`'s uid."""
    controller = get_controller_of(obj)
    uid = _meta(owner).get("uid")
    return controller is not None and bool(uid) and controller.uid == uid


def owner_labels(owner: Obj) -> dict[str, str]:
    """The label that marks a child of `owner` (and selects the children of `owner`)."""
    uid = str(_meta(owner).get("uid") or "")
    if not uid:
        raise OwnershipError("an owner needs metadata.uid")
    if len(uid) > _LABEL_VALUE_MAX:
        raise OwnershipError(f"uid {uid!r} is longer than a label value may be (63)")
    return {OWNER_UID_LABEL: uid}


def owner_annotations(owner: Obj) -> dict[str, str]:
    """The annotation naming `owner` as "<namespace>/<name>" ("<name>" if cluster-scoped)."""
    name = str(_meta(owner).get("name") or "")
    if not name:
        raise OwnershipError("an owner needs metadata.name")
    namespace = _namespace(owner)
    return {OWNER_ANNOTATION: f"{namespace}/{name}" if namespace else name}


def owner_from_child(child: Obj) -> tuple[str, str] | None:
    """(namespace, name) of the owner recorded by `owner_annotations` (namespace "" for a
    cluster-scoped owner); None when the child carries no such annotation."""
    value = (_meta(child).get("annotations") or {}).get(OWNER_ANNOTATION)
    if not value:
        return None
    namespace, _, name = str(value).rpartition("/")
    return namespace, name
