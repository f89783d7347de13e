"""The NotebookValidationJob controller: build the validation image if asked, then run the
notebook in a Pod and record whether it passes.

Phases (`MACHINE`): Initializing -> Building (build enabled) or ValidationRunning; Building ->
BuildComplete | Failed; BuildComplete -> ValidationRunning | Failed (no image reference);
ValidationRunning -> Succeeded | Failed. Legacy phases Pending and Running are migrated once
to Initializing and ValidationRunning by the framework and never written.

- Building creates the build object of the job's strategy (see `controllers.builds`) if it is
  absent, mirrors its progress into `status.buildStatus`, and looks again after
  `build_poll_interval` seconds (30 by default) or when the build object changes (it is
  owned), never blocking. A complete build records `buildStatus.imageReference`, its duration
  and the metric `notebook_build_duration_seconds`; a failed or cancelled build fails the
  job, and so does a strategy the controller was not given.
- ValidationRunning creates the Pod `<job>-validation` (owned, so its changes reconcile the
  job without polling) running the built image, or `spec.podConfig.containerImage` without a
  build; the Pod's end decides Succeeded or Failed. Results come from the container's
  termination message when it holds a JSON list of cell results, else one entry summing up
  the run.
- Timeouts: Building is bounded by `spec.podConfig.buildConfig.timeout` (default 15m, reason
  BuildTimeout); the whole job by `spec.timeout` from `status.startTime` (default 30m, reason
  Timeout).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from prometheus_client import CollectorRegistry, Histogram

from api.common import parse_duration
from api.mlops.v1alpha1 import (
    BUILD_READY,
    LEGACY_PHASES,
    VALIDATION_COMPLETE,
    BuildStatus,
    CellResult,
    NotebookValidationJob,
)
from controllers.builds import (
    DEFAULT_REGISTRY,
    BuildObservation,
    BuildStrategy,
    default_strategies,
    ensure_build,
    output_image,
)
from framework.conditions import Condition
from framework.controller import ControllerBuilder, ControllerOptions, Result
from framework.errors import NotFound
from framework.manager import Manager
from framework.metrics import per_registry
from framework.ownership import set_controller_reference
from framework.phase import ObjectDeadline, PhaseMachine, PhaseTimeout
from framework.rbac import rbac
from framework.reconciler import PhaseReconciler, ReconcilerContext, on_phase
from framework.resources import GroupVersionKind

__all__ = [
    "DEFAULT_BUILD_TIMEOUT",
    "DEFAULT_JOB_TIMEOUT",
    "MACHINE",
    "POD",
    "NotebookValidationJobReconciler",
    "controller_builder",
    "setup",
    "validation_pod_name",
]

JSON = dict[str, Any]
POD: Final = GroupVersionKind("", "v1", "Pod")
DEFAULT_BUILD_TIMEOUT: Final = "15m"
DEFAULT_JOB_TIMEOUT: Final = "30m"
_BUILD_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)


def _spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    spec: Mapping[str, Any] = obj.get("spec") or {}
    return spec


def _build_timeout(obj: Mapping[str, Any]) -> float:
    build = (_spec(obj).get("podConfig") or {}).get("buildConfig") or {}
    return parse_duration(str(build.get("timeout") or DEFAULT_BUILD_TIMEOUT)).total_seconds()


def _job_timeout(obj: Mapping[str, Any]) -> float:
    return parse_duration(str(_spec(obj).get("timeout") or DEFAULT_JOB_TIMEOUT)).total_seconds()


MACHINE: Final = PhaseMachine(
    phases=(
        "Initializing",
        "Building",
        "BuildComplete",
        "ValidationRunning",
        "Succeeded",
        "Failed",
    ),
    initial="Initializing",
    transitions={
        "Initializing": {"Building", "ValidationRunning"},
        "Building": {"BuildComplete", "Failed"},
        "BuildComplete": {"ValidationRunning", "Failed"},
        "ValidationRunning": {"Succeeded", "Failed"},
    },
    timeouts=[PhaseTimeout("Building", _build_timeout, reason="BuildTimeout")],
    deadline=ObjectDeadline(_job_timeout, reason="Timeout"),
    legacy=LEGACY_PHASES,
)


@per_registry
def _build_duration(registry: CollectorRegistry) -> Histogram:
    return Histogram(
        "notebook_build_duration_seconds",
        "Seconds notebook image builds took, by strategy and result.",
        ["strategy", "result"],
        registry=registry,
        buckets=_BUILD_BUCKETS,
    )


def validation_pod_name(job: NotebookValidationJob) -> str:
    return f"{job.metadata.name}-validation"


def _go_duration(seconds: float) -> str:
    """A Go duration string for `seconds` ("42s", "1.5s")."""
    text = f"{max(seconds, 0.0):.3f}".rstrip("0").rstrip(".")
    return f"{text}s"


def _condition(type_: str, status: bool, reason: str, message: str = "") -> Condition:
    return Condition(
        type=type_, status="True" if status else "False", reason=reason, message=message
    )


@rbac("", ("pods",), ("create", "get", "list", "watch"))
@rbac("batch", ("jobs",), ("create", "get", "list", "watch"))
@rbac("tekton.dev", ("pipelineruns",), ("create", "get", "list", "watch"))
@rbac("build.openshift.io", ("builds",), ("create", "get", "list", "watch"))
class NotebookValidationJobReconciler(PhaseReconciler[NotebookValidationJob]):
    """Reconciles NotebookValidationJobs (see the module docstring).

    `strategies`: build strategies by `buildConfig.strategy` name (default: job, tekton,
    s2i); `build_poll_interval`: seconds between looks at a running build; `image_registry`:
    where built images are pushed.
    """

    kind = NotebookValidationJob
    machine = MACHINE
    controller_name = "notebookvalidationjob"

    def __init__(
        self,
        context: ReconcilerContext,
        *,
        strategies: Mapping[str, BuildStrategy] | None = None,
        build_poll_interval: float = 30.0,
        image_registry: str = DEFAULT_REGISTRY,
    ) -> None:
        super().__init__(context)
        self.strategies = dict(strategies) if strategies is not None else default_strategies()
        self.build_poll_interval = build_poll_interval
        self.image_registry = image_registry
        self._build_duration = _build_duration(context.registry)

    @on_phase("Initializing")
    async def initializing(self, job: NotebookValidationJob) -> Result:
        build = job.spec.pod_config.build_config
        if build is not None and build.enabled:
            message = f"building the validation image with strategy {build.strategy}"
            ready = _condition(BUILD_READY, False, "Building", message)
            return await self.transition_phase(job, "Building", message, [ready])
        ready = _condition(BUILD_READY, True, "NoBuildNeeded", "the spec image is used")
        message = f"running the notebook in {job.spec.pod_config.container_image}"
        return await self.transition_phase(job, "ValidationRunning", message, [ready])

    @on_phase("Building")
    async def building(self, job: NotebookValidationJob) -> Result:
        config = job.spec.pod_config.build_config
        name = config.strategy if config else "job"
        strategy = self.strategies.get(name)
        if strategy is None:
            message = f"build strategy {name} is not enabled in this controller"
            ready = _condition(BUILD_READY, False, "UnknownStrategy", message)
            return await self.transition_phase(job, "Failed", message, [ready])
        image = output_image(job, self.image_registry)
        seen = await ensure_build(self.context, strategy, job, image)
        entered = job.status.phase_transition_time
        await self.context.status_writer.patch_status(
            job, lambda j: _record_build(j, seen, entered)
        )
        if seen.phase == "Complete":
            self._observe_build(strategy, seen, entered, "complete")
            duration = (job.status.build_status or BuildStatus()).duration
            message = f"image {seen.image} built in {duration}"
            ready = _condition(BUILD_READY, True, "BuildComplete", message)
            return await self.transition_phase(job, "BuildComplete", message, [ready])
        if seen.phase in ("Failed", "Cancelled"):
            self._observe_build(strategy, seen, entered, seen.phase.lower())
            message = f"build {seen.phase.lower()}: {seen.message}"
            ready = _condition(BUILD_READY, False, f"Build{seen.phase}", message)
            return await self.transition_phase(job, "Failed", message, [ready])
        return Result(requeue_after=self.build_poll_interval)

    def _observe_build(
        self, strategy: BuildStrategy, seen: BuildObservation, entered: datetime | None, result: str
    ) -> None:
        start = seen.started or entered
        if start is not None and seen.completed is not None:
            seconds = max((seen.completed - start).total_seconds(), 0.0)
            self._build_duration.labels(strategy.name, result).observe(seconds)

    @on_phase("BuildComplete")
    async def build_complete(self, job: NotebookValidationJob) -> Result:
        image = (job.status.build_status or BuildStatus()).image_reference
        if not image:
            message = "the build completed without an image reference"
            ready = _condition(BUILD_READY, False, "NoImageReference", message)
            return await self.transition_phase(job, "Failed", message, [ready])
        return await self.transition_phase(
            job, "ValidationRunning", f"running the notebook in {image}"
        )

    @on_phase("ValidationRunning")
    async def validation_running(self, job: NotebookValidationJob) -> Result:
        pod = await self._validation_pod(job)
        phase = (pod.get("status") or {}).get("phase")
        if phase not in ("Succeeded", "Failed"):
            return Result()  # the owned pod's next change brings the job back
        passed = phase == "Succeeded"
        results = _results(pod, passed)
        now = self.context.clock.wall()

        def record(j: NotebookValidationJob) -> None:
            j.status.results = results
            j.status.completion_time = j.status.completion_time or now

        await self.context.status_writer.patch_status(job, record)
        message = "notebook validation passed" if passed else _failure_message(pod)
        done = _condition(
            VALIDATION_COMPLETE, True, "Passed" if passed else "ValidationFailed", message
        )
        return await self.transition_phase(
            job, "Succeeded" if passed else "Failed", message, [done]
        )

    async def _validation_pod(self, job: NotebookValidationJob) -> JSON:
        namespace = job.metadata.namespace
        try:
            pod: JSON = await self.context.cache.get(
                POD, validation_pod_name(job), namespace=namespace
            )
        except NotFound:
            pod = await self.context.client.create(self._pod(job))
            self.context.cache.wrote(pod)
        return pod

    def _pod(self, job: NotebookValidationJob) -> JSON:
        built = (job.status.build_status or BuildStatus()).image_reference
        config = job.spec.pod_config
        enabled = config.build_config is not None and config.build_config.enabled
        image = built if enabled and built else config.container_image
        notebook = job.spec.notebook
        container: JSON = {
            "name": "validate",
            "image": image,
            "command": ["/bin/sh", "-c"],
            "args": [
                'git clone --depth 1 --branch "$NOTEBOOK_REF" "$NOTEBOOK_REPO" /work && '
                'papermill "/work/$NOTEBOOK_PATH" /tmp/output.ipynb'
            ],
            "env": [
                {"name": "NOTEBOOK_REPO", "value": notebook.git.url},
                {"name": "NOTEBOOK_REF", "value": notebook.git.ref},
                {"name": "NOTEBOOK_PATH", "value": notebook.path},
            ],
        }
        if config.resources is not None:
            container["resources"] = config.resources.to_dict()
        pod: JSON = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": validation_pod_name(job),
                "namespace": job.metadata.namespace,
                "labels": {"mlops.kubeloop.dev/notebook-validation-job": job.metadata.name or ""},
            },
            "spec": {"restartPolicy": "Never", "containers": [container]},
        }
        set_controller_reference(job, pod)
        return pod


def _record_build(
    job: NotebookValidationJob, seen: BuildObservation, entered: datetime | None
) -> None:
    status = job.status.build_status or BuildStatus()
    status.phase = seen.phase
    status.message = seen.message
    status.start_time = seen.started or status.start_time or entered
    if seen.phase == "Complete":
        status.image_reference = seen.image
    if seen.completed is not None:
        status.completion_time = seen.completed
        if status.start_time is not None:
            status.duration = _go_duration((seen.completed - status.start_time).total_seconds())
    job.status.build_status = status


def _terminated(pod: Mapping[str, Any]) -> Mapping[str, Any]:
    for container in (pod.get("status") or {}).get("containerStatuses") or []:
        terminated = (container.get("state") or {}).get("terminated")
        if terminated:
            found: Mapping[str, Any] = terminated
            return found
    return {}


def _results(pod: Mapping[str, Any], passed: bool) -> list[CellResult]:
    """Cell results from the container's termination message, else one summary entry."""
    terminated = _terminated(pod)
    try:
        parsed = json.loads(str(terminated.get("message") or ""))
        return [CellResult.model_validate(entry) for entry in parsed]
    except (ValueError, TypeError):
        summary = f"exit code {terminated.get('exitCode', 'unknown')}"
        return [
            CellResult(cell_index=0, status="Succeeded" if passed else "Failed", message=summary)
        ]


def _failure_message(pod: Mapping[str, Any]) -> str:
    terminated = _terminated(pod)
    reason = terminated.get("reason") or (pod.get("status") or {}).get("reason") or "Error"
    return f"notebook validation failed: {reason} (exit code {terminated.get('exitCode', '?')})"


def controller_builder(strategies: Mapping[str, BuildStrategy] | None = None) -> ControllerBuilder:
    """The controller's watches: jobs, their pods and their build objects."""
    builder = ControllerBuilder().for_kind(NotebookValidationJob).owns(POD)
    kinds = {s.kind for s in (strategies or default_strategies()).values()}
    for kind in sorted(kinds, key=str):
        builder.owns(kind)
    return builder


def setup(manager: Manager, **options: Any) -> None:
    """Register the controller with `manager` (entry point `kubeloop.controllers`);
    `options` go to `NotebookValidationJobReconciler`."""
    reconciler = NotebookValidationJobReconciler(
        manager.context(NotebookValidationJobReconciler.controller_name), **options
    )
    workers = ControllerOptions(max_concurrent_reconciles=manager.options.max_concurrent_reconciles)
    manager.build(controller_builder(reconciler.strategies).with_options(workers), reconciler)
