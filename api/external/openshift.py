"""OpenShift builds (build.openshift.io/v1): `Build`, one image build (source-to-image,
Docker or custom strategy). The real kind is served by the OpenShift API server; this CRD
lets it exist on a plain or local control plane, with a status subresource."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from pydantic import Field

from api.common import CONDITIONS_FIELD
from api.external.base import OpenCondition, OpenModel
from api.external.clusterapi import ObjectReference
from framework.crdgen import PrinterColumn, RawExtension, custom_resource
from framework.models import KubeObject

GROUP: Final = "build.openshift.io"
VERSION: Final = "v1"


class GitBuildSource(OpenModel):
    """A git repository to build from."""

    uri: str | None = None
    ref: str | None = None


class BuildSource(OpenModel):
    """What is built."""

    type: str | None = None
    git: GitBuildSource | None = None
    context_dir: str | None = None


class BuildStrategy(OpenModel):
    """How it is built: type Source (S2I), Docker or Custom, with that strategy's options."""

    type: str | None = None
    source_strategy: RawExtension | None = None
    docker_strategy: RawExtension | None = None


class BuildOutput(OpenModel):
    """Where the image is pushed."""

    to: ObjectReference | None = None


class BuildSpec(OpenModel):
    """Desired state of a Build."""

    service_account: str | None = None
    source: BuildSource | None = None
    strategy: BuildStrategy | None = None
    output: BuildOutput | None = None


class BuildStatus(OpenModel):
    """Observed state of a Build: phase New, Pending, Running, Complete, Failed, Error or
    Cancelled; duration in nanoseconds."""

    phase: str | None = None
    reason: str | None = None
    message: str | None = None
    start_timestamp: datetime | None = None
    completion_timestamp: datetime | None = None
    duration: int | None = None
    output_docker_image_reference: str | None = None
    conditions: list[OpenCondition] | None = Field(default=None, json_schema_extra=CONDITIONS_FIELD)


@custom_resource(
    group=GROUP,
    version=VERSION,
    printer_columns=(
        PrinterColumn("Status", "string", ".status.phase"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
class Build(KubeObject):
    """An OpenShift Build."""

    spec: BuildSpec = Field(default_factory=BuildSpec)
    status: BuildStatus = Field(default_factory=BuildStatus)
