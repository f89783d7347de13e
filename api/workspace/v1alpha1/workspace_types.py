"""Workspace: GPU nodes provisioned for one model, serving it (inference) or fine-tuning it.

The reconciler provisions `spec.resource.count` nodes of `spec.resource.instanceType` (as
Karpenter NodeClaims) and then runs either the inference deployment or the tuning job. Its
phase is derived from the conditions ResourceReady, InferenceReady, JobStarted and
WorkspaceSucceeded; losing a node takes Running back to Pending.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal

from pydantic import Field

from api.common import KUBELOOP_CATEGORY, KubeloopStatus, exactly_one_of
from framework.crdgen import PrinterColumn, custom_resource
from framework.models import KubeModel, KubeObject

GROUP: Final = "workspace.kubeloop.dev"
VERSION: Final = "v1alpha1"

RESOURCE_READY: Final = "ResourceReady"
"""All requested nodes are provisioned and ready."""
INFERENCE_READY: Final = "InferenceReady"
"""The inference deployment serves the model."""
JOB_STARTED: Final = "JobStarted"
"""The tuning job has started."""
WORKSPACE_SUCCEEDED: Final = "WorkspaceSucceeded"
"""The tuning job finished successfully."""

WorkspacePhase = Literal["Pending", "Creating", "Running", "Succeeded", "Failed", "Terminating"]


class LabelSelectorRequirement(KubeModel):
    """A label requirement: the label `key` relates to `values` by `operator`."""

    key: str = Field(min_length=1)
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: list[str] | None = None


class LabelSelector(KubeModel):
    """A label selector: every matchLabels entry and every expression must match."""

    match_labels: dict[str, str] | None = None
    match_expressions: list[LabelSelectorRequirement] | None = None


class ResourceSpec(KubeModel):
    """The nodes the workspace runs on."""

    instance_type: str = Field(min_length=1, description="Instance type of every node.")
    count: int = Field(default=1, ge=1, description="How many nodes to provision.")
    label_selector: LabelSelector | None = Field(
        default=None, description="Labels the provisioned nodes carry and are selected by."
    )


class PresetSpec(KubeModel):
    """A model from the built-in catalogue."""

    name: str = Field(min_length=1)


class InferenceSpec(KubeModel):
    """Serve a model: a catalogue preset or a custom image (exactly one)."""

    model_config = exactly_one_of("preset", "image")

    preset: PresetSpec | None = None
    image: str | None = Field(default=None, min_length=1)
    replicas: int = Field(default=1, ge=1)


class TuningInput(KubeModel):
    """Training data: URLs to download, or an image holding it."""

    urls: list[str] | None = None
    image: str | None = None


class TuningOutput(KubeModel):
    """Where the tuned adapter is pushed."""

    image: str = Field(min_length=1)
    image_push_secret: str | None = None


class TuningSpec(KubeModel):
    """Fine-tune a model."""

    method: Literal["lora", "qlora"] = "lora"
    input: TuningInput
    output: TuningOutput


class WorkspaceSpec(KubeModel):
    """Desired state of a Workspace: resources plus exactly one of inference or tuning."""

    model_config = exactly_one_of("inference", "tuning")

    resource: ResourceSpec
    inference: InferenceSpec | None = None
    tuning: TuningSpec | None = None


class WorkspaceStatus(KubeloopStatus):
    """Observed state of a Workspace."""

    CONDITION_TYPES: ClassVar[tuple[str, ...]] = (
        *KubeloopStatus.CONDITION_TYPES,
        RESOURCE_READY,
        INFERENCE_READY,
        JOB_STARTED,
        WORKSPACE_SUCCEEDED,
    )

    phase: WorkspacePhase | None = Field(default=None, description="The lifecycle phase.")
    worker_nodes: list[str] | None = Field(
        default=None, description="Names of the nodes provisioned for this workspace."
    )


def _condition_column(name: str, type_: str) -> PrinterColumn:
    return PrinterColumn(name, "string", f'.status.conditions[?(@.type=="{type_}")].status')


@custom_resource(
    group=GROUP,
    version=VERSION,
    short_names=("kws",),
    categories=(KUBELOOP_CATEGORY,),
    printer_columns=(
        PrinterColumn("Instance", "string", ".spec.resource.instanceType"),
        _condition_column("ResourceReady", RESOURCE_READY),
        _condition_column("InferenceReady", INFERENCE_READY),
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
    ),
)
class Workspace(KubeObject):
    """A Workspace provisions nodes for one model and serves or fine-tunes it."""

    spec: WorkspaceSpec
    status: WorkspaceStatus = Field(default_factory=WorkspaceStatus)
