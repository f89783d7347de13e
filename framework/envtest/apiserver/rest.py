"""The REST verbs' semantics, independent of HTTP: get, list, create, update, patch, delete.

Every write follows kube-apiserver: server-owned metadata (uid, creationTimestamp,
resourceVersion, generation, deletionTimestamp) is kept or set by the server; with a status
subresource, writes to the object keep the old status and writes to `/status` change only the
status; custom resources are pruned, defaulted and validated by their schema; optimistic
concurrency through resourceVersion; finalizers delay deletion; a write that changes nothing is
not stored. Errors are raised as `ApiError` with kube's reasons. Stored objects are never
modified in place: a write builds a new object, which may share unchanged parts with the stored
one (a merge patch copies only what it changes).

Deletion honours `propagationPolicy` (Orphan and Foreground become the `orphan` and
`foregroundDeletion` finalizers the garbage collector acts on, see `gc`). `Rest.dry_run()` is
a view answering every write as if done while storing nothing (`dryRun=All`).
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from framework.envtest.apiserver import errors
from framework.envtest.apiserver.audit import AuditLog
from framework.envtest.apiserver.catalog import Catalog, ServedResource
from framework.envtest.apiserver.crds import CRD_RESOURCE, CrdController, default_crd, validate_crd
from framework.envtest.apiserver.errors import Cause
from framework.envtest.apiserver.gc import FOREGROUND, ORPHAN, GarbageCollector
from framework.envtest.apiserver.metadata import (
    generate_name,
    same_content,
    spec_changed,
    stamp_new,
    timestamp,
    validate_meta,
)
from framework.envtest.apiserver.storage import Storage
from framework.envtest.apiserver.strategic import StrategicMergeError, strategic_merge_apply
from framework.envtest.apiserver.watch import StoredObject
from framework.patch import PatchError, PatchTestFailed, json_patch_apply, merge_apply_shared
from framework.selectors import FieldSelector, LabelSelector

MERGE_PATCH = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
NAMESPACES = "namespaces"

_OBJECT_REFERENCE = (
    "kind",
    "namespace",
    "name",
    "uid",
    "apiVersion",
    "resourceVersion",
    "fieldPath",
)
# Field selectors kube-apiserver supports beyond metadata.name and metadata.namespace.
_EXTRA_FIELDS: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "status.phase"),
    "events": (
        *(f"involvedObject.{f}" for f in _OBJECT_REFERENCE),
        "reason",
        "reportingComponent",
        "source",
        "type",
    ),
    "events.events.k8s.io": (
        *(f"regarding.{f}" for f in _OBJECT_REFERENCE),
        "reason",
        "reportingController",
        "type",
    ),
    "secrets": ("type",),
    "nodes": ("spec.unschedulable",),
    "namespaces": ("status.phase",),
    "jobs.batch": ("status.successful",),
}

# Where a selectable field lives in the stored object when that is not its own path
# (events.k8s.io/v1 Events are stored as core/v1 Events).
_STORED_FIELD: dict[str, dict[str, str]] = {
    "events": {"source": "source.component"},
    "events.events.k8s.io": {
        **{f"regarding.{f}": f"involvedObject.{f}" for f in _OBJECT_REFERENCE},
        "reportingController": "reportingComponent",
    },
}


@dataclass(frozen=True, slots=True)
class Filter:
    """A list or watch filter: label and field selectors, checked together."""

    labels: LabelSelector = field(default_factory=LabelSelector.everything)
    fields: FieldSelector | None = None
    stored_fields: dict[str, str] = field(default_factory=dict)

    @property
    def everything(self) -> bool:
        return self.labels.empty and self.fields is None

    def matches(self, obj: dict[str, Any]) -> bool:
        meta = obj.get("metadata", {})
        if not self.labels.matches(meta.get("labels") or {}):
            return False
        if self.fields is None:
            return True
        return self.fields.matches(
            {path: _field(obj, self.stored_fields.get(path, path)) for path in self.fields.fields()}
        )


def _field(obj: dict[str, Any], path: str) -> str:
    """A selectable field as a string ("" when absent)."""
    value: Any = obj
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def parse_filter(resource: str, label_selector: str, field_selector: str) -> Filter:
    """Parse the `labelSelector` and `fieldSelector` query parameters (400 on bad input) of a
    request for `resource` ("plural.group" as served)."""
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
    return Filter(labels, fields, _STORED_FIELD.get(resource, {}))


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
        data = dict(obj.get("data") or {})  # a patched secret's data may be the stored one's
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        obj["data"] = data


class Rest:
    """The verbs over one `Storage` and `Catalog`; `now` gives wall-clock timestamps.

    `gc` is the garbage collector fed by every stored write; `audit` the requests served (the
    HTTP layer records them)."""

    def __init__(self, storage: Storage, catalog: Catalog, now: Callable[[], datetime]) -> None:
        self.storage = storage
        self.catalog = catalog
        self.now = now
        self.crds = CrdController(catalog, storage, now)
        self.gc = GarbageCollector(self)
        self.audit = AuditLog()
        self._dry = False

    def dry_run(self) -> Rest:
        """A view of these verbs that validates and answers every write as if done but stores
        nothing: no resourceVersion consumed, no watch event, no garbage collection."""
        view = copy.copy(self)
        view._dry = True
        return view

    # -- storage writes (none when dry) ----------------------------------------------------

    def _store_create(self, resource: str, obj: dict[str, Any]) -> StoredObject:
        if self._dry:
            obj["metadata"].pop("resourceVersion", None)
            return StoredObject.of(obj, self.storage.resource_version)
        return self.storage.create(resource, obj)

    def _store_update(
        self, resource: str, obj: dict[str, Any], current: StoredObject
    ) -> StoredObject:
        if self._dry:
            obj["metadata"]["resourceVersion"] = str(current.rv)
            return StoredObject.of(obj, current.rv)
        return self.storage.update(resource, obj)

    def _store_delete(
        self, resource: str, current: StoredObject, final: dict[str, Any] | None = None
    ) -> StoredObject:
        if self._dry:
            return current if final is None else StoredObject.of(final, current.rv)
        meta = current.obj["metadata"]
        return self.storage.delete(resource, meta.get("namespace") or "", meta["name"], final)

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
        if self._dry:
            return
        self.gc.observe(served.key, written.stored.obj, written.deleted)
        if served.key == CRD_RESOURCE:
            if written.deleted:
                name = written.stored.obj["metadata"]["name"]
                dropped = [s.obj for s in self.storage.list(name, None)]
                self.crds.removed(written.stored.obj)
                for obj in dropped:
                    self.gc.observe(name, obj, deleted=True)
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
            terminating = self._store_update(NAMESPACES, new, current)
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
        current = self.storage.get(NAMESPACES, "", name)
        return None if current is None else self._store_delete(NAMESPACES, current)

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
            self._store_create(served.key, served.converter.to_storage(obj)), warnings
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
            # only the top level and metadata change below: the rest stays shared
            new = {**old, "metadata": {**old_meta}}
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
            written = Written(self._store_delete(served.key, current, new), warnings, deleted=True)
        else:
            written = Written(self._store_update(served.key, new, current), warnings)
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
        _check_patch_type(served, content_type)
        try:
            patch = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise errors.bad_request(f"error decoding patch: {error}") from None
        # versions of a CRD share storage: patch the object as seen at the request's version
        base = served.present(self.get(served, namespace, name))[0]
        if content_type == MERGE_PATCH and not isinstance(patch, dict):
            raise errors.bad_request("a merge patch must be a JSON object")
        try:
            if content_type == MERGE_PATCH:
                # what the patch leaves alone stays shared with the stored object (never
                # modified): the write changes the top level and metadata, in its own copy
                new = merge_apply_shared(base, patch)
                if isinstance(new.get("metadata"), dict):
                    new["metadata"] = {**new["metadata"]}
            elif content_type == STRATEGIC_MERGE_PATCH:
                new = strategic_merge_apply(base, patch, (served.info.group, served.info.kind))
            else:
                new = json_patch_apply(base, patch)
        except (PatchTestFailed, StrategicMergeError) as error:
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
        """DELETE with DeleteOptions (preconditions, propagationPolicy, orphanDependents).

        The object goes at once unless it has finalizers after the policy's: Orphan adds
        `orphan`, Foreground adds `foregroundDeletion` (removing the other), Background removes
        both, no policy keeps those present. With finalizers left it gets a deletionTimestamp.
        `dryRun: ["All"]` in the options makes it a dry run."""
        dry_run = options.get("dryRun") or []
        if dry_run and not self._dry:
            if dry_run != ["All"]:
                raise errors.bad_request(f'dryRun: Unsupported value: {dry_run}: supported: "All"')
            return self.dry_run().delete(served, namespace, name, options)
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
        policy = _propagation_policy(options)
        if served.key == NAMESPACES:
            return self._delete_namespace(current)
        before = list(meta.get("finalizers") or [])
        finalizers = _finalizers_for(before, policy)
        if not finalizers:
            written = Written(self._store_delete(served.key, current), deleted=True)
        elif meta.get("deletionTimestamp") and finalizers == before:
            return Written(current)
        else:
            new = _copy(current)
            new_meta = new["metadata"]
            new_meta["finalizers"] = finalizers
            if not new_meta.get("deletionTimestamp"):
                new_meta["deletionTimestamp"] = timestamp(self.now())
                new_meta["deletionGracePeriodSeconds"] = 0
                new_meta["generation"] = int(meta.get("generation", 1)) + 1
            written = Written(self._store_update(served.key, new, current))
        self._after_write(served, written)
        return written


_POLICIES = ("Orphan", "Foreground", "Background")


def _propagation_policy(options: dict[str, Any]) -> str:
    """The DeleteOptions' propagation policy ("" when unset); 400 when invalid."""
    policy = options.get("propagationPolicy")
    orphan = options.get("orphanDependents")
    if policy is not None and orphan is not None:
        raise errors.bad_request("orphanDependents and propagationPolicy cannot both be set")
    if orphan is not None:
        return "Orphan" if orphan else "Background"
    if policy is None:
        return ""
    if policy not in _POLICIES:
        raise errors.bad_request(
            f'propagationPolicy: Unsupported value: "{policy}": supported values: '
            '"Foreground", "Background", "Orphan"'
        )
    return str(policy)


def _finalizers_for(finalizers: list[str], policy: str) -> list[str]:
    """The finalizers an object keeps when deleted with `policy`."""
    add = {"Orphan": ORPHAN, "Foreground": FOREGROUND}.get(policy)
    drop = {ORPHAN, FOREGROUND} - {add} if policy else set()
    kept = [f for f in finalizers if f not in drop]
    if add is not None and add not in kept:
        kept.append(add)
    return kept


_ACCEPTED_PATCHES = f"{JSON_PATCH}, {MERGE_PATCH}, {APPLY_PATCH}"


def _check_patch_type(served: ServedResource, content_type: str) -> None:
    """415 unless the patch type is served: JSON and merge patches, and strategic merge
    patches for built-in kinds (server-side apply is not implemented)."""
    unknown = "the body of the request was in an unknown format - accepted media types include: "
    if content_type == APPLY_PATCH:
        raise errors.unsupported_media_type(
            "server-side apply is not supported by the local API server (it does not implement "
            f"{APPLY_PATCH}); use client-side apply, a merge patch or a JSON patch"
        )
    if content_type in (JSON_PATCH, MERGE_PATCH):
        return
    if served.custom:
        raise errors.unsupported_media_type(unknown + _ACCEPTED_PATCHES)
    if content_type != STRATEGIC_MERGE_PATCH:
        raise errors.unsupported_media_type(
            f"{unknown}{_ACCEPTED_PATCHES}, {STRATEGIC_MERGE_PATCH}"
        )
