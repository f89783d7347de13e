"""Cluster API core (cluster.x-k8s.io/v1beta1): the `Cluster` kind and the contract types
providers share (`APIEndpoint`, `FailureDomainSpec`, `ObjectReference`)."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field

from api.common import CONDITIONS_FIELD
from api.external.base import OpenCondition, OpenModel
from framework.crdgen import PrinterColumn, RawExtension, custom_resource
from framework.models import KubeModel, KubeObject

GROUP: Final = "cluster.x-k8s.io"
VERSION: Final = "v1beta1"
CONTRACT_LABEL: Final = {f"{GROUP}/{VERSION}": VERSION}
"""The label Cluster API requires on a provider's CRDs: the contract version they implement."""
CLUSTER_NAME_LABEL: Final = f"{GROUP}/cluster-name"

FailureReason = Annotated[str | None, Field(description="A terminal problem, machine-readable.")]
"""Contract field `status.failureReason`: set when reconciling cannot succeed without help."""
FailureMessage = Annotated[str | None, Field(description="A terminal problem, human-readable.")]
"""Contract field `status.failureMessage`: the detail of `failureReason`."""


class ObjectReference(KubeModel):
    """A reference to an object (corev1.ObjectReference)."""

    api_version: str | None = None
    kind: str | None = None
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None


class APIEndpoint(KubeModel):
    """Where a cluster's API server listens."""

    host: str = Field(description="Host name or IP address.")
    port: int = Field(ge=0, le=65535, description="TCP port.")


class FailureDomainSpec(KubeModel):
    """A failure domain (e.g. an availability zone) and whether control planes may use it."""

    control_plane: bool | None = None
    attributes: dict[str, str] | None = None


class ClusterSpec(OpenModel):
    """Desired state of a Cluster: the infrastructure and control-plane objects behind it."""

    paused: bool | None = None
    cluster_network: RawExtension | None = None
    control_plane_endpoint: APIEndpoint | None = None
    control_plane_ref: ObjectReference | None = None
    infrastructure_ref: ObjectReference | None = None


class ClusterStatus(OpenModel):
    """Observed state of a Cluster, mirrored by Cluster API core from its providers."""

    phase: str | None = None
    infrastructure_ready: bool | None = None
    control_plane_ready: bool | None = None
    failure_reason: FailureReason = None
    failure_message: FailureMessage = None
    failure_domains: dict[str, FailureDomainSpec] | None = None
    observed_generation: int | None = None
    conditions: list[OpenCondition] | None = Field(default=None, json_schema_extra=CONDITIONS_FIELD)


@custom_resource(
    group=GROUP,
    version=VERSION,
    short_names=("cl",),
    categories=("cluster-api",),
    printer_columns=(
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
class Cluster(KubeObject):
    """A Cluster API Cluster."""

    spec: ClusterSpec = Field(default_factory=ClusterSpec)
    status: ClusterStatus = Field(default_factory=ClusterStatus)
