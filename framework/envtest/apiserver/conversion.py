"""How objects served at one version map to and from their stored form.

Versions of a kind share storage. Custom resources are stored as written and served at any
version by rewriting `apiVersion` (a CRD's `conversion.strategy: None`). events.k8s.io/v1
Events are stored as core/v1 Events and converted field by field both ways (as
kube-apiserver does), so `kubectl describe` shows events a controller recorded through
events.k8s.io, and the reverse.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from framework.envtest.apiserver.watch import StoredObject

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Converter:
    """`to_storage(obj)` gives the form to store; `from_storage(obj, api_version)` the form
    served at `api_version`."""

    to_storage: Callable[[Obj], Obj]
    from_storage: Callable[[Obj, str], Obj]

    def present(self, stored: StoredObject, api_version: str) -> tuple[Obj, bytes]:
        """The object and its JSON as served at `api_version` (no copy when it is stored so)."""
        if stored.obj.get("apiVersion") == api_version:
            return stored.obj, stored.raw
        obj = self.from_storage(stored.obj, api_version)
        return obj, orjson.dumps(obj)


def _identity(obj: Obj) -> Obj:
    return obj


def _with_version(obj: Obj, api_version: str) -> Obj:
    return {**obj, "apiVersion": api_version}


AS_WRITTEN = Converter(_identity, _with_version)
"""Stored as written; served at another version by rewriting apiVersion."""

# events.k8s.io/v1 field -> core/v1 field (the others have the same name in both)
_EVENT_FIELDS = {
    "regarding": "involvedObject",
    "note": "message",
    "reportingController": "reportingComponent",
    "deprecatedSource": "source",
    "deprecatedFirstTimestamp": "firstTimestamp",
    "deprecatedLastTimestamp": "lastTimestamp",
    "deprecatedCount": "count",
}
_CORE_FIELDS = {core: new for new, core in _EVENT_FIELDS.items()}


def _rename(obj: Obj, names: dict[str, str], api_version: str) -> Obj:
    out = {names.get(key, key): value for key, value in obj.items()}
    out["apiVersion"] = api_version
    return out


EVENTS_V1 = Converter(
    lambda obj: _rename(obj, _EVENT_FIELDS, "v1"),
    lambda obj, api_version: _rename(obj, _CORE_FIELDS, api_version),
)
"""events.k8s.io/v1 Events, stored as core/v1 Events."""
