"""Karpenter (karpenter.sh/v1): `NodeClaim`, one node requested from the cloud provider."""

from __future__ import annotations

from typing import Final

from pydantic import Field

from api.common import CONDITIONS_FIELD
from api.external.base import OpenCondition, OpenModel
from framework.crdgen import IntOrString, PrinterColumn, custom_resource
from framework.models import KubeObject

GROUP: Final = "karpenter.sh"
VERSION: Final = "v1"
INSTANCE_TYPE_LABEL: Final = "node.kubernetes.io/instance-type"


class NodeClassReference(OpenModel):
    """The provider-specific node class the claim is launched with."""

    group: str | None = None
    kind: str | None = None
    name: str | None = None


class NodeSelectorRequirement(OpenModel):
    """A scheduling requirement on a node label (e.g. the instance type)."""

    key: str
    operator: str
    values: list[str] | None = None
    min_values: int | None = None


class NodeClaimResources(OpenModel):
    """Resources the node must provide."""

    requests: dict[str, IntOrString] | None = None


class NodeClaimSpec(OpenModel):
    """Desired state of a NodeClaim."""

    node_class_ref: NodeClassReference | None = None
    requirements: list[NodeSelectorRequirement] | None = None
    resources: NodeClaimResources | None = None


class NodeClaimStatus(OpenModel):
    """Observed state of a NodeClaim: the node it became and conditions Launched,
    Registered, Initialized and Ready."""

    node_name: str | None = None
    provider_id: str | None = Field(default=None, alias="providerID")
    image_id: str | None = Field(default=None, alias="imageID")
    capacity: dict[str, IntOrString] | None = None
    allocatable: dict[str, IntOrString] | None = None
    conditions: list[OpenCondition] | None = Field(default=None, json_schema_extra=CONDITIONS_FIELD)


@custom_resource(
    group=GROUP,
    version=VERSION,
    scope="Cluster",
    categories=("karpenter",),
    printer_columns=(
        PrinterColumn("Node", "string", ".status.nodeName"),
        PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
class NodeClaim(KubeObject):
    """A Karpenter NodeClaim."""

    spec: NodeClaimSpec = Field(default_factory=NodeClaimSpec)
    status: NodeClaimStatus = Field(default_factory=NodeClaimStatus)
