"""The REST verbs' semantics, independent of HTTP: get, list, create, update, patch, delete.

Every write follows kube-apiserver: server-owned metadata (uid, creationTimestamp,
resourceVersion, generation, deletionTimestamp) is kept or set by the server; with a status
subresource, writes to the object keep the old status and writes to `/status` change only the
status; custom resources are pruned, defaulted and validated by their schema; optimistic
concurrency through resourceVersion; finalizers delay deletion; a write that changes nothing is
not stored. Errors are raised as `ApiError` with kube's reasons.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from framework.envtest.apiserver import errors
from framework.envtest.apiserver.catalog import Catalog, ServedResource
from framework.envtest.apiserver.crds import CRD_RESOURCE, CrdController, default_crd, validate_crd
from framework.envtest.apiserver.errors import Cause
from framework.envtest.apiserver.metadata import (
    generate_name,
    same_content,
    spec_changed,
    stamp_new,
    timestamp,
    validate_meta,
)
from framework.envtest.apiserver.storage import Storage
from framework.envtest.apiserver.watch import StoredObject
from framework.patch import PatchError, PatchTestFailed, json_patch_apply, merge_apply
from framework.selectors import FieldSelector, LabelSelector

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
NAMESPACES = "namespaces"

# Field selectors kube-apiserver supports beyond metadata.name and metadata.namespace.
_EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "status.phase"),
    "events": (
        "involvedObject.kind",
        "involvedObject.namespace",
        "involvedObject.name",
        "involvedObject.uid",
        "involvedObject.apiVersion",
        "involvedObject.resourceVersion",
        "involvedObject.fieldPath",
        "reason",
        "source",
        "type",
    ),
    "secrets": ("type",),
    "nodes": ("spec.unschedulable",),
    "namespaces": ("status.phase",),
    "jobs.batch": ("status.successful",),
}


@dataclass(frozen=True, slots=True)
class Filter:
    """A list or watch filter: label and field selectors, checked together."""

    labels: LabelSelector = field(default_factory=LabelSelector.everything)
    fields: FieldSelector | None = None

    @property
    def everything(self) -> bool:
        return self.labels.empty and self.fields is None

    def matches(self, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        if not self.labels.matches(meta.get("labels") or {}):
            return False
        if self.fields is None:
            return True
        return self.fields.matches({path: _field(obj, path) for path in self.fields.fields()})


def _field(obj: dict[str, Any], path: str) -> str:
    """A selectable field as a string ("" when absent)."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_filter(resource: str, label_selector: str, field_selector: str) -> Filter:
    """Parse the `labelSelector` and `fieldSelector` query parameters (400 on bad input)."""
    try:
        labels = (
            LabelSelector.parse(label_selector) if label_selector else LabelSelector.everything()
        )
        fields = FieldSelector.parse(field_selector) if field_selector else None
    except ValueError as error:
        raise errors.bad_request(f"unable to parse requirement: {error}") from None
    if fields is not None:
        allowed = {"metadata.name", "metadata.namespace", *_EXTRA_FIELDS.get(resource, ())}
        for name in sorted(fields.fields()):
            if name not in allowed:
                raise errors.bad_request(f"field label not supported: {name}")
    return Filter(labels, fields)


@dataclass(slots=True)
class Page:
    """One page of a list: objects, the list's resourceVersion, and where to continue."""

    items: list[StoredObject]
    resource_version: int
    continue_token: str = ""
    remaining: int | None = None


@dataclass(slots=True)
class Written:
    """The result of a write: the stored object, warnings, and whether it is gone now."""

    stored: StoredObject
    warnings: list[str] = field(default_factory=list)
    deleted: bool = False


def _copy(stored: StoredObject) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(stored.raw)
    return result


def _encode_continue(rv: int, namespace: str, name: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps({"rv": rv, "start": [namespace, name]})).decode()


def _decode_continue(token: str) -> tuple[int, tuple[str, str]]:
    try:
        data = orjson.loads(base64.urlsafe_b64decode(token.encode()))
        start = data["start"]
        return int(data["rv"]), (str(start[0]), str(start[1]))
    except (ValueError, KeyError, TypeError, IndexError, binascii.Error):
        raise errors.bad_request("continue key is not valid: incorrect encoded start") from None


def _fold_string_data(obj: dict[str, Any]) -> None:
    """Secrets: write-only stringData is merged into data (base64), then dropped."""
    string_data = obj.pop("stringData", None)
    if isinstance(string_data, dict):
        data = obj.setdefault("data", {}) or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


class Rest:
    """The verbs over one `Storage` and `Catalog`; `now` gives wall-clock timestamps."""

    def __init__(self, storage: Storage, catalog: Catalog, now: Callable[[], datetime]) -> None:
        self.storage = storage
        self.catalog = catalog
        self.now = now
        self.crds = CrdController(catalog, storage, now)

    # -- reads -----------------------------------------------------------------------------

    def get(self, served: ServedResource, namespace: str, name: str) -> StoredObject:
        stored = self.storage.get(served.key, namespace, name)
        if stored is None:
            raise errors.not_found(served.info.plural, name, served.info.group)
        return stored

    def list_page(
        self,
        served: ServedResource,
        namespace: str | None,
        selector: Filter,
        limit: int = 0,
        continue_token: str = "",
    ) -> Page:
        rv = self.storage.resource_version
        after = None
        if continue_token:
            rv, after = _decode_continue(continue_token)
            if rv < self.storage.oldest_resource_version:
                raise errors.expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter."
                )
        candidates = self.storage.list(served.key, namespace, after)
        if not selector.everything:
            candidates = [s for s in candidates if selector.matches(s.obj)]
        if limit <= 0 or len(candidates) <= limit:
            return Page(candidates, rv)
        items = candidates[:limit]
        last = items[-1].obj["metadata"]
        return Page(
            items,
            rv,
            _encode_continue(rv, last.get("namespace") or "", last["name"]),
            len(candidates) - limit,
        )

    # -- helpers ---------------------------------------------------------------------------

    def _check_kind(self, served: ServedResource, obj: Any) -> dict[str, Any]:
        if not isinstance(obj, dict):
            raise errors.bad_request("the body of the request must be a JSON object")
        info = served.info
        api_version = obj.setdefault("apiVersion", info.gvk.api_version)
        kind = obj.setdefault("kind", info.kind)
        if kind != info.kind or api_version != info.gvk.api_version:
            raise errors.bad_request(
                f'{kind} in version "{api_version}" cannot be handled as a {info.kind}: '
                f"the object's kind or apiVersion does not match the request's "
                f"({info.gvk.api_version}, {info.kind})"
            )
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise errors.bad_request("metadata must be an object")
        return meta

    def _check_namespace(
        self, served: ServedResource, meta: dict[str, Any], namespace: str
    ) -> None:
        if not served.info.namespaced:
            meta.pop("namespace", None)
            return
        given = meta.get("namespace")
        if given and given != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on "
                "the request"
            )
        meta["namespace"] = namespace

    def _admit(
        self, served: ServedResource, obj: dict[str, Any], causes: list[Cause], validation: str
    ) -> tuple[dict[str, Any], list[str]]:
        """Schema pruning, defaulting and validation, plus per-kind rules; 422 on causes."""
        warnings: list[str] = []
        if served.schema is not None:
            admission = served.schema.admit(obj)
            obj = admission.obj
            causes = causes + [Cause(c.reason, c.message, c.field) for c in admission.causes]
            unknown = [f'unknown field "{path}"' for path in admission.unknown_fields]
            if unknown and validation == "Strict":
                raise errors.bad_request("strict decoding error: " + ", ".join(unknown))
            if validation != "Ignore":
                warnings = unknown
        if served.key == "secrets":
            _fold_string_data(obj)
        elif served.key == CRD_RESOURCE:
            default_crd(obj)
            causes = causes + validate_crd(obj)
        causes = validate_meta(served.key, obj["metadata"]) + causes
        if causes:
            raise errors.invalid(
                served.info.kind, str(obj["metadata"].get("name", "")), served.info.group, causes
            )
        return obj, warnings

    def _after_write(self, served: ServedResource, written: Written) -> None:
        if served.key == CRD_RESOURCE:
            if written.deleted:
                self.crds.removed(written.stored.obj)
            else:
                self.crds.sync(written.stored)
        elif written.deleted and served.info.namespaced:
            namespace = written.stored.obj["metadata"].get("namespace", "")
            current = self.storage.get(NAMESPACES, "", namespace)
            if current is not None and current.obj["metadata"].get("deletionTimestamp"):
                self._finish_namespace(namespace)

    def _namespaced_resources(self) -> dict[str, ServedResource]:
        return {s.key: s for s in self.catalog.all() if s.info.namespaced}

    def _delete_namespace(self, current: StoredObject) -> Written:
        """Terminating: refuse new content, delete what is inside (finalizers honoured), and
        remove the namespace once it is empty."""
        name = current.obj["metadata"]["name"]
        terminating = current
        if not current.obj["metadata"].get("deletionTimestamp"):
            new = _copy(current)
            new["metadata"]["deletionTimestamp"] = timestamp(self.now())
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["status"] = {"phase": "Terminating"}
            terminating = self.storage.update(NAMESPACES, new)
        for key, served in sorted(self._namespaced_resources().items()):
            for stored in self.storage.list(key, name):
                self.delete(served, name, stored.obj["metadata"]["name"], {})
        if self.storage.get(NAMESPACES, "", name) is None:
            return Written(terminating, deleted=True)
        removed = self._finish_namespace(name)
        return Written(removed, deleted=True) if removed else Written(terminating)

    def _finish_namespace(self, name: str) -> StoredObject | None:
        """Remove a terminating namespace if nothing is left in it."""
        for key in self._namespaced_resources():
            if self.storage.count(key, name):
                return None
        return self.storage.delete(NAMESPACES, "", name)

    def _check_namespace_open(self, served: ServedResource, namespace: str, name: str) -> None:
        stored = self.storage.get(NAMESPACES, "", namespace)
        if stored is None:
            raise errors.not_found(NAMESPACES, namespace)
        if stored.obj["metadata"].get("deletionTimestamp"):
            raise errors.forbidden(
                served.info.plural,
                name,
                served.info.group,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    # -- create ----------------------------------------------------------------------------

    def create(
        self, served: ServedResource, namespace: str, obj: Any, validation: str = "Warn"
    ) -> Written:
        meta = self._check_kind(served, obj)
        self._check_namespace(served, meta, namespace)
        if not meta.get("name") and isinstance(meta.get("generateName"), str):
            meta["name"] = generate_name(meta["generateName"])
        if served.info.namespaced:
            self._check_namespace_open(served, namespace, meta.get("name", ""))
        stamp_new(meta, self.now())
        if served.info.has_status:
            obj.pop("status", None)
        if served.key == NAMESPACES:
            obj.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            obj["status"] = {"phase": "Active"}
        elif served.key == "pods":
            obj["status"] = {"phase": "Pending"}
        obj, warnings = self._admit(served, obj, [], validation)
        name = obj["metadata"]["name"]
        if self.storage.get(served.key, namespace if served.info.namespaced else "", name):
            raise errors.already_exists(served.info.plural, name, served.info.group)
        written = Written(
            self.storage.create(served.key, served.converter.to_storage(obj)), warnings
        )
        self._after_write(served, written)
        return written

    # -- update and patch ------------------------------------------------------------------

    def update(
        self,
        served: ServedResource,
        namespace: str,
        name: str,
        obj: Any,
        subresource: str = "",
        validation: str = "Warn",
        *,
        is_patch: bool = False,
    ) -> Written:
        """PUT (or the result of a patch) of the object or of its `/status`."""
        current = self.get(served, namespace, name)
        meta = self._check_kind(served, obj)
        self._check_namespace(served, meta, namespace)
        if meta.get("name", name) != name:
            raise errors.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL "
                f"({name})"
            )
        meta["name"] = name
        uid = meta.get("uid")
        if uid and uid != current.obj["metadata"].get("uid"):
            raise errors.conflict(
                served.info.plural,
                name,
                served.info.group,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                f"{current.obj['metadata'].get('uid')}",
            )
        rv = meta.get("resourceVersion")
        if not rv and served.custom and not is_patch:
            raise errors.invalid(
                served.info.kind,
                name,
                served.info.group,
                [
                    Cause(
                        "FieldValueInvalid",
                        "Invalid value: 0x0: must be specified for an update",
                        "metadata.resourceVersion",
                    )
                ],
            )
        if rv and str(rv) != str(current.rv):
            raise errors.conflict(served.info.plural, name, served.info.group)
        return self._write_update(served, current, obj, subresource, validation)

    def _write_update(
        self,
        served: ServedResource,
        current: StoredObject,
        obj: dict[str, Any],
        subresource: str,
        validation: str,
    ) -> Written:
        old = current.obj
        old_meta = old["metadata"]
        if subresource == "status":
            new = _copy(current)
            if "status" in obj:
                new["status"] = obj["status"]
            else:
                new.pop("status", None)
        else:
            new = obj
            if served.info.has_status:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            meta = new["metadata"]
            for key in (
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
            ):
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            meta["generation"] = old_meta.get("generation", 1)
        new["metadata"]["resourceVersion"] = old_meta.get("resourceVersion")
        causes = self._finalizer_causes(old_meta, new["metadata"])
        new, warnings = self._admit(served, new, causes, validation)
        new = served.converter.to_storage(new)
        if spec_changed(old, new, served.info.has_status):
            new["metadata"]["generation"] = int(old_meta.get("generation", 1)) + 1
        if same_content(old, new):
            return Written(current, warnings)
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            namespace = meta.get("namespace") or ""
            stored = self.storage.delete(served.key, namespace, meta["name"], new)
            written = Written(stored, warnings, deleted=True)
        else:
            written = Written(self.storage.update(served.key, new), warnings)
        self._after_write(served, written)
        return written

    @staticmethod
    def _finalizer_causes(old_meta: dict[str, Any], new_meta: dict[str, Any]) -> list[Cause]:
        if not old_meta.get("deletionTimestamp"):
            return []
        before = set(old_meta.get("finalizers") or [])
        added = [f for f in new_meta.get("finalizers") or [] if f not in before]
        if not added:
            return []
        listed = ", ".join(f'"{f}"' for f in added)
        return [
            Cause(
                "FieldValueForbidden",
                "Forbidden: no new finalizers can be added if the object is being deleted, "
                f"found new finalizers []string{{{listed}}}",
                "metadata.finalizers",
            )
        ]

    def patch(
        self,
        served: ServedResource,
        namespace: str,
        name: str,
        content_type: str,
        body: bytes,
        subresource: str = "",
        validation: str = "Warn",
    ) -> Written:
        if content_type not in (MERGE_PATCH, JSON_PATCH):
            raise errors.unsupported_media_type(_unsupported_patch_message(content_type))
        try:
            patch = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise errors.bad_request(f"error decoding patch: {error}") from None
        # versions of a CRD share storage: patch the object as seen at the request's version
        base = served.present(self.get(served, namespace, name))[0]
        if content_type == MERGE_PATCH:
            if not isinstance(patch, dict):
                raise errors.bad_request("a merge patch must be a JSON object")
            new = merge_apply(base, patch)
        else:
            try:
                new = json_patch_apply(base, patch)
            except PatchTestFailed as error:
                raise errors.invalid(
                    served.info.kind,
                    name,
                    served.info.group,
                    [Cause("FieldValueInvalid", f"Invalid value: {error}", "")],
                ) from None
            except PatchError as error:
                raise errors.bad_request(
                    f"the server rejected our request due to an error in our request: {error}"
                ) from None
        return self.update(served, namespace, name, new, subresource, validation, is_patch=True)

    # -- delete ----------------------------------------------------------------------------

    def delete(
        self, served: ServedResource, namespace: str, name: str, options: dict[str, Any]
    ) -> Written:
        current = self.get(served, namespace, name)
        meta = current.obj["metadata"]
        preconditions = options.get("preconditions") or {}
        for field_name, label in (("uid", "UID"), ("resourceVersion", "ResourceVersion")):
            want = preconditions.get(field_name)
            if want is not None and str(want) != str(meta.get(field_name)):
                raise errors.conflict(
                    served.info.plural,
                    name,
                    served.info.group,
                    f"Precondition failed: {label} in precondition: {want}, {label} in object "
                    f"meta: {meta.get(field_name)}",
                )
        if served.key == NAMESPACES:
            return self._delete_namespace(current)
        if meta.get("finalizers"):
            if meta.get("deletionTimestamp"):
                return Written(current)
            new = _copy(current)
            new["metadata"]["deletionTimestamp"] = timestamp(self.now())
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"]["generation"] = int(meta.get("generation", 1)) + 1
            written = Written(self.storage.update(served.key, new))
        else:
            written = Written(self.storage.delete(served.key, namespace, name), deleted=True)
        self._after_write(served, written)
        return written


def _unsupported_patch_message(content_type: str) -> str:
    accepted = f"{JSON_PATCH}, {MERGE_PATCH}"
    if content_type == STRATEGIC_MERGE_PATCH:
        return (
            "the body of the request was in an unknown format - accepted media types include: "
            f"{accepted} (strategic merge patch is not supported by this server yet)"
        )
    if content_type == APPLY_PATCH:
        return (
            "the body of the request was in an unknown format - accepted media types include: "
            f"{accepted} (server-side apply is not supported by this server yet)"
        )
    return (
        "the body of the request was in an unknown format - accepted media types include: "
        f"{accepted}"
    )
