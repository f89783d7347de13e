"""What the CAPT provider controllers share: the Cluster API contract and their Crossplane
Terraform Workspaces.

Contract (`ProviderReconciler`): a provider object belongs to the Cluster named by its
ownerReference of kind Cluster (`owning_cluster`), set by Cluster API core. A terminal error
sets `status.failureReason` and `failureMessage` and `ready: false` with the move to Failed
(`fail`); a phase timeout, which the framework enforces, gets the same fields from its reason
right after (transient errors are only conditions). Providers write only their own objects.

Workspaces:

A Workspace (tf.upbound.io/v1beta1) is cluster-scoped, so a namespaced CAPT object cannot own
it: the child carries the owner's uid label, the owner annotation and a role label
(`ROLE_LABEL`: vpc or control-plane), `workspace_requests(role)` maps its events back to the
owner, and the owner's finalizer deletes it (`delete_workspaces`).

Reading a Workspace (`observe`): Ready=True is success; Synced=True with Ready=False for any
reason but Crossplane's in-progress ones (Creating, Deleting, ReconcilePaused) is a terminal
failure (Terraform applied and failed); anything else (Synced=False, no conditions yet) is
still in progress, transient errors included.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Protocol, TypeVar, cast

from api.common import parse_duration
from api.external.clusterapi import CLUSTER_NAME_LABEL
from api.external.clusterapi import GROUP as CLUSTER_API_GROUP
from api.external.crossplane import GROUP, SYNCED, VERSION
from framework.conditions import STALLED, Condition, is_valid_reason
from framework.controller import ControllerBuilder, ControllerOptions, Result, TerminalError
from framework.errors import NotFound
from framework.handlers import MapFunc, Request, requests_for_annotated_owner
from framework.manager import Manager
from framework.models import KubeObject
from framework.ownership import OWNER_UID_LABEL, owner_annotations, owner_labels
from framework.reconciler import PhaseReconciler, ReconcilerContext
from framework.resources import GroupVersionKind
from framework.selectors import LabelSelector

__all__ = [
    "FAILED",
    "ROLE_LABEL",
    "SECRET",
    "WAITING_FOR_CLUSTER",
    "WORKSPACE",
    "ProviderReconciler",
    "WorkspaceState",
    "delete_secret",
    "delete_workspaces",
    "ensure_workspace",
    "observe",
    "owning_cluster",
    "provider_builder",
    "provider_setup",
    "spec_timeout",
    "workspace_name",
    "workspace_requests",
]

JSON = dict[str, Any]

WORKSPACE: Final = GroupVersionKind(GROUP, VERSION, "Workspace")
SECRET: Final = GroupVersionKind("", "v1", "Secret")
ROLE_LABEL: Final = "capt.kubeloop.dev/workspace-role"
_IN_PROGRESS: Final = frozenset({"Creating", "Deleting", "ReconcilePaused"})
FAILED: Final = "Failed"
WAITING_FOR_CLUSTER: Final = "waiting for Cluster API to set the owning Cluster"
P = TypeVar("P", bound=KubeObject)


def owning_cluster(obj: KubeObject) -> str | None:
    """The name of the Cluster API Cluster named in the object's ownerReferences, if any."""
    for ref in obj.metadata.owner_references:
        group = GroupVersionKind.from_api_version(ref.api_version, ref.kind).group
        if group == CLUSTER_API_GROUP and ref.kind == "Cluster":
            return ref.name
    return None


class ContractStatus(Protocol):
    """The Cluster API contract fields of a provider's status."""

    ready: bool | None
    failure_reason: str | None
    failure_message: str | None
    message: str | None
    conditions: list[Condition] | None


def _contract(obj: KubeObject) -> ContractStatus:
    return cast(ContractStatus, obj.status)  # type: ignore[attr-defined]


def _set_failure(obj: KubeObject, reason: str, message: str) -> None:
    status = _contract(obj)
    status.ready = False
    status.failure_reason = reason
    status.failure_message = message


def spec_timeout(field: str, default: str) -> Callable[[Mapping[str, Any]], float]:
    """A `PhaseTimeout`'s seconds: the object's `spec.timeouts.<field>` duration (`default`
    when unset)."""

    def seconds(obj: Mapping[str, Any]) -> float:
        timeouts = (obj.get("spec") or {}).get("timeouts") or {}
        return parse_duration(str(timeouts.get(field) or default)).total_seconds()

    return seconds


class ProviderReconciler(PhaseReconciler[P]):
    """A PhaseReconciler of a Cluster API provider kind (see the module docstring) whose
    workspaces carry the role `role`. Its finalizer deletes them, then the Secret
    `published_secret` names (in the object's namespace), if any."""

    role: ClassVar[str]

    def published_secret(self, obj: P) -> str | None:
        """The Secret the provider published for `obj` (None: none to delete)."""
        return None

    async def finalize(self, obj: P) -> bool | Result:
        """Delete the workspaces, then the published Secret; done once the workspaces are
        gone."""
        if await delete_workspaces(self.context, obj, self.role):
            return Result(requeue_after=1.0)
        secret = self.published_secret(obj)
        if secret is not None:
            await delete_secret(self.context, secret, obj.metadata.namespace)
        return True

    async def fail(self, obj: P, reason: str, message: str) -> Result:
        """A terminal error: the contract's failure fields, then the move to Failed."""
        await self.context.status_writer.patch_status(
            obj, lambda o: _set_failure(o, reason, message)
        )
        stalled = Condition(type=STALLED, status="True", reason=reason, message=message)
        return await self.transition_phase(obj, FAILED, message, [stalled])

    async def reconcile(self, request: Request) -> Result:
        result = await super().reconcile(request)
        try:
            obj: P = await self.context.cache.get(
                self.kind, request.name, namespace=request.namespace or None
            )
        except NotFound:
            return result
        status = _contract(obj)
        if getattr(status, "phase", None) == FAILED and not status.failure_reason:
            stalled = next((c for c in status.conditions or [] if c.type == STALLED), None)
            reason = stalled.reason if stalled is not None else "Failed"
            message = status.message or reason
            await self.context.status_writer.patch_status(
                obj, lambda o: _set_failure(o, reason, message)
            )
        return result


@dataclass(frozen=True)
class WorkspaceState:
    """The Synced and Ready conditions of a Workspace ("" when absent), Ready's reason and
    message (Synced's when Synced is False)."""

    synced: str
    ready: str
    reason: str
    message: str

    @property
    def is_ready(self) -> bool:
        return self.ready == "True"

    @property
    def failed(self) -> bool:
        """Applied and failed: a terminal error (see the module docstring)."""
        return self.synced == "True" and self.ready == "False" and self.reason not in _IN_PROGRESS

    def condition(self, type_: str) -> Condition:
        """`type_` mirroring the workspace: True when ready, else False with its reason."""
        if self.is_ready:
            return Condition(type=type_, status="True", reason="Available", message=self.message)
        reason = self.reason if is_valid_reason(self.reason) else "WorkspaceNotReady"
        return Condition(type=type_, status="False", reason=reason, message=self.describe())

    def describe(self) -> str:
        detail = f": {self.message}" if self.message else ""
        return f"workspace Synced={self.synced or 'Unknown'} Ready={self.ready or 'Unknown'}" + (
            f" ({self.reason}){detail}" if self.reason else detail
        )


def _conditions(ws: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {c.get("type", ""): c for c in (ws.get("status") or {}).get("conditions") or []}


def observe(ws: Mapping[str, Any]) -> WorkspaceState:
    """The workspace's state (see `WorkspaceState`)."""
    conditions = _conditions(ws)
    synced, ready = conditions.get(SYNCED, {}), conditions.get("Ready", {})
    source = synced if synced.get("status") == "False" else ready
    return WorkspaceState(
        synced=str(synced.get("status") or ""),
        ready=str(ready.get("status") or ""),
        reason=str(source.get("reason") or ""),
        message=str(source.get("message") or ""),
    )


def workspace_name(owner: KubeObject, suffix: str) -> str:
    """A cluster-wide name for the owner's workspace: `<namespace>-<name>-<suffix>`."""
    return f"{owner.metadata.namespace}-{owner.metadata.name}-{suffix}"


async def ensure_workspace(
    context: ReconcilerContext,
    owner: KubeObject,
    name: str,
    role: str,
    spec: JSON,
) -> JSON:
    """The workspace `name`, created with `spec` when absent (labelled and annotated as the
    owner's child); TerminalError when a workspace of that name belongs to someone else."""
    try:
        ws: JSON = await context.cache.get(WORKSPACE, name)
    except NotFound:
        labels = {**owner_labels(owner), ROLE_LABEL: role}
        cluster = owner.metadata.labels.get(CLUSTER_NAME_LABEL)
        if cluster:
            labels[CLUSTER_NAME_LABEL] = cluster
        desired: JSON = {
            "apiVersion": WORKSPACE.api_version,
            "kind": WORKSPACE.kind,
            "metadata": {"name": name, "labels": labels, "annotations": owner_annotations(owner)},
            "spec": spec,
        }
        ws = await context.client.create(desired)
        context.cache.wrote(ws)
        return ws
    owner_uid = ((ws.get("metadata") or {}).get("labels") or {}).get(OWNER_UID_LABEL)
    if owner_uid != owner.metadata.uid:
        raise TerminalError(f"workspace {name} exists and belongs to another object ({owner_uid})")
    return ws


async def delete_workspaces(context: ReconcilerContext, owner: KubeObject, role: str) -> int:
    """Delete the owner's workspaces of `role`; the number that still existed (0: all gone)."""
    selector = LabelSelector.from_labels({**owner_labels(owner), ROLE_LABEL: role})
    found = (await context.client.list(WORKSPACE, label_selector=selector)).items
    for ws in found:
        name = str((ws.get("metadata") or {}).get("name"))
        if not (ws.get("metadata") or {}).get("deletionTimestamp"):
            with contextlib.suppress(NotFound):
                await context.client.delete(WORKSPACE, name)
        context.cache.deleted(WORKSPACE, name)
    return len(found)


async def delete_secret(context: ReconcilerContext, name: str, namespace: str | None) -> None:
    """Delete a Secret the provider published or named, if it exists (without waiting on the
    garbage collector, which a local control plane may not run)."""
    with contextlib.suppress(NotFound):
        await context.client.delete(SECRET, name, namespace=namespace)


def workspace_requests(role: str) -> MapFunc:
    """A map function: a workspace of `role` -> its owner's request."""

    def requests(ws: JSON) -> list[Request]:
        labels = (ws.get("metadata") or {}).get("labels") or {}
        return requests_for_annotated_owner(ws) if labels.get(ROLE_LABEL) == role else []

    return requests


def provider_builder(kind: type[KubeObject], role: str) -> ControllerBuilder:
    """A controller of the provider `kind` and its workspaces of `role`."""
    return ControllerBuilder().for_kind(kind).watches(WORKSPACE, workspace_requests(role))


def provider_setup(
    manager: Manager,
    reconciler_class: type[ProviderReconciler[Any]],
    builder: ControllerBuilder,
    **options: Any,
) -> None:
    """Register `builder`'s controller running `reconciler_class(**options)` with `manager`,
    with the manager's reconcile concurrency."""
    reconciler = reconciler_class(manager.context(reconciler_class.controller_name), **options)
    workers = ControllerOptions(max_concurrent_reconciles=manager.options.max_concurrent_reconciles)
    manager.build(builder.with_options(workers), reconciler)
