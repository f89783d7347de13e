"""Build strategies of the NotebookValidationJob: how the validation image is built.

A `BuildStrategy` describes one kind of build object: `desired(job, image)` renders it for a
NotebookValidationJob that must produce `image`, and `observe(build)` reads the build's
progress from that object's status. `ensure_build` creates the object when it is absent
(named `<job>-build`, controlled by the job, so its changes reconcile the job) and returns
what it shows; it never waits.

Strategies, by `spec.podConfig.buildConfig.strategy`:
- `job` (`JobBuild`): a batch/v1 Job running a builder image (kaniko by default) with
  backoffLimit 0; Complete / Failed from the Job's conditions.
- `tekton` (`TektonBuild`): a tekton.dev/v1 PipelineRun of a build pipeline (params git-url,
  git-revision, notebook-path, base-image, image); the condition Succeeded gives the outcome
  (reason Cancelled and its variants: Cancelled); the image is its IMAGE_URL result.
- `s2i` (`OpenShiftBuild`): a build.openshift.io/v1 Build with the Source strategy; its
  status.phase gives the outcome, status.outputDockerImageReference the image.

Every build object carries the image it must produce in the annotation `OUTPUT_IMAGE`, the
image reference reported when the build's own status names none.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Protocol

from api.external.openshift import GROUP as OPENSHIFT_GROUP
from api.external.openshift import VERSION as OPENSHIFT_VERSION
from api.external.tekton import GROUP as TEKTON_GROUP
from api.external.tekton import SUCCEEDED
from api.external.tekton import VERSION as TEKTON_VERSION
from api.mlops.v1alpha1 import BuildPhase, NotebookValidationJob
from framework.conditions import parse_rfc3339
from framework.errors import NotFound
from framework.ownership import set_controller_reference
from framework.reconciler import ReconcilerContext
from framework.resources import GroupVersionKind

__all__ = [
    "BUILD_JOB",
    "DEFAULT_REGISTRY",
    "OPENSHIFT_BUILD",
    "OUTPUT_IMAGE",
    "PIPELINE_RUN",
    "BuildObservation",
    "BuildStrategy",
    "JobBuild",
    "OpenShiftBuild",
    "TektonBuild",
    "build_name",
    "default_strategies",
    "ensure_build",
    "output_image",
]

JSON = dict[str, Any]

BUILD_JOB: Final = GroupVersionKind("batch", "v1", "Job")
PIPELINE_RUN: Final = GroupVersionKind(TEKTON_GROUP, TEKTON_VERSION, "PipelineRun")
OPENSHIFT_BUILD: Final = GroupVersionKind(OPENSHIFT_GROUP, OPENSHIFT_VERSION, "Build")
OUTPUT_IMAGE: Final = "mlops.kubeloop.dev/output-image"
DEFAULT_REGISTRY: Final = "image-registry.kubeloop.local"
_TAG_INVALID = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True)
class BuildObservation:
    """What a build object shows: its phase, a message, the image it produced (or will
    produce) and when it started and finished, when known."""

    phase: BuildPhase
    message: str = ""
    image: str | None = None
    started: datetime | None = None
    completed: datetime | None = None


class BuildStrategy(Protocol):
    """One kind of build object (see the module docstring); `kind` is watched as owned."""

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> GroupVersionKind: ...

    def desired(self, job: NotebookValidationJob, image: str) -> JSON: ...

    def observe(self, build: Mapping[str, Any]) -> BuildObservation: ...


def build_name(job: NotebookValidationJob) -> str:
    """The name of a job's build object."""
    return f"{job.metadata.name}-build"


def output_image(job: NotebookValidationJob, registry: str = DEFAULT_REGISTRY) -> str:
    """The image a job's build pushes: `<registry>/<namespace>/<job>:<git ref as a tag>`."""
    tag = _TAG_INVALID.sub("-", job.spec.notebook.git.ref)[:128] or "latest"
    return f"{registry}/{job.metadata.namespace}/{job.metadata.name}:{tag}"


def _base_image(job: NotebookValidationJob) -> str:
    config = job.spec.pod_config
    base = config.build_config.base_image if config.build_config else None
    return base or config.container_image


def _object(kind: GroupVersionKind, job: NotebookValidationJob, image: str, spec: JSON) -> JSON:
    return {
        "apiVersion": kind.api_version,
        "kind": kind.kind,
        "metadata": {
            "name": build_name(job),
            "namespace": job.metadata.namespace,
            "labels": {"mlops.kubeloop.dev/notebook-validation-job": job.metadata.name or ""},
            "annotations": {OUTPUT_IMAGE: image},
        },
        "spec": spec,
    }


def _time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def _condition(obj: Mapping[str, Any], type_: str) -> Mapping[str, Any]:
    for entry in (obj.get("status") or {}).get("conditions") or []:
        if entry.get("type") == type_:
            found: Mapping[str, Any] = entry
            return found
    return {}


def _annotated_image(build: Mapping[str, Any]) -> str | None:
    image = ((build.get("metadata") or {}).get("annotations") or {}).get(OUTPUT_IMAGE)
    return str(image) if image else None


@dataclass(frozen=True)
class JobBuild:
    """Builds with a batch/v1 Job running `builder_image` (kaniko's executor by default)."""

    builder_image: str = "gcr.io/kaniko-project/executor:v1.23.2"
    name: str = "job"
    kind: GroupVersionKind = BUILD_JOB

    def desired(self, job: NotebookValidationJob, image: str) -> JSON:
        git = job.spec.notebook.git
        context = re.sub(r"^[a-z+]+://", "", git.url)
        container = {
            "name": "build",
            "image": self.builder_image,
            "args": [
                f"--context=git://{context}#{git.ref}",
                f"--destination={image}",
                f"--build-arg=BASE_IMAGE={_base_image(job)}",
            ],
        }
        template = {"spec": {"restartPolicy": "Never", "containers": [container]}}
        return _object(self.kind, job, image, {"backoffLimit": 0, "template": template})

    def observe(self, build: Mapping[str, Any]) -> BuildObservation:
        status = build.get("status") or {}
        started = _time(status.get("startTime"))
        image = _annotated_image(build)
        failed = _condition(build, "Failed")
        if _condition(build, "Complete").get("status") == "True":
            completed = _time(status.get("completionTime"))
            return BuildObservation("Complete", "build job complete", image, started, completed)
        if failed.get("status") == "True":
            message = str(failed.get("message") or failed.get("reason") or "build job failed")
            completed = _time(failed.get("lastTransitionTime"))
            return BuildObservation("Failed", message, image, started, completed)
        if started is not None:
            return BuildObservation("Running", "build job running", image, started)
        return BuildObservation("Pending", "build job created", image)


_TEKTON_CANCELLED = frozenset(
    {"Cancelled", "PipelineRunCancelled", "StoppedRunFinally", "CancelledRunFinally"}
)


@dataclass(frozen=True)
class TektonBuild:
    """Builds with a Tekton PipelineRun of the pipeline named `pipeline`."""

    pipeline: str = "kubeloop-notebook-build"
    name: str = "tekton"
    kind: GroupVersionKind = PIPELINE_RUN

    def desired(self, job: NotebookValidationJob, image: str) -> JSON:
        git = job.spec.notebook.git
        values = {
            "git-url": git.url,
            "git-revision": git.ref,
            "notebook-path": job.spec.notebook.path,
            "base-image": _base_image(job),
            "image": image,
        }
        params = [{"name": name, "value": value} for name, value in values.items()]
        spec = {"pipelineRef": {"name": self.pipeline}, "params": params}
        return _object(self.kind, job, image, spec)

    def observe(self, build: Mapping[str, Any]) -> BuildObservation:
        status = build.get("status") or {}
        results = {r.get("name"): r.get("value") for r in status.get("results") or []}
        image = str(results.get("IMAGE_URL") or "") or _annotated_image(build)
        started = _time(status.get("startTime"))
        completed = _time(status.get("completionTime"))
        succeeded = _condition(build, SUCCEEDED)
        reason = str(succeeded.get("reason") or "")
        message = str(succeeded.get("message") or reason)
        match succeeded.get("status"):
            case "True":
                return BuildObservation("Complete", message, image, started, completed)
            case "False" if reason in _TEKTON_CANCELLED:
                return BuildObservation("Cancelled", message, image, started, completed)
            case "False":
                return BuildObservation("Failed", message, image, started, completed)
            case "Unknown" if reason not in ("", "Pending", "PipelineRunPending"):
                return BuildObservation("Running", message, image, started)
        return BuildObservation("Pending", message or "pipeline run created", image, started)


_OPENSHIFT_PHASES: Mapping[str, BuildPhase] = {
    "New": "Pending",
    "Pending": "Pending",
    "Running": "Running",
    "Complete": "Complete",
    "Failed": "Failed",
    "Error": "Failed",
    "Cancelled": "Cancelled",
}


@dataclass(frozen=True)
class OpenShiftBuild:
    """Builds with an OpenShift source-to-image Build."""

    name: str = "s2i"
    kind: GroupVersionKind = OPENSHIFT_BUILD

    def desired(self, job: NotebookValidationJob, image: str) -> JSON:
        git = job.spec.notebook.git
        spec = {
            "source": {"type": "Git", "git": {"uri": git.url, "ref": git.ref}},
            "strategy": {
                "type": "Source",
                "sourceStrategy": {"from": {"kind": "DockerImage", "name": _base_image(job)}},
            },
            "output": {"to": {"kind": "DockerImage", "name": image}},
        }
        return _object(self.kind, job, image, spec)

    def observe(self, build: Mapping[str, Any]) -> BuildObservation:
        status = build.get("status") or {}
        phase = _OPENSHIFT_PHASES.get(str(status.get("phase") or "New"), "Pending")
        message = str(status.get("message") or status.get("reason") or f"build {phase.lower()}")
        image = str(status.get("outputDockerImageReference") or "") or _annotated_image(build)
        started = _time(status.get("startTimestamp"))
        completed = _time(status.get("completionTimestamp"))
        return BuildObservation(phase, message, image, started, completed)


def default_strategies() -> dict[str, BuildStrategy]:
    """The strategies by their `buildConfig.strategy` name, with default settings."""
    strategies: list[BuildStrategy] = [JobBuild(), TektonBuild(), OpenShiftBuild()]
    return {strategy.name: strategy for strategy in strategies}


async def ensure_build(
    context: ReconcilerContext, strategy: BuildStrategy, job: NotebookValidationJob, image: str
) -> BuildObservation:
    """Create the job's build object if it is absent (controlled by the job), and return
    what it shows. Never waits for the build."""
    namespace = job.metadata.namespace
    try:
        build = await context.cache.get(strategy.kind, build_name(job), namespace=namespace)
    except NotFound:
        desired = strategy.desired(job, image)
        set_controller_reference(job, desired)
        build = await context.client.create(desired)
        context.cache.wrote(build)
    observation: BuildObservation = strategy.observe(build)
    return observation
