"""CAPTCluster: the Cluster API infrastructure cluster of CAPT (Cluster API over Terraform).

It provisions the cluster's VPC as a Crossplane Terraform Workspace and follows the Cluster
API v1beta1 infrastructure-provider contract: `spec.controlPlaneEndpoint`, `status.ready`,
`status.failureReason`/`failureMessage` and `status.failureDomains`. Phases: Pending ->
ProvisioningVPC -> WaitingForSecret (the workspace's connection secret) -> Ready, or Failed.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from pydantic import Field

from api.common import (
    KUBELOOP_CATEGORY,
    Duration,
    KubeloopStatus,
    WorkspaceTemplateReference,
    exactly_one_of,
)
from api.external.clusterapi import (
    CONTRACT_LABEL,
    APIEndpoint,
    FailureDomainSpec,
    FailureMessage,
    FailureReason,
)
from framework.crdgen import PrinterColumn, custom_resource
from framework.models import KubeModel, KubeObject

GROUP: Final = "infrastructure.cluster.x-k8s.io"
VERSION: Final = "v1beta1"

VPC_READY: Final = "VPCReady"
"""The VPC workspace is applied and Ready."""
CONNECTION_SECRET_READY: Final = "ConnectionSecretReady"
"""The VPC workspace's connection secret exists."""

CAPTClusterPhase = Literal["Pending", "ProvisioningVPC", "WaitingForSecret", "Ready", "Failed"]


class VPCConfig(KubeModel):
    """An inline VPC definition."""

    cidr_block: str = Field(
        default="10.0.0.0/16", pattern=r"^([0-9]{1,3}\.){3}[0-9]{1,3}/[0-9]{1,2}$"
    )
    availability_zones: list[str] | None = Field(
        default=None, description="Zones to spread subnets over; each becomes a failure domain."
    )
    tags: dict[str, str] | None = None


class CAPTClusterTimeouts(KubeModel):
    """How long each provisioning phase may last before the cluster goes to Failed."""

    vpc_provisioning: Duration = Field(default="15m", description="Bound of ProvisioningVPC.")
    secret_wait: Duration = Field(default="5m", description="Bound of WaitingForSecret.")


class CAPTClusterSpec(KubeModel):
    """Desired state of a CAPTCluster: a region and exactly one of vpcTemplateRef or vpc."""

    model_config = exactly_one_of("vpcTemplateRef", "vpc")

    region: str = Field(min_length=1)
    vpc_template_ref: WorkspaceTemplateReference | None = None
    vpc: VPCConfig | None = None
    control_plane_endpoint: APIEndpoint | None = Field(
        default=None, description="Set by the provider once the control plane is reachable."
    )
    timeouts: CAPTClusterTimeouts = Field(default_factory=CAPTClusterTimeouts)


class CAPTClusterStatus(KubeloopStatus):
    """Observed state of a CAPTCluster."""

    CONDITION_TYPES: ClassVar[tuple[str, ...]] = (
        *KubeloopStatus.CONDITION_TYPES,
        VPC_READY,
        CONNECTION_SECRET_READY,
    )

    phase: CAPTClusterPhase | None = Field(default=None, description="The lifecycle phase.")
    ready: bool | None = Field(default=None, description="The infrastructure is ready.")
    failure_reason: FailureReason = None
    failure_message: FailureMessage = None
    failure_domains: dict[str, FailureDomainSpec] | None = None
    vpc_workspace_name: str | None = Field(
        default=None, description="The Terraform Workspace that provisions the VPC."
    )
    vpc_id: str | None = None


@custom_resource(
    group=GROUP,
    version=VERSION,
    short_names=("captc",),
    categories=(KUBELOOP_CATEGORY, "cluster-api"),
    labels=CONTRACT_LABEL,
    printer_columns=(
        PrinterColumn("VPC-ID", "string", ".status.vpcId"),
        PrinterColumn("Ready", "boolean", ".status.ready"),
        PrinterColumn("Endpoint", "string", ".spec.controlPlaneEndpoint.host"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
class CAPTCluster(KubeObject):
    """A CAPTCluster is the network infrastructure of a Cluster API cluster."""

    spec: CAPTClusterSpec
    status: CAPTClusterStatus = Field(default_factory=CAPTClusterStatus)
