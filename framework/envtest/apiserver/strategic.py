"""Strategic merge patch (`application/strategic-merge-patch+json`) for built-in kinds.

Semantics follow apimachinery's `strategicpatch` as the API server applies it:

- Maps merge recursively; a null value deletes the key. `{"$patch": "replace"}` in a map
  replaces it with the rest of that map, `{"$patch": "delete"}` removes it (apimachinery
  leaves `{}` there). Directives never reach the result, even in values new to the target.
- `$retainKeys: [...]` in a map drops the target's keys not listed (every non-null key of the
  patch map must be listed).
- Lists whose field has `patchStrategy: merge` merge: lists of objects element-wise by the
  field's `patchMergeKey` (matching elements merge recursively, others are added), lists of
  primitives as a union. In a merging list of objects, `{"<key>": v, "$patch": "delete"}`
  removes the element(s) with that key and `{"$patch": "replace"}` makes the list exactly the
  patch's other elements. Element order is apimachinery's, quirks included: patch elements
  keep the patch's order, target-only elements keep theirs, and an element new to the list
  goes before the target's (kubectl patch shows an added container first).
- `$setElementOrder/<field>: [...]` (kubectl apply sends it) orders the merged list: listed
  elements in that order, the target's other elements interleaved by their target order.
- `$deleteFromPrimitiveList/<field>: [...]` removes those values from a primitive list.
- Every other list is replaced whole by the patch's list.

Which lists merge, and by which key, comes from the `patchStrategy`/`patchMergeKey` tags of
k8s.io/api (core/v1, apps/v1, batch/v1), kept below as a declarative table of the structs
controllers touch. Fields outside the table merge as maps and replace as lists. Custom
resources have no such tags: the API server must answer 415 for them (see `is_builtin_kind`),
as kube-apiserver does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from framework.patch import json_equal

__all__ = [
    "StrategicMergeError",
    "is_builtin_kind",
    "strategic_merge_apply",
]

PATCH_DIRECTIVE = "$patch"
RETAIN_KEYS = "$retainKeys"
SET_ELEMENT_ORDER = "$setElementOrder/"
DELETE_FROM_PRIMITIVE_LIST = "$deleteFromPrimitiveList/"

_DELETED = object()  # a map patched with {"$patch": "delete"}: its key goes away


class StrategicMergeError(ValueError):
    """A strategic merge patch that cannot be applied: an unknown or misplaced directive, a
    merge-list element without its merge key, a malformed `$setElementOrder`,
    `$retainKeys` or `$deleteFromPrimitiveList`. The message names the field path (the API
    server answers 422 or 400 with it)."""


@dataclass(frozen=True)
class _Field:
    """Patch metadata of one field: the struct its value (or list element) is, and for lists
    whether they merge (`patchStrategy: merge`) and by which key (None: a primitive list)."""

    struct: str | None = None
    merge: bool = False
    key: str | None = None


def _by(key: str, struct: str | None = None) -> _Field:
    return _Field(struct=struct, merge=True, key=key)


def _of(struct: str) -> _Field:
    return _Field(struct=struct)


_UNION = _Field(merge=True)
_NO_SCHEMA = _Field()

# Struct name -> fields with patch metadata or a nested struct holding some.
_STRUCTS: dict[str, dict[str, _Field]] = {
    "ObjectMeta": {"ownerReferences": _by("uid"), "finalizers": _UNION},
    "Object": {"metadata": _of("ObjectMeta")},
    "Container": {
        "ports": _by("containerPort"),
        "env": _by("name"),
        "volumeMounts": _by("mountPath"),
        "volumeDevices": _by("devicePath"),
    },
    "PodSpec": {
        "volumes": _by("name"),
        "initContainers": _by("name", "Container"),
        "containers": _by("name", "Container"),
        "ephemeralContainers": _by("name", "Container"),
        "imagePullSecrets": _by("name"),
        "hostAliases": _by("ip"),
        "topologySpreadConstraints": _by("topologyKey"),
        "resourceClaims": _by("name"),
        "schedulingGates": _by("name"),
    },
    "PodStatus": {
        "conditions": _by("type"),
        "podIPs": _by("ip"),
        "hostIPs": _by("ip"),
        "resourceClaimStatuses": _by("name"),
    },
    "PodTemplateSpec": {"metadata": _of("ObjectMeta"), "spec": _of("PodSpec")},
    "Conditions": {"conditions": _by("type")},
    "Pod": {"metadata": _of("ObjectMeta"), "spec": _of("PodSpec"), "status": _of("PodStatus")},
    "PodTemplate": {"metadata": _of("ObjectMeta"), "template": _of("PodTemplateSpec")},
    "TemplateSpec": {"template": _of("PodTemplateSpec")},
    "Workload": {
        "metadata": _of("ObjectMeta"),
        "spec": _of("TemplateSpec"),
        "status": _of("Conditions"),
    },
    "JobTemplateSpec": {"metadata": _of("ObjectMeta"), "spec": _of("TemplateSpec")},
    "CronJob": {"metadata": _of("ObjectMeta"), "spec": _of("CronJobSpec")},
    "CronJobSpec": {"jobTemplate": _of("JobTemplateSpec")},
    "Service": {
        "metadata": _of("ObjectMeta"),
        "spec": _of("ServiceSpec"),
        "status": _of("Conditions"),
    },
    "ServiceSpec": {"ports": _by("port")},
    "Node": {"metadata": _of("ObjectMeta"), "spec": _of("NodeSpec"), "status": _of("NodeStatus")},
    "NodeSpec": {"podCIDRs": _UNION},
    "NodeStatus": {"conditions": _by("type"), "addresses": _by("type")},
    "ServiceAccount": {"metadata": _of("ObjectMeta"), "secrets": _by("name")},
    "WithConditions": {"metadata": _of("ObjectMeta"), "status": _of("Conditions")},
}

# (API group, kind) of every built-in kind served -> root struct. Built-in kinds without merge
# lists of their own use "Object" (metadata's ownerReferences and finalizers still merge).
_KINDS: dict[tuple[str, str], str] = {
    ("", "Pod"): "Pod",
    ("", "PodTemplate"): "PodTemplate",
    ("", "ReplicationController"): "Workload",
    ("", "Service"): "Service",
    ("", "Node"): "Node",
    ("", "ServiceAccount"): "ServiceAccount",
    ("", "Namespace"): "WithConditions",
    ("", "PersistentVolumeClaim"): "WithConditions",
    ("", "ConfigMap"): "Object",
    ("", "Secret"): "Object",
    ("", "Event"): "Object",
    ("", "Endpoints"): "Object",
    ("", "PersistentVolume"): "Object",
    ("", "ResourceQuota"): "Object",
    ("", "LimitRange"): "Object",
    ("apps", "Deployment"): "Workload",
    ("apps", "ReplicaSet"): "Workload",
    ("apps", "StatefulSet"): "Workload",
    ("apps", "DaemonSet"): "Workload",
    ("apps", "ControllerRevision"): "Object",
    ("batch", "Job"): "Workload",
    ("batch", "CronJob"): "CronJob",
    ("coordination.k8s.io", "Lease"): "Object",
    ("events.k8s.io", "Event"): "Object",
    ("rbac.authorization.k8s.io", "Role"): "Object",
    ("rbac.authorization.k8s.io", "RoleBinding"): "Object",
    ("rbac.authorization.k8s.io", "ClusterRole"): "Object",
    ("rbac.authorization.k8s.io", "ClusterRoleBinding"): "Object",
    ("apiextensions.k8s.io", "CustomResourceDefinition"): "WithConditions",
}


def is_builtin_kind(kind: str | tuple[str, str]) -> bool:
    """Whether the kind (name, or (group, kind)) is a built-in kind this module knows.

    The API server decides 415 for custom resources by how it serves them (CRD-backed), not by
    this table; this answers for callers without that knowledge."""
    return _root_struct(kind) is not None


def strategic_merge_apply(
    target: dict[str, Any], patch: dict[str, Any], kind: str | tuple[str, str]
) -> dict[str, Any]:
    """`target` with the strategic merge `patch` applied, as a new object (inputs untouched).

    `kind` is a kind name ("Deployment") or an (API group, kind) pair (("apps", "Deployment"));
    an unknown built-in kind gets only ObjectMeta's merge lists. Raises StrategicMergeError for a
    malformed patch."""
    if not isinstance(patch, dict):
        raise StrategicMergeError("a strategic merge patch must be a JSON object")
    merged = _merge_map(
        copy.deepcopy(target), copy.deepcopy(patch), _root_struct(kind) or "Object", ""
    )
    if merged is _DELETED:
        raise StrategicMergeError('"$patch": "delete" cannot delete the whole object')
    assert isinstance(merged, dict)
    return merged


def _root_struct(kind: str | tuple[str, str]) -> str | None:
    if isinstance(kind, tuple):
        return _KINDS.get(kind)
    return next((struct for (_, name), struct in _KINDS.items() if name == kind), None)


def _field(struct: str | None, name: str) -> _Field:
    return _STRUCTS.get(struct or "", {}).get(name, _NO_SCHEMA)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _merge_map(
    original: dict[str, Any], patch: dict[str, Any], struct: str | None, path: str
) -> dict[str, Any] | object:
    """Merge `patch` into `original` (both owned: mutated and returned), or _DELETED."""
    if PATCH_DIRECTIVE in patch:
        directive = patch.pop(PATCH_DIRECTIVE)
        if directive == "delete":
            return _DELETED
        if directive == "replace":
            return _merge_map({}, patch, struct, path)
        raise StrategicMergeError(
            f"{path or '<root>'}: unknown $patch directive {directive!r} in a map "
            "(expected replace or delete)"
        )
    _apply_retain_keys(original, patch, path)
    _apply_element_orders(original, patch, struct, path)
    for key, value in patch.items():
        if key.startswith(DELETE_FROM_PRIMITIVE_LIST):
            _delete_from_primitive_list(original, key, value, path)
        elif key.startswith("$"):
            raise StrategicMergeError(f"{_join(path, key)}: unknown strategic merge directive")
        elif value is None:
            original.pop(key, None)
        else:
            merged = _merge_value(original.get(key), value, _field(struct, key), _join(path, key))
            if merged is _DELETED:
                original.pop(key, None)
            else:
                original[key] = merged
    return original


def _merge_value(original: Any, patch: Any, field: _Field, path: str) -> Any:
    if isinstance(patch, dict):
        base = original if isinstance(original, dict) else {}
        return _merge_map(base, patch, field.struct, path)
    if isinstance(patch, list):
        if not field.merge:
            return _replacement_list(patch, path)
        target = original if isinstance(original, list) else []
        return _merge_list(target, patch, field, path)[0]
    return patch


def _apply_retain_keys(original: dict[str, Any], patch: dict[str, Any], path: str) -> None:
    if RETAIN_KEYS not in patch:
        return
    retained = patch.pop(RETAIN_KEYS)
    where = _join(path, RETAIN_KEYS)
    if not isinstance(retained, list) or not all(isinstance(k, str) for k in retained):
        raise StrategicMergeError(f"{where}: must be a list of field names")
    for key, value in patch.items():
        if value is not None and not key.startswith("$") and key not in retained:
            raise StrategicMergeError(f"{where}: patched field {key!r} is not in the list")
    for key in [k for k in original if k not in retained]:
        del original[key]


def _apply_element_orders(
    original: dict[str, Any], patch: dict[str, Any], struct: str | None, path: str
) -> None:
    for directive in [k for k in patch if k.startswith(SET_ELEMENT_ORDER)]:
        order = patch.pop(directive)
        name = directive[len(SET_ELEMENT_ORDER) :]
        where = _join(path, directive)
        if not name or not isinstance(order, list):
            raise StrategicMergeError(f"{where}: must name a field and hold a list")
        field = _field(struct, name)
        if not field.merge:
            continue  # a list replaced whole already has the patch's order
        current, listed = original.get(name), patch.get(name)
        if not isinstance(current, list | None) or not isinstance(listed, list | None):
            raise StrategicMergeError(f"{_join(path, name)}: $setElementOrder names a non-list")
        if listed is not None:
            del patch[name]  # merged here; a null stays for the main loop to delete the list
        elif current is None:
            continue
        _check_order(listed or [], order, field.key, where)
        server = current or []
        if listed:
            merged, server = _merge_list(server, listed, field, _join(path, name))
        else:
            merged = server
        ordered = [e for e in merged if _index(order, e, field.key, where) >= 0]
        others = [e for e in merged if _index(order, e, field.key, where) < 0]
        original[name] = _normalize(ordered, others, order, server, field.key, where)


def _check_order(listed: list[Any], order: list[Any], key: str | None, where: str) -> None:
    """The patch list's elements must appear in the order list, in the same relative order."""
    position = 0
    for element in listed:
        if isinstance(element, dict) and PATCH_DIRECTIVE in element:
            continue
        found = _index(order[position:], element, key, where)
        if found < 0:
            raise StrategicMergeError(
                f"{where}: the patch list's order does not match the $setElementOrder list"
            )
        position += found + 1


def _delete_from_primitive_list(
    original: dict[str, Any], directive: str, values: Any, path: str
) -> None:
    name = directive[len(DELETE_FROM_PRIMITIVE_LIST) :]
    where = _join(path, directive)
    if not name or not isinstance(values, list) or any(isinstance(v, dict | list) for v in values):
        raise StrategicMergeError(f"{where}: must name a field and hold a list of primitives")
    current = original.get(name)
    if isinstance(current, list):
        original[name] = [e for e in current if not any(json_equal(e, v) for v in values)]
    elif current is not None:
        raise StrategicMergeError(f"{where}: {name!r} is not a list")


def _replacement_list(patch: list[Any], path: str) -> list[Any]:
    """A list replaced whole; a `$patch: replace` marker is redundant and dropped."""
    result = []
    for element in patch:
        if isinstance(element, dict) and PATCH_DIRECTIVE in element:
            if element[PATCH_DIRECTIVE] != "replace" or len(element) > 1:
                raise StrategicMergeError(
                    f"{path}: this list has no merge key (it is replaced whole), so its "
                    f"elements cannot carry {PATCH_DIRECTIVE!r} directives"
                )
            continue
        result.append(element)
    return result


def _merge_list(
    original: list[Any], patch: list[Any], field: _Field, path: str
) -> tuple[list[Any], list[Any]]:
    """The merged list, and the target list as apimachinery's in-place edits leave it.

    `$setElementOrder` consults the latter for the target's order: Go's slice operations shift
    deleted elements out of the target's array and write added elements into the freed slots,
    within the target's length."""
    if any(isinstance(e, list) for e in (*original, *patch)):
        raise StrategicMergeError(f"{path}: lists of lists cannot be merged")
    if not any(isinstance(e, dict) for e in (*original, *patch)):
        merged: list[Any] = []
        for element in (*original, *patch):
            if _index(merged, element, None, path) < 0:
                merged.append(element)
        in_patch = [e for e in merged if _index(patch, e, None, path) >= 0]
        server_only = [e for e in merged if _index(patch, e, None, path) < 0]
        return _normalize(in_patch, server_only, patch, original, None, path), original
    if field.key is None or not all(isinstance(e, dict) for e in (*original, *patch)):
        raise StrategicMergeError(f"{path}: cannot merge this list: its elements have no merge key")
    key = field.key
    view, live, plain, replace = _apply_list_directives(original, patch, key, path)
    if replace:
        kept, plain = [_merge_map({}, e, field.struct, path) for e in plain], []
    else:
        kept = view[:live]
    merged = list(kept)
    for i, element in enumerate(plain):
        where = f"{path}[{i}]"
        if key not in element:
            raise StrategicMergeError(f"{where}: element has no merge key {key!r}")
        found = _index(merged, element, key, where)
        base = merged[found] if found >= 0 else {}
        result = _merge_map(base, element, field.struct, where)
        if found >= 0:
            merged[found] = result
        else:
            merged.append(result)
    if not replace:
        added = merged[len(kept) :][: len(view) - live]
        view[live : live + len(added)] = added
    in_patch = [e for e in merged if _index(plain, e, key, path) >= 0]
    server_only = [e for e in merged if _index(plain, e, key, path) < 0]
    return _normalize(in_patch, server_only, plain, kept, key, path), view


def _apply_list_directives(
    original: list[Any], patch: list[Any], key: str, path: str
) -> tuple[list[Any], int, list[Any], bool]:
    """Apply the `$patch` elements of a merging list: (the target's array after deletions, its
    live length, the plain patch elements, whether `$patch: replace` was given)."""
    view, live = list(original), len(original)
    plain: list[Any] = []
    replace = False
    for i, element in enumerate(patch):
        directive = element.get(PATCH_DIRECTIVE)
        where = f"{path}[{i}]"
        if PATCH_DIRECTIVE not in element:
            plain.append(element)
        elif directive == "delete":
            if key not in element:
                raise StrategicMergeError(f"{where}: $patch: delete needs the merge key {key!r}")
            live = _delete_in_place(view, live, element, key)
        elif directive == "replace":
            replace = True
        elif directive == "merge":
            raise StrategicMergeError(f"{where}: merging lists cannot yet be specified in a patch")
        else:
            raise StrategicMergeError(f"{where}: unknown $patch directive {directive!r}")
    return view, live, plain, replace


def _delete_in_place(view: list[Any], live: int, element: dict[str, Any], key: str) -> int:
    """Go's `s = append(s[:k], s[k+1:]...)` for each element matching `element`'s key: later
    elements shift left within the array, whose length stays. Returns the new live length."""
    k = 0
    while k < live:
        if _same_key(view[k], element, key):
            view[k : live - 1] = view[k + 1 : live]
            live -= 1
        else:
            k += 1
    return live


def _same_key(a: Any, b: Any, key: str) -> bool:
    return isinstance(a, dict) and key in a and key in b and json_equal(a[key], b[key])


def _index(items: list[Any], element: Any, key: str | None, where: str) -> int:
    """Position of `element` in `items`: by merge key for objects, by value for primitives."""
    if key is None:
        return next((i for i, item in enumerate(items) if json_equal(item, element)), -1)
    for i, item in enumerate(items):
        if not isinstance(item, dict) or key not in item:
            raise StrategicMergeError(f"{where}: list element {item!r} has no merge key {key!r}")
        if isinstance(element, dict) and _same_key(element, item, key):
            return i
    return -1


def _normalize(
    in_patch: list[Any],
    server_only: list[Any],
    patch_order: list[Any],
    server_order: list[Any],
    key: str | None,
    where: str,
) -> list[Any]:
    """apimachinery's normalizeElementOrder: patch elements in patch order, target-only elements
    in target order, interleaved by target order where both are in the target."""

    def position(order: list[Any], element: Any) -> int:
        if key is not None and key not in element:
            return -1
        return _index(order, element, key, where)

    def sort_by(items: list[Any], order: list[Any]) -> list[Any]:
        ranks = [position(order, e) for e in items]
        ranked = sorted(
            zip(ranks, items, strict=True), key=lambda r: r[0] if r[0] >= 0 else len(order)
        )
        return [e for _, e in ranked]

    right, left = sort_by(in_patch, patch_order), sort_by(server_only, server_order)
    merged: list[Any] = []
    i = j = 0
    while i < len(left) or j < len(right):
        if j >= len(right):
            merged.append(left[i])
            i += 1
        elif i >= len(left):
            merged.append(right[j])
            j += 1
        else:
            li, ri = position(server_order, left[i]), position(server_order, right[j])
            if li >= 0 and ri >= 0 and li < ri:
                merged.append(left[i])
                i += 1
            else:
                merged.append(right[j])
                j += 1
    return merged
