"""Crossplane provider-terraform (tf.upbound.io/v1beta1): `Workspace`, a Terraform module
applied by Crossplane, reporting its outputs in `status.atProvider` and conditions Synced and
Ready. Not to be confused with kubeloop's own `Workspace` (workspace.kubeloop.dev)."""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field

from api.common import CONDITIONS_FIELD
from api.external.base import OpenCondition, OpenModel
from framework.crdgen import PrinterColumn, RawExtension, custom_resource
from framework.models import KubeModel, KubeObject

GROUP: Final = "tf.upbound.io"
VERSION: Final = "v1beta1"
SYNCED: Final = "Synced"


class Var(KubeModel):
    """One Terraform input variable."""

    key: str
    value: str


class WorkspaceParameters(OpenModel):
    """The Terraform module and its inputs."""

    module: str | None = None
    source: Literal["Remote", "Inline", "Flux"] | None = None
    entrypoint: str | None = None
    vars: list[Var] | None = None
    varmap: RawExtension | None = None


class Reference(KubeModel):
    """A reference by name (and namespace, for secrets)."""

    name: str
    namespace: str | None = None


class WorkspaceSpec(OpenModel):
    """Desired state of a Terraform Workspace."""

    for_provider: WorkspaceParameters | None = None
    provider_config_ref: Reference | None = None
    write_connection_secret_to_ref: Reference | None = None
    deletion_policy: Literal["Orphan", "Delete"] | None = None
    management_policies: list[str] | None = None


class WorkspaceObservation(OpenModel):
    """What Terraform reported: the module checksum and its outputs (arbitrary JSON)."""

    checksum: str | None = None
    outputs: RawExtension | None = None


class WorkspaceStatus(OpenModel):
    """Observed state of a Terraform Workspace."""

    at_provider: WorkspaceObservation | None = None
    conditions: list[OpenCondition] | None = Field(default=None, json_schema_extra=CONDITIONS_FIELD)


@custom_resource(
    group=GROUP,
    version=VERSION,
    scope="Cluster",
    categories=("crossplane", "managed", "terraform"),
    printer_columns=(
        PrinterColumn("Synced", "string", '.status.conditions[?(@.type=="Synced")].status'),
        PrinterColumn("Ready", "string", '.status.conditions[?(@.type=="Ready")].status'),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
class Workspace(KubeObject):
    """A Crossplane Terraform Workspace."""

    spec: WorkspaceSpec = Field(default_factory=WorkspaceSpec)
    status: WorkspaceStatus = Field(default_factory=WorkspaceStatus)
