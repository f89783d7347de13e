"""NotebookValidationJob: run a notebook from git, optionally in a freshly built image.

Phases: Initializing -> Building -> BuildComplete -> ValidationRunning -> Succeeded | Failed
(Building and BuildComplete only when `spec.podConfig.buildConfig.enabled`). Objects written
by older versions may hold the legacy phases Pending and Running; they stay in the enum so
those objects remain valid, and the reconciler migrates them once.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Final, Literal

from pydantic import Field

from api.common import KUBELOOP_CATEGORY, Duration, KubeloopStatus
from framework.crdgen import IntOrString, PrinterColumn, custom_resource
from framework.models import KubeModel, KubeObject

GROUP: Final = "mlops.kubeloop.dev"
VERSION: Final = "v1alpha1"

BUILD_READY: Final = "BuildReady"
"""The validation image is built (or no build is needed)."""
VALIDATION_COMPLETE: Final = "ValidationComplete"
"""The validation pod has finished; the status says whether it passed."""

NotebookValidationPhase = Literal[
    "Initializing",
    "Building",
    "BuildComplete",
    "ValidationRunning",
    "Succeeded",
    "Failed",
    "Pending",
    "Running",
]
LEGACY_PHASES: Final = {"Pending": "Initializing", "Running": "ValidationRunning"}
"""Legacy phase -> current phase; legacy names are read, never written."""

BuildPhase = Literal["Pending", "Running", "Complete", "Failed", "Cancelled"]


class GitSource(KubeModel):
    """A git repository at a ref."""

    url: str = Field(min_length=1, description="Clone URL of the repository.")
    ref: str = Field(default="main", min_length=1, description="Branch, tag or commit.")
    credentials_secret: str | None = Field(
        default=None, description="Secret holding the git credentials, if the repository needs any."
    )


class NotebookSource(KubeModel):
    """The notebook to validate."""

    git: GitSource
    path: str = Field(min_length=1, description="Path of the notebook in the repository.")


class ResourceRequirements(KubeModel):
    """Compute resources of the validation container (quantities such as 500m or 2Gi)."""

    limits: dict[str, IntOrString] | None = None
    requests: dict[str, IntOrString] | None = None


class BuildConfig(KubeModel):
    """Build the validation image from the repository before running the notebook."""

    enabled: bool = False
    strategy: Literal["job", "tekton", "s2i"] = Field(
        default="job",
        description="job: an in-cluster build job; tekton: a Tekton PipelineRun; "
        "s2i: an OpenShift source-to-image Build.",
    )
    base_image: str | None = Field(default=None, description="Image the build starts from.")
    timeout: Duration = Field(default="15m", description="Longest a build may take.")


class PodConfig(KubeModel):
    """How the validation pod runs."""

    container_image: str = Field(min_length=1, description="Image the notebook runs in.")
    resources: ResourceRequirements | None = None
    build_config: BuildConfig | None = None


class NotebookValidationJobSpec(KubeModel):
    """Desired state of a NotebookValidationJob."""

    notebook: NotebookSource
    pod_config: PodConfig
    timeout: Duration = Field(default="30m", description="Longest the validation may take.")


class BuildStatus(KubeModel):
    """Observed state of the image build."""

    phase: BuildPhase | None = None
    message: str | None = None
    start_time: datetime | None = None
    completion_time: datetime | None = None
    duration: Duration | None = Field(default=None, description="How long the build took.")
    image_reference: str | None = Field(default=None, description="The built image.")


class CellResult(KubeModel):
    """The outcome of one notebook cell."""

    cell_index: int = Field(ge=0)
    status: Literal["Succeeded", "Failed", "Skipped"]
    message: str | None = None


class NotebookValidationJobStatus(KubeloopStatus):
    """Observed state of a NotebookValidationJob."""

    CONDITION_TYPES: ClassVar[tuple[str, ...]] = (
        *KubeloopStatus.CONDITION_TYPES,
        BUILD_READY,
        VALIDATION_COMPLETE,
    )

    phase: NotebookValidationPhase | None = Field(
        default=None, description="The lifecycle phase (Pending and Running are legacy names)."
    )
    build_status: BuildStatus | None = None
    completion_time: datetime | None = None
    retry_count: int | None = Field(default=None, ge=0)
    results: list[CellResult] | None = None


@custom_resource(
    group=GROUP,
    version=VERSION,
    short_names=("nvj",),
    categories=(KUBELOOP_CATEGORY,),
    printer_columns=(
        PrinterColumn("Phase", "string", ".status.phase"),
        PrinterColumn("Age", "date", ".metadata.creationTimestamp"),
        PrinterColumn("Message", "string", ".status.message", priority=1),
    ),
)
class NotebookValidationJob(KubeObject):
    """A NotebookValidationJob runs a notebook from git and records whether it passes."""

    spec: NotebookValidationJobSpec
    status: NotebookValidationJobStatus = Field(default_factory=NotebookValidationJobStatus)
