"""Tekton Pipelines (tekton.dev/v1): `PipelineRun`, one execution of a pipeline; it ends
with condition Succeeded True or False."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from pydantic import Field

from api.common import CONDITIONS_FIELD
from api.external.base import OpenCondition, OpenModel
from framework.crdgen import PrinterColumn, RawExtension, custom_resource
from framework.models import KubeObject

GROUP: Final = "tekton.dev"
VERSION: Final = "v1"
SUCCEEDED: Final = "Succeeded"


class Param(OpenModel):
    """A named parameter or result; the value is a string, an array or an object."""

    name: str
    value: Any = None


class PipelineRef(OpenModel):
    """The pipeline to run: by name, or through a resolver (git, bundles, ...)."""

    name: str | None = None
    resolver: str | None = None
    params: list[Param] | None = None


class PipelineRunSpec(OpenModel):
    """Desired state of a PipelineRun."""

    pipeline_ref: PipelineRef | None = None
    pipeline_spec: RawExtension | None = None
    params: list[Param] | None = None
    status: str | None = None


class PipelineRunStatus(OpenModel):
    """Observed state of a PipelineRun."""

    start_time: datetime | None = None
    completion_time: datetime | None = None
    results: list[Param] | None = None
    observed_generation: int | None = None
    conditions: list[OpenCondition] | None = Field(default=None, json_schema_extra=CONDITIONS_FIELD)


@custom_resource(
    group=GROUP,
    version=VERSION,
    short_names=("pr", "prs"),
    categories=("tekton", "tekton-pipelines"),
    printer_columns=(
        PrinterColumn("Succeeded", "string", '.status.conditions[?(@.type=="Succeeded")].status'),
        PrinterColumn("Reason", "string", '.status.conditions[?(@.type=="Succeeded")].reason'),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
class PipelineRun(KubeObject):
    """A Tekton PipelineRun."""

    spec: PipelineRunSpec = Field(default_factory=PipelineRunSpec)
    status: PipelineRunStatus = Field(default_factory=PipelineRunStatus)
