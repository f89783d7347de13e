"""controlplane.cluster.x-k8s.io/v1beta1."""

from api.controlplane.v1beta1.captcontrolplane_types import (
    GROUP,
    VERSION,
    WORKSPACE_READY,
    CAPTControlPlane,
    CAPTControlPlanePhase,
    CAPTControlPlaneSpec,
    CAPTControlPlaneStatus,
    CAPTControlPlaneTimeouts,
    ControlPlaneConfig,
    EndpointAccess,
    TerraformWorkspaceStatus,
    WorkspaceTemplateStatus,
)

__all__ = [
    "GROUP",
    "VERSION",
    "WORKSPACE_READY",
    "CAPTControlPlane",
    "CAPTControlPlanePhase",
    "CAPTControlPlaneSpec",
    "CAPTControlPlaneStatus",
    "CAPTControlPlaneTimeouts",
    "ControlPlaneConfig",
    "EndpointAccess",
    "TerraformWorkspaceStatus",
    "WorkspaceTemplateStatus",
]
