"""Helpers every integration suite shares: a test CRD builder, a bounded wait for a condition,
and readers of an object's phase and conditions and of the phase-transition metric.

(A test_ module so that it sits with the tests it serves; it holds no tests itself.)"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry

from framework.resources import GroupVersionKind

T = TypeVar("T")
JSON = dict[str, Any]

FREE_FORM: JSON = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
WAIT = 15.0


def crd(
    gvk: GroupVersionKind, plural: str, *, scope: str = "Namespaced", status: JSON = FREE_FORM
) -> JSON:
    """A one-version CRD serving `gvk` as `plural`, with the status subresource, a free-form
    spec and `status` as the status schema (free-form unless given)."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{gvk.group}"},
        "spec": {
            "group": gvk.group,
            "scope": scope,
            "names": {"plural": plural, "singular": gvk.kind.lower(), "kind": gvk.kind},
            "versions": [
                {
                    "name": gvk.version,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {"spec": FREE_FORM, "status": status},
                        }
                    },
                }
            ],
        },
    }


async def eventually(
    fetch: Callable[[], Awaitable[T]], predicate: Callable[[T], bool], within: float = WAIT
) -> T:
    """Poll `fetch` until `predicate` holds of its result (for at most `within` seconds);
    returns that result."""
    value = await fetch()
    async with asyncio.timeout(within):
        while not predicate(value):
            await asyncio.sleep(0.02)
            value = await fetch()
    return value


def phase_of(obj: JSON | None) -> str | None:
    """The object's `status.phase` (None when absent)."""
    phase = ((obj or {}).get("status") or {}).get("phase")
    return None if phase is None else str(phase)


def condition(obj: JSON | None, type_: str) -> JSON:
    """The wire condition of `type_` in the object's status ({} when absent)."""
    for entry in ((obj or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == type_:
            found: JSON = entry
            return found
    return {}


def transitions(registry: CollectorRegistry, controller: str) -> set[tuple[str, str]]:
    """Every (from, to) phase transition `controller` counted in the phase-transition metric
    (initial entries, which have no `from`, left out)."""
    found = set()
    for family in registry.collect():
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name.endswith("phase_transitions_total")
                and labels.get("controller") == controller
                and labels.get("from")
                and sample.value > 0
            ):
                found.add((labels["from"], labels["to"]))
    return found
