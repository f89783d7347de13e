"""The CAPTCluster controller: the Cluster API infrastructure provider of CAPT.

Nothing happens until Cluster API core has set the owning Cluster's ownerReference. Then
(`MACHINE`): Pending -> ProvisioningVPC -> WaitingForSecret -> Ready, or Failed.

- ProvisioningVPC creates the VPC Terraform Workspace `<namespace>-<name>-vpc` (cluster-scoped:
  owner-uid label, owner annotation; the finalizer deletes it, then its connection secret)
  and mirrors its Synced and Ready conditions into the condition VPCReady; the workspace
  being Ready moves on, a workspace that applied and failed is a terminal error
  (failureReason CreateError).
- WaitingForSecret reads the VPC id (key `vpc_id`) from the workspace's connection secret
  `<name>-vpc-connection`, looking again every `secret_poll_interval` seconds; then
  status.ready, vpcId and failureDomains (one per availability zone, from the spec or the
  secret's `availability_zones`) are written and the cluster is Ready.
- Timeouts: ProvisioningVPC `spec.timeouts.vpcProvisioning` (15m, reason VPCReadyTimeout),
  WaitingForSecret `spec.timeouts.secretWait` (5m, reason SecretTimeout).

The VPC workspace: with `spec.vpc`, an inline module creating the VPC and one subnet per
zone (variables region, cluster_name, cidr_block, availability_zones, tags); with
`spec.vpcTemplateRef`, the named template as a remote module with the same variables
(workspace templates are passed by name: the template kind itself is not modelled).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any, Final

from api.external.clusterapi import FailureDomainSpec
from api.infrastructure.v1beta1 import (
    CONNECTION_SECRET_READY,
    VPC_READY,
    CAPTCluster,
    VPCConfig,
)
from controllers.capt import (
    SECRET,
    WAITING_FOR_CLUSTER,
    ProviderReconciler,
    ensure_workspace,
    observe,
    owning_cluster,
    provider_builder,
    provider_setup,
    spec_timeout,
    workspace_name,
)
from framework.conditions import Condition
from framework.controller import ControllerBuilder, Result
from framework.errors import NotFound
from framework.manager import Manager
from framework.phase import PhaseMachine, PhaseTimeout
from framework.rbac import rbac
from framework.reconciler import ReconcilerContext, on_phase

__all__ = [
    "MACHINE",
    "ROLE",
    "CAPTClusterReconciler",
    "connection_secret_name",
    "controller_builder",
    "setup",
]

JSON = dict[str, Any]
ROLE: Final = "vpc"
VPC_ID_KEY: Final = "vpc_id"
_INLINE_VPC_MODULE: Final = """
variable "region" { type = string }
variable "cluster_name" { type = string }
variable "cidr_block" { type = string }
variable "availability_zones" { type = list(string) }
variable "tags" { type = map(string) }
provider "aws" { region = var.region }
resource "aws_vpc" "this" {
  cidr_block = var.cidr_block
  tags       = merge(var.tags, { Name = var.cluster_name })
}
resource "aws_subnet" "zone" {
  count             = length(var.availability_zones)
  vpc_id            = aws_vpc.this.id
  availability_zone = var.availability_zones[count.index]
  cidr_block        = cidrsubnet(var.cidr_block, 4, count.index)
}
output "vpc_id" { value = aws_vpc.this.id }
output "subnet_ids" { value = aws_subnet.zone[*].id }
output "availability_zones" { value = var.availability_zones }
"""


MACHINE: Final = PhaseMachine(
    phases=("Pending", "ProvisioningVPC", "WaitingForSecret", "Ready", "Failed"),
    initial="Pending",
    transitions={
        "Pending": {"ProvisioningVPC"},
        "ProvisioningVPC": {"WaitingForSecret", "Failed"},
        "WaitingForSecret": {"Ready", "Failed"},
    },
    timeouts=[
        PhaseTimeout("ProvisioningVPC", spec_timeout("vpcProvisioning", "15m"), "VPCReadyTimeout"),
        PhaseTimeout("WaitingForSecret", spec_timeout("secretWait", "5m"), "SecretTimeout"),
    ],
)


def connection_secret_name(cluster: CAPTCluster) -> str:
    return f"{cluster.metadata.name}-vpc-connection"


def _workspace_spec(cluster: CAPTCluster) -> JSON:
    spec = cluster.spec
    vpc = spec.vpc or VPCConfig()
    variables = {
        "region": spec.region,
        "cluster_name": owning_cluster(cluster) or cluster.metadata.name or "",
        "cidr_block": vpc.cidr_block,
        "availability_zones": json.dumps(vpc.availability_zones or []),
        "tags": json.dumps(vpc.tags or {}),
    }
    for_provider: JSON = {"vars": [{"key": k, "value": v} for k, v in variables.items()]}
    if spec.vpc_template_ref is not None:
        for_provider.update(source="Remote", module=spec.vpc_template_ref.name)
    else:
        for_provider.update(source="Inline", module=_INLINE_VPC_MODULE.lstrip())
    return {
        "forProvider": for_provider,
        "writeConnectionSecretToRef": {
            "name": connection_secret_name(cluster),
            "namespace": cluster.metadata.namespace,
        },
    }


def _secret_value(secret: Mapping[str, Any], key: str) -> str | None:
    raw = (secret.get("data") or {}).get(key)
    if not raw:
        return None
    try:
        return base64.b64decode(raw).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def _zones(cluster: CAPTCluster, secret: Mapping[str, Any]) -> list[str]:
    if cluster.spec.vpc is not None and cluster.spec.vpc.availability_zones:
        return list(cluster.spec.vpc.availability_zones)
    try:
        zones = json.loads(_secret_value(secret, "availability_zones") or "[]")
    except ValueError:
        return []
    return [str(zone) for zone in zones] if isinstance(zones, list) else []


@rbac("tf.upbound.io", ("workspaces",), ("create", "delete", "get", "list", "watch"))
@rbac("", ("secrets",), ("delete", "get"))
class CAPTClusterReconciler(ProviderReconciler[CAPTCluster]):
    """Reconciles CAPTClusters (see the module docstring); `secret_poll_interval`: seconds
    between looks for the connection secret."""

    kind = CAPTCluster
    machine = MACHINE
    finalizer = "captcluster.infrastructure.cluster.x-k8s.io"
    controller_name = "captcluster"
    role = ROLE

    def __init__(self, context: ReconcilerContext, *, secret_poll_interval: float = 5.0) -> None:
        super().__init__(context)
        self.secret_poll_interval = secret_poll_interval

    def published_secret(self, cluster: CAPTCluster) -> str:
        return connection_secret_name(cluster)

    @on_phase("Pending")
    async def pending(self, cluster: CAPTCluster) -> Result:
        owner = owning_cluster(cluster)
        if owner is None:
            await self.set_conditions(cluster, [], WAITING_FOR_CLUSTER)
            return Result()  # Cluster API's ownerReference is a change of this object
        return await self.transition_phase(
            cluster, "ProvisioningVPC", f"provisioning the VPC of Cluster {owner}"
        )

    @on_phase("ProvisioningVPC")
    async def provisioning_vpc(self, cluster: CAPTCluster) -> Result:
        name = workspace_name(cluster, ROLE)
        ws = await ensure_workspace(self.context, cluster, name, ROLE, _workspace_spec(cluster))
        state = observe(ws)

        def record(c: CAPTCluster) -> None:
            c.status.vpc_workspace_name = name
            c.status.ready = False

        await self.context.status_writer.patch_status(cluster, record)
        condition = state.condition(VPC_READY)
        if state.failed:
            return await self.fail(cluster, "CreateError", f"VPC {state.describe()}")
        if not state.is_ready:
            await self.set_conditions(
                cluster, [condition], f"waiting for the VPC: {state.describe()}"
            )
            return Result()  # the workspace's next change brings the cluster back
        return await self.transition_phase(
            cluster,
            "WaitingForSecret",
            "the VPC is ready; reading its connection secret",
            [condition],
        )

    @on_phase("WaitingForSecret")
    async def waiting_for_secret(self, cluster: CAPTCluster) -> Result:
        name = connection_secret_name(cluster)
        try:
            secret: JSON = await self.context.client.get(
                SECRET, name, namespace=cluster.metadata.namespace
            )
        except NotFound:
            return await self._wait_for_secret(
                cluster, "SecretNotFound", f"secret {name} not found"
            )
        vpc_id = _secret_value(secret, VPC_ID_KEY)
        if not vpc_id:
            return await self._wait_for_secret(
                cluster, "VPCIDMissing", f"secret {name} has no {VPC_ID_KEY}"
            )
        zones = _zones(cluster, secret)

        def record(c: CAPTCluster) -> None:
            c.status.ready = True
            c.status.vpc_id = vpc_id
            c.status.failure_domains = {z: FailureDomainSpec(control_plane=True) for z in zones}

        await self.context.status_writer.patch_status(cluster, record)
        found = Condition(type=CONNECTION_SECRET_READY, status="True", reason="SecretFound")
        return await self.transition_phase(cluster, "Ready", f"VPC {vpc_id} is ready", [found])

    async def _wait_for_secret(self, cluster: CAPTCluster, reason: str, message: str) -> Result:
        missing = Condition(
            type=CONNECTION_SECRET_READY, status="False", reason=reason, message=message
        )
        await self.set_conditions(cluster, [missing], message)
        return Result(requeue_after=self.secret_poll_interval)


def controller_builder() -> ControllerBuilder:
    """CAPTClusters and their VPC workspaces."""
    return provider_builder(CAPTCluster, ROLE)


def setup(manager: Manager, **options: Any) -> None:
    """Register the controller with `manager` (entry point `kubeloop.controllers`);
    `options` go to `CAPTClusterReconciler`."""
    provider_setup(manager, CAPTClusterReconciler, controller_builder(), **options)
