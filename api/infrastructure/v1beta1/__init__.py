"""infrastructure.cluster.x-k8s.io/v1beta1."""

from api.infrastructure.v1beta1.captcluster_types import (
    CONNECTION_SECRET_READY,
    GROUP,
    VERSION,
    VPC_READY,
    CAPTCluster,
    CAPTClusterPhase,
    CAPTClusterSpec,
    CAPTClusterStatus,
    CAPTClusterTimeouts,
    VPCConfig,
)

__all__ = [
    "CONNECTION_SECRET_READY",
    "GROUP",
    "VERSION",
    "VPC_READY",
    "CAPTCluster",
    "CAPTClusterPhase",
    "CAPTClusterSpec",
    "CAPTClusterStatus",
    "CAPTClusterTimeouts",
    "VPCConfig",
]
