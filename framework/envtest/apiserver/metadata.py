"""ObjectMeta rules kube-apiserver enforces: names, generateName, labels, annotations,
generation, and the system fields set on create.

Validation functions return `Cause`s (field path + message) for a 422 Invalid answer.
"""

from __future__ import annotations

import functools
import re
import secrets
import uuid
from datetime import datetime
from typing import Any

import orjson

from framework.envtest.apiserver.errors import Cause
from framework.selectors import validate_label_key, validate_label_value

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
    "'.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used "
    "for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
    "must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex "
    "used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
ANNOTATIONS_MAX_BYTES = 256 * 1024
_GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
# Kinds whose names are DNS labels rather than subdomains.
_LABEL_NAMED = frozenset({"namespaces", "services"})


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


# Objects are written again and again with the same names, labels and annotations: the
# (pure) checks remember their answers.
_label_key_error = functools.lru_cache(maxsize=4096)(validate_label_key)
_label_value_error = functools.lru_cache(maxsize=4096)(validate_label_value)


@functools.lru_cache(maxsize=4096)
def name_error(resource: str, name: str) -> str | None:
    """Why `name` is not a valid name for objects of `resource` (a storage key), or None."""
    if resource in _LABEL_NAMED:
        if len(name) > 63:
            return "must be no more than 63 characters"
        return None if _DNS_LABEL.fullmatch(name) else _LABEL_MSG
    if len(name) > 253:
        return "must be no more than 253 characters"
    return None if _DNS_SUBDOMAIN.fullmatch(name) else _SUBDOMAIN_MSG


def generate_name(prefix: str) -> str:
    """`prefix` plus five random characters, as the generateName field asks."""
    return prefix + "".join(secrets.choice(_GENERATE_ALPHABET) for _ in range(5))


def _string_map(meta: dict[str, Any], field: str) -> tuple[dict[str, Any], list[Cause]]:
    value = meta.get(field)
    if value is None:
        return {}, []
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        return {}, [
            Cause("FieldValueInvalid", "must be a map of string to string", f"metadata.{field}")
        ]
    return value, []


def validate_meta(resource: str, meta: dict[str, Any]) -> list[Cause]:
    """Name, labels, annotations and finalizers of an object about to be stored."""
    causes: list[Cause] = []
    name = meta.get("name")
    if not isinstance(name, str) or not name:
        causes.append(
            Cause(
                "FieldValueRequired",
                "Required value: name or generateName is required",
                "metadata.name",
            )
        )
    else:
        why = name_error(resource, name)
        if why:
            causes.append(
                Cause("FieldValueInvalid", f"Invalid value: {_quote(name)}: {why}", "metadata.name")
            )
    labels, errors = _string_map(meta, "labels")
    causes += errors
    for key, value in labels.items():
        for text, why in ((key, _label_key_error(key)), (value, _label_value_error(value))):
            if why:
                causes.append(
                    Cause(
                        "FieldValueInvalid",
                        f"Invalid value: {_quote(text)}: {why}",
                        "metadata.labels",
                    )
                )
    annotations, errors = _string_map(meta, "annotations")
    causes += errors
    size = 0
    for key, value in annotations.items():
        why = _label_key_error(key.lower())
        if why:
            causes.append(
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_quote(key)}: {why}",
                    "metadata.annotations",
                )
            )
        size += len(key.encode()) + len(value.encode())
    if size > ANNOTATIONS_MAX_BYTES:
        causes.append(
            Cause(
                "FieldValueTooLong",
                f"Too long: may not be more than {ANNOTATIONS_MAX_BYTES} bytes",
                "metadata.annotations",
            )
        )
    causes += _owner_reference_causes(meta.get("ownerReferences"))
    finalizers = meta.get("finalizers")
    if finalizers is not None and (
        not isinstance(finalizers, list) or not all(isinstance(f, str) for f in finalizers)
    ):
        causes.append(
            Cause("FieldValueInvalid", "must be a list of strings", "metadata.finalizers")
        )
    return causes


def _owner_reference_causes(references: Any) -> list[Cause]:
    """Each ownerReference names apiVersion, kind, name and uid; at most one is the controller."""
    field = "metadata.ownerReferences"
    if references is None:
        return []
    if not isinstance(references, list) or not all(isinstance(r, dict) for r in references):
        return [Cause("FieldValueInvalid", "must be a list of objects", field)]
    causes = []
    for reference in references:
        for key in ("apiVersion", "kind", "name", "uid"):
            value = reference.get(key)
            if not isinstance(value, str) or not value:
                message = f"Invalid value: {_quote(str(value or ''))}: {key} must not be empty"
                causes.append(Cause("FieldValueInvalid", message, f"{field}.{key}"))
    controllers = [r for r in references if r.get("controller") is True]
    if len(controllers) > 1:
        causes.append(
            Cause(
                "FieldValueInvalid",
                "Invalid value: only one reference can have Controller set to true",
                field,
            )
        )
    return causes


def timestamp(when: datetime) -> str:
    """RFC 3339 with second precision and a Z, as metav1.Time serialises."""
    return (
        f"{when.year:04d}-{when.month:02d}-{when.day:02d}"
        f"T{when.hour:02d}:{when.minute:02d}:{when.second:02d}Z"
    )


def stamp_new(meta: dict[str, Any], now: datetime) -> None:
    """Set the fields the server owns on create: uid, creationTimestamp, generation."""
    meta["uid"] = str(uuid.uuid4())
    meta["creationTimestamp"] = timestamp(now)
    meta["generation"] = 1
    for field in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
        meta.pop(field, None)


def _without(obj: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in fields}


def _canonical(value: Any) -> bytes:
    """JSON with sorted keys: equal bytes iff equal JSON (1 and 1.0 differ: a harmless miss)."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def spec_changed(old: dict[str, Any], new: dict[str, Any], has_status: bool) -> bool:
    """Whether anything outside apiVersion and metadata (and status, with a status
    subresource) changed."""
    ignored = ("apiVersion", "metadata", "status") if has_status else ("apiVersion", "metadata")
    return _canonical(_without(old, ignored)) != _canonical(_without(new, ignored))


def _versions(obj: dict[str, Any]) -> tuple[Any, Any]:
    meta = obj.get("metadata")
    return obj.get("apiVersion"), meta.get("resourceVersion") if isinstance(meta, dict) else None


def same_content(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether two writes are equal apart from resourceVersion and the apiVersion they were
    made at (a no-op write)."""
    if _versions(old) == _versions(new) and old != new:
        return False  # != means unequal JSON (NaN aside); == does not mean equal: 1 == True
    old_meta = _without(old.get("metadata", {}), ("resourceVersion",))
    new_meta = _without(new.get("metadata", {}), ("resourceVersion",))
    return _canonical({**old, "apiVersion": "", "metadata": old_meta}) == _canonical(
        {**new, "apiVersion": "", "metadata": new_meta}
    )
