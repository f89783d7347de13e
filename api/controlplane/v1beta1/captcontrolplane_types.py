"""CAPTControlPlane: the Cluster API control plane of CAPT, a managed control plane applied as
a Crossplane Terraform Workspace rendered from a workspace template.

It follows the Cluster API v1beta1 control-plane-provider contract (`spec.version`,
`spec.controlPlaneEndpoint`, `status.ready`, `status.initialized`,
`status.externalManagedControlPlane: true`, failureReason/failureMessage). Phases: Creating ->
Ready, or Failed. `status.workspaceStatus.atProvider` mirrors the workspace's provider data
verbatim; the schema keeps any content there.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from pydantic import Field

from api.common import KUBELOOP_CATEGORY, Duration, KubeloopStatus, WorkspaceTemplateReference
from api.external.clusterapi import CONTRACT_LABEL, APIEndpoint, FailureMessage, FailureReason
from framework.crdgen import PrinterColumn, RawExtension, custom_resource
from framework.models import KubeModel, KubeObject

GROUP: Final = "controlplane.cluster.x-k8s.io"
VERSION: Final = "v1beta1"

WORKSPACE_READY: Final = "WorkspaceReady"
"""The control plane's Terraform Workspace is applied and Ready."""

CAPTControlPlanePhase = Literal["Creating", "Ready", "Failed"]


class EndpointAccess(KubeModel):
    """From where the API server endpoint is reachable."""

    public: bool = True
    private: bool = False


class ControlPlaneConfig(KubeModel):
    """Settings passed to the control plane's workspace template."""

    endpoint_access: EndpointAccess | None = None
    variables: dict[str, str] | None = Field(
        default=None, description="Extra Terraform variables for the template."
    )


class CAPTControlPlaneTimeouts(KubeModel):
    """How long each phase may last before the control plane goes to Failed."""

    control_plane_creation: Duration = Field(default="30m", description="Bound of Creating.")


class CAPTControlPlaneSpec(KubeModel):
    """Desired state of a CAPTControlPlane."""

    version: str = Field(
        pattern=r"^v?[0-9]+\.[0-9]+(\.[0-9]+)?$", description="Kubernetes version, e.g. v1.31."
    )
    control_plane_config: ControlPlaneConfig | None = None
    workspace_template_ref: WorkspaceTemplateReference
    control_plane_endpoint: APIEndpoint | None = Field(
        default=None, description="Set by the provider once the API server is reachable."
    )
    timeouts: CAPTControlPlaneTimeouts = Field(default_factory=CAPTControlPlaneTimeouts)


class WorkspaceTemplateStatus(KubeModel):
    """How the workspace template was last applied."""

    ready: bool | None = None
    state: str | None = None
    last_applied_revision: str | None = None
    last_failed_revision: str | None = None
    last_failure_message: str | None = None
    outputs: RawExtension | None = Field(default=None, description="Template outputs (any JSON).")


class TerraformWorkspaceStatus(KubeModel):
    """The state of the Terraform Workspace, with its provider data kept verbatim."""

    ready: bool | None = None
    state: str | None = None
    at_provider: RawExtension | None = Field(
        default=None, description="The workspace's status.atProvider (any JSON, never pruned)."
    )


class CAPTControlPlaneStatus(KubeloopStatus):
    """Observed state of a CAPTControlPlane."""

    CONDITION_TYPES: ClassVar[tuple[str, ...]] = (*KubeloopStatus.CONDITION_TYPES, WORKSPACE_READY)

    phase: CAPTControlPlanePhase | None = Field(default=None, description="The lifecycle phase.")
    ready: bool | None = Field(default=None, description="The API server accepts requests.")
    initialized: bool | None = Field(
        default=None, description="The control plane has been initialized (stays true)."
    )
    external_managed_control_plane: bool | None = Field(
        default=None, description="Always true: the control plane has no Machines."
    )
    version: str | None = Field(default=None, description="The version the control plane runs.")
    failure_reason: FailureReason = None
    failure_message: FailureMessage = None
    workspace_template_status: WorkspaceTemplateStatus | None = None
    workspace_status: TerraformWorkspaceStatus | None = None


@custom_resource(
    group=GROUP,
    version=VERSION,
    short_names=("captcp",),
    categories=(KUBELOOP_CATEGORY, "cluster-api"),
    labels=CONTRACT_LABEL,
    printer_columns=(
        PrinterColumn("Ready", "boolean", ".status.ready"),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Version", "string", ".spec.version"),
        PrinterColumn("Endpoint", "string", ".spec.controlPlaneEndpoint.host"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
class CAPTControlPlane(KubeObject):
    """A CAPTControlPlane is the managed control plane of a Cluster API cluster."""

    spec: CAPTControlPlaneSpec
    status: CAPTControlPlaneStatus = Field(default_factory=CAPTControlPlaneStatus)
