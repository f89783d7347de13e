"""The CAPTControlPlane controller: the Cluster API control-plane provider of CAPT, a managed
control plane applied as a Crossplane Terraform Workspace.

Phases (`MACHINE`): Creating -> Ready, Creating -> Failed, Ready -> Failed.

- Creating waits for the owning Cluster (its ownerReference, set by Cluster API core; the
  label `cluster.x-k8s.io/cluster-name` also names it), then creates the workspace
  `<namespace>-<name>-control-plane` (cluster-scoped: owner-uid label, owner annotation;
  the finalizer deletes it, then the kubeconfig Secret) from `spec.workspaceTemplateRef` (a
  remote module by that name, variables cluster_name, kubernetes_version, endpoint_public,
  endpoint_private and `spec.controlPlaneConfig.variables`).
- Every reconcile copies the workspace into the status through the StatusWriter:
  `workspaceStatus` (ready, state, `atProvider` merged in key by key, so provider data another
  writer stored survives and an absent or empty source never erases what is stored) and
  `workspaceTemplateStatus` (ready, state, outputs likewise, last applied revision = the
  workspace checksum, last failure message); `externalManagedControlPlane: true`.
- When the workspace is Ready and its outputs hold `endpoint` (an https URL) and
  `kubeconfig`, the controller sets `spec.controlPlaneEndpoint`, manages the Secret
  `<cluster>-kubeconfig` (type cluster.x-k8s.io/secret, label cluster-name, key `value`,
  controlled by the control plane) as the contract requires, writes ready, initialized and
  version, and moves to Ready; in Ready it keeps both in step.
- A workspace that applied and failed is a terminal error (failureReason CreateError in
  Creating, UpdateError in Ready). Creating is bounded by
  `spec.timeouts.controlPlaneCreation` (30m, reason ControlPlaneTimeout).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import urlsplit

from api.controlplane.v1beta1 import (
    WORKSPACE_READY,
    CAPTControlPlane,
    TerraformWorkspaceStatus,
    WorkspaceTemplateStatus,
)
from api.external.clusterapi import CLUSTER_NAME_LABEL
from controllers.capt import (
    WAITING_FOR_CLUSTER,
    ProviderReconciler,
    WorkspaceState,
    ensure_workspace,
    observe,
    owning_cluster,
    provider_builder,
    provider_setup,
    spec_timeout,
    workspace_name,
)
from framework.controller import ControllerBuilder, Result
from framework.manager import Manager
from framework.ownership import set_controller_reference
from framework.phase import PhaseMachine, PhaseTimeout
from framework.rbac import rbac
from framework.reconciler import on_phase

__all__ = [
    "KUBECONFIG_SECRET_TYPE",
    "MACHINE",
    "ROLE",
    "CAPTControlPlaneReconciler",
    "controller_builder",
    "kubeconfig_secret_name",
    "merge_provider_data",
    "setup",
]

JSON = dict[str, Any]
ROLE: Final = "control-plane"
KUBECONFIG_SECRET_TYPE: Final = "cluster.x-k8s.io/secret"


MACHINE: Final = PhaseMachine(
    phases=("Creating", "Ready", "Failed"),
    initial="Creating",
    transitions={"Creating": {"Ready", "Failed"}, "Ready": {"Failed"}},
    timeouts=[
        PhaseTimeout("Creating", spec_timeout("controlPlaneCreation", "30m"), "ControlPlaneTimeout")
    ],
)


def kubeconfig_secret_name(cluster: str) -> str:
    """The contract's name of a cluster's kubeconfig Secret."""
    return f"{cluster}-kubeconfig"


def merge_provider_data(stored: JSON | None, source: Mapping[str, Any] | None) -> JSON | None:
    """`stored` with `source` merged in key by key (nested objects too): source values win,
    keys only `stored` has are kept, and an absent or empty source changes nothing."""
    if not source:
        return stored
    merged = dict(stored or {})
    for key, value in source.items():
        old = merged.get(key)
        if isinstance(value, Mapping) and isinstance(old, dict):
            merged[key] = merge_provider_data(old, value)
        elif value is not None:
            merged[key] = value
    return merged


def _cluster_name(plane: CAPTControlPlane) -> str | None:
    return owning_cluster(plane) or plane.metadata.labels.get(CLUSTER_NAME_LABEL)


def _workspace_spec(plane: CAPTControlPlane, cluster: str) -> JSON:
    config = plane.spec.control_plane_config
    access = config.endpoint_access if config and config.endpoint_access else None
    variables = {
        "cluster_name": cluster,
        "kubernetes_version": plane.spec.version,
        "endpoint_public": str(access.public if access else True).lower(),
        "endpoint_private": str(access.private if access else False).lower(),
        **((config.variables if config else None) or {}),
    }
    return {
        "forProvider": {
            "source": "Remote",
            "module": plane.spec.workspace_template_ref.name,
            "vars": [{"key": k, "value": v} for k, v in variables.items()],
        }
    }


def _state(state: WorkspaceState) -> str:
    if state.is_ready:
        return "Available"
    if state.failed:
        return "Failed"
    return state.reason or "Pending"


def _mirror(plane: CAPTControlPlane, ws: Mapping[str, Any], state: WorkspaceState) -> None:
    """Copy the workspace into `plane.status` (see the module docstring)."""
    at_provider = (ws.get("status") or {}).get("atProvider") or {}
    status = plane.status
    status.external_managed_control_plane = True
    mirrored = status.workspace_status or TerraformWorkspaceStatus()
    mirrored.ready, mirrored.state = state.is_ready, _state(state)
    mirrored.at_provider = merge_provider_data(mirrored.at_provider, at_provider)
    status.workspace_status = mirrored
    template = status.workspace_template_status or WorkspaceTemplateStatus()
    template.ready, template.state = state.is_ready, _state(state)
    template.outputs = merge_provider_data(template.outputs, at_provider.get("outputs"))
    if state.is_ready and at_provider.get("checksum"):
        template.last_applied_revision = str(at_provider["checksum"])
    if state.failed:
        template.last_failure_message = state.describe()
    status.workspace_template_status = template


def _endpoint(url: object) -> tuple[str, int] | None:
    if not isinstance(url, str) or not url:
        return None
    parts = urlsplit(url if "://" in url else f"https://{url}")
    if not parts.hostname:
        return None
    return parts.hostname, parts.port or 443


@rbac("tf.upbound.io", ("workspaces",), ("create", "delete", "get", "list", "watch"))
@rbac("", ("secrets",), ("create", "delete", "get", "patch"))
@rbac("controlplane.cluster.x-k8s.io", ("captcontrolplanes",), ("patch",))
class CAPTControlPlaneReconciler(ProviderReconciler[CAPTControlPlane]):
    """Reconciles CAPTControlPlanes (see the module docstring)."""

    kind = CAPTControlPlane
    machine = MACHINE
    finalizer = "captcontrolplane.controlplane.cluster.x-k8s.io"
    controller_name = "captcontrolplane"
    role = ROLE

    def published_secret(self, plane: CAPTControlPlane) -> str | None:
        cluster = _cluster_name(plane)
        return None if cluster is None else kubeconfig_secret_name(cluster)

    @on_phase("Creating", "Ready")
    async def sync(self, plane: CAPTControlPlane) -> Result:
        creating = plane.status.phase == "Creating"
        cluster = _cluster_name(plane)
        if cluster is None:
            await self.set_conditions(plane, [], WAITING_FOR_CLUSTER)
            return Result()  # Cluster API's ownerReference is a change of this object
        name = workspace_name(plane, ROLE)
        ws = await ensure_workspace(
            self.context, plane, name, ROLE, _workspace_spec(plane, cluster)
        )
        state = observe(ws)
        await self.context.status_writer.patch_status(plane, lambda p: _mirror(p, ws, state))
        if state.failed:
            reason = "CreateError" if creating else "UpdateError"
            return await self.fail(plane, reason, f"control plane {state.describe()}")
        outputs = (
            plane.status.workspace_template_status or WorkspaceTemplateStatus()
        ).outputs or {}
        endpoint, kubeconfig = _endpoint(outputs.get("endpoint")), outputs.get("kubeconfig")
        if not state.is_ready or endpoint is None or not isinstance(kubeconfig, str):
            detail = (
                state.describe() if not state.is_ready else "outputs endpoint/kubeconfig missing"
            )
            message = f"waiting for the control plane: {detail}"
            if creating:
                await self.set_conditions(plane, [state.condition(WORKSPACE_READY)], message)
            return Result()  # the workspace's next change brings the control plane back
        await self._publish(plane, cluster, endpoint, kubeconfig)
        if not creating:
            return Result()
        return await self.transition_phase(
            plane,
            "Ready",
            f"control plane {endpoint[0]}:{endpoint[1]} is ready",
            [state.condition(WORKSPACE_READY)],
        )

    async def _publish(
        self, plane: CAPTControlPlane, cluster: str, endpoint: tuple[str, int], kubeconfig: str
    ) -> None:
        """The endpoint in the spec, the kubeconfig Secret, and the contract's status."""
        host, port = endpoint
        current = plane.spec.control_plane_endpoint
        if current is None or (current.host, current.port) != endpoint:
            patch = {"spec": {"controlPlaneEndpoint": {"host": host, "port": port}}}
            patched = await self.context.client.patch(
                CAPTControlPlane,
                plane.metadata.name or "",
                patch,
                namespace=plane.metadata.namespace,
            )
            self.context.cache.wrote(patched)
            plane.metadata, plane.spec = patched.metadata, patched.spec
        await self._kubeconfig_secret(plane, cluster, kubeconfig)

        def record(p: CAPTControlPlane) -> None:
            p.status.ready = True
            p.status.initialized = True
            p.status.version = p.spec.version

        await self.context.status_writer.patch_status(plane, record)

    async def _kubeconfig_secret(
        self, plane: CAPTControlPlane, cluster: str, kubeconfig: str
    ) -> None:
        value = base64.b64encode(kubeconfig.encode()).decode()
        secret: JSON = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {
                "name": kubeconfig_secret_name(cluster),
                "namespace": plane.metadata.namespace,
            },
            "type": KUBECONFIG_SECRET_TYPE,
        }

        def mutate(s: JSON) -> None:
            s.setdefault("metadata", {}).setdefault("labels", {})[CLUSTER_NAME_LABEL] = cluster
            s["data"] = {**(s.get("data") or {}), "value": value}
            set_controller_reference(plane, s)

        await self.context.client.create_or_patch(secret, mutate)


def controller_builder() -> ControllerBuilder:
    """CAPTControlPlanes and their workspaces."""
    return provider_builder(CAPTControlPlane, ROLE)


def setup(manager: Manager, **options: Any) -> None:
    """Register the controller with `manager` (entry point `kubeloop.controllers`)."""
    provider_setup(manager, CAPTControlPlaneReconciler, controller_builder(), **options)
