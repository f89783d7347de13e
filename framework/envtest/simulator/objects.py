"""Helpers over objects in wire form (dicts) shared by the simulator's actors: kinds,
timestamps, built-in conditions, controller references and children."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from framework.clock import Clock
from framework.conditions import to_rfc3339
from framework.envtest.simulator.engine import ObjectKey, World
from framework.resources import GroupVersionKind

JSON = dict[str, Any]

NODE = GroupVersionKind("", "v1", "Node")
POD = GroupVersionKind("", "v1", "Pod")
DEPLOYMENT = GroupVersionKind("apps", "v1", "Deployment")
REPLICA_SET = GroupVersionKind("apps", "v1", "ReplicaSet")
JOB = GroupVersionKind("batch", "v1", "Job")


class _Second:
    """One whole second of wall time and its `to_rfc3339` form."""

    __slots__ = ("end", "start", "text")

    def __init__(self, moment: datetime) -> None:
        self.start = moment.replace(microsecond=0)
        self.end = self.start + timedelta(seconds=1)
        self.text = to_rfc3339(self.start)


_last_second = _Second(datetime.fromtimestamp(0, UTC))
"""The second of the last stamp (stamps repeat within a second: formatted once)."""


def timestamp(clock: Clock) -> str:
    """The clock's wall time as metav1.Time writes it."""
    global _last_second
    moment = clock.wall()
    second = _last_second
    if not second.start <= moment < second.end:
        second = _last_second = _Second(moment)
    return second.text


def meta(obj: Mapping[str, Any]) -> JSON:
    found: JSON = obj.get("metadata") or {}
    return found


def deleting(obj: Mapping[str, Any]) -> bool:
    return bool(meta(obj).get("deletionTimestamp"))


def conditions_of(obj: Mapping[str, Any]) -> list[JSON]:
    found: list[JSON] = (obj.get("status") or {}).get("conditions") or []
    return found


def condition_true(obj: Mapping[str, Any], type_: str) -> bool:
    for condition in conditions_of(obj):
        if condition.get("type") == type_ and condition.get("status") == "True":
            return True
    return False


def set_condition(
    status: JSON,
    type_: str,
    value: bool,
    now: str,
    reason: str | None = None,
    message: str | None = None,
    *,
    update_time: bool = False,
) -> None:
    """Set a built-in kind's condition (PodCondition, NodeCondition, DeploymentCondition,
    JobCondition) in `status.conditions`, in place: lastTransitionTime moves only when the
    status changes; reason and message are replaced (dropped when None); `update_time` also
    keeps a lastUpdateTime that moves whenever anything changes (DeploymentCondition)."""
    conditions: list[JSON] = status.setdefault("conditions", [])
    entry: JSON = {"type": type_, "status": "True" if value else "False"}
    if reason is not None:
        entry["reason"] = reason
    if message is not None:
        entry["message"] = message
    index = _index_of(conditions, type_)
    old = conditions[index] if index is not None else {}
    same_status = old.get("status") == entry["status"]
    entry["lastTransitionTime"] = old.get("lastTransitionTime") if same_status else now
    if not entry["lastTransitionTime"]:
        entry["lastTransitionTime"] = now
    if update_time:
        unchanged = (
            same_status
            and old.get("reason") == entry.get("reason")
            and old.get("message") == entry.get("message")
        )
        entry["lastUpdateTime"] = old.get("lastUpdateTime", now) if unchanged else now
    for extra in ("lastProbeTime", "lastHeartbeatTime"):
        if extra in old:
            entry[extra] = old[extra]
    if index is None:
        conditions.append(entry)
    else:
        conditions[index] = entry


def _index_of(conditions: list[JSON], type_: str) -> int | None:
    """The position of the condition of `type_` (None when absent)."""
    for index, condition in enumerate(conditions):
        if condition.get("type") == type_:
            return index
    return None


def controller_key(obj: Mapping[str, Any], kinds: tuple[GroupVersionKind, ...]) -> ObjectKey | None:
    """The key of the object's controller (owner reference marked controller) when its kind is
    one of `kinds`; a namespaced child's controller is in the child's namespace."""
    for ref in meta(obj).get("ownerReferences") or []:
        if not ref.get("controller"):
            continue
        group, kind_name = str(ref.get("apiVersion")).rpartition("/")[0], ref.get("kind")
        for kind in kinds:
            if kind.kind == kind_name and kind.group == group:
                return ObjectKey(kind, str(ref.get("name")), str(meta(obj).get("namespace") or ""))
    return None


def controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    """Whether `obj`'s controller reference names `owner`'s uid."""
    uid = meta(owner).get("uid")
    refs = meta(obj).get("ownerReferences") or []
    return any(ref.get("controller") and ref.get("uid") == uid for ref in refs)


async def children(world: World, gvk: GroupVersionKind, owner: Mapping[str, Any]) -> list[JSON]:
    """The objects of `gvk` that `owner` controls and that are not being deleted."""
    owned = await world.owned_by(gvk, owner)
    return [child for child in owned if controlled_by(child, owner) and not deleting(child)]


async def delete_orphans(world: World, gvk: GroupVersionKind, owner: ObjectKey) -> int:
    """Delete the objects of `gvk` whose controller is the deleted `owner` (the garbage
    collector's part); returns how many were deleted."""
    deleted = 0
    for child in await world.list(gvk, owner.namespace or None):
        if controller_key(child, (owner.gvk,)) == owner:
            deleted += await world.delete(ObjectKey.of(child))
    return deleted
