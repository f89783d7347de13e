"""The Workspace controller: nodes for one model (Karpenter NodeClaims), then the model served
by a Deployment (inference) or fine-tuned by a Job (tuning).

A `PhaseReconciler` in derived-phase mode: one handler (Pending, Creating, Running) reports what
it sees as conditions and the rule table `WORKSPACE_RULES` gives the phase, first match wins:

    Terminating  deletionTimestamp set
    Failed       ResourceReady=False (ProvisionFailed), InferenceReady=False (CrashLoop or
                 ErrImagePull), or WorkspaceSucceeded=False (JobFailed: a failed tuning Job)
    Succeeded    WorkspaceSucceeded=True
    Running      ResourceReady=True and (InferenceReady=True or JobStarted=True)
    Creating     ResourceReady=True
    Pending      otherwise

Resources. The workspace wants `spec.resource.count` NodeClaims named
`<name>-<uid[:8]>-<index>`. A namespaced object cannot own a cluster-scoped one, so each claim
carries the label `kubeloop.dev/owner-uid=<uid>` (it is found through an index on that label),
the annotation `kubeloop.dev/owner=<namespace>/<name>` (claim events map back to the workspace
through it) and the labels of `spec.resource.labelSelector.matchLabels`; its requirements are
the instance type and the selector's matchExpressions. Missing claims are created (a lost claim
is re-created under its name once it is gone), surplus ones deleted; claims are not changed
when the instance type changes. The finalizer deletes every claim and waits until they are
gone. `status.workerNodes` lists the claims' nodes.

ResourceReady: True (NodeClaimsReady) when every wanted claim is Ready; False with
ProvisionFailed when a claim failed to launch (Launched=False), Provisioning when a claim has
launched or the resources were provisioned before (a lost claim being replaced), else Pending.

Workload (owned, named after the workspace, pods labelled `kubeloop.dev/workspace=<name>` and
pinned to the workspace's nodes by `nodeSelector` on the owner-uid label, which the nodes
inherit from their claims; Pods are owned by ReplicaSets and Jobs, so they are watched through
that label):
- inference: a Deployment of `spec.inference.replicas` pods running `spec.inference.image` or
  the preset's image (`PRESET_IMAGE`); changes to image or replicas are applied. InferenceReady:
  False with CrashLoop (a container in CrashLoopBackOff) or ErrImagePull (ErrImagePull,
  ImagePullBackOff, InvalidImageName), True (DeploymentAvailable) once the rollout is complete
  (replicas, updated and available replicas all equal spec.replicas), else False (Progressing).
- tuning: a Job (backoffLimit `JOB_BACKOFF_LIMIT`) running the tuner image with the method,
  input and output as environment variables and the input image, if any, as an init
  container. JobStarted: True once the Job has a startTime. WorkspaceSucceeded: True
  (JobSucceeded) when the Job is Complete, False (JobFailed) when it failed; reported in
  Running only, so a Job always shows Running before it ends.

One step at a time, so that every phase is recorded: while ResourceReady is not True the
workload conditions are Unknown (AwaitingResources); in Pending, ResourceReady=True is written
alone (Pending -> Creating) and the workload is first looked at in Creating. Losing a NodeClaim
therefore takes Running to Pending, then Creating, then Running.

The machine (`workspace_machine`) declares exactly the edges that these reports and deletion
produce (never Pending -> Running, nor Pending or Creating -> Succeeded: the workload is first
looked at in Creating and WorkspaceSucceeded is reported in Running only), and a Pending
timeout (reason ProvisionTimeout, `WorkspaceSettings.pending_timeout`) that turns a permanent
provisioning problem into Failed (also after a node loss). Failed and Succeeded are final
(only deletion leaves them).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Final, cast

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.external.karpenter import INSTANCE_TYPE_LABEL, NodeClaim
from api.workspace.v1alpha1 import (
    INFERENCE_READY,
    JOB_STARTED,
    RESOURCE_READY,
    WORKSPACE_SUCCEEDED,
    InferenceSpec,
    ResourceSpec,
    TuningSpec,
    Workspace,
    WorkspaceSpec,
)
from framework.cache import Cache
from framework.conditions import Condition, ConditionStatus
from framework.controller import ControllerBuilder, ControllerOptions, Result, TerminalError
from framework.errors import NotFound
from framework.handlers import Funcs, Request, requests_for_annotated_owner
from framework.manager import Manager
from framework.ownership import (
    OWNER_UID_LABEL,
    is_controlled_by,
    owner_annotations,
    owner_labels,
    set_controller_reference,
)
from framework.phase import PhaseMachine, PhaseRule, PhaseTimeout, RuleTable, all_of, any_of, cond
from framework.rbac import rbac
from framework.reconciler import PhaseReconciler, ReconcilerContext, on_phase
from framework.resources import GroupVersionKind

__all__ = [
    "CONTROLLER",
    "FINALIZER",
    "WORKSPACE_LABEL",
    "WORKSPACE_RULES",
    "WorkspaceReconciler",
    "WorkspaceSettings",
    "claim_name",
    "inference_condition",
    "job_conditions",
    "resource_condition",
    "setup",
    "workspace_controller",
    "workspace_machine",
]

JSON = dict[str, Any]

CONTROLLER: Final = "workspace"
FINALIZER: Final = "workspace.kubeloop.dev/finalizer"
WORKSPACE_LABEL: Final = "kubeloop.dev/workspace"
PRESET_IMAGE: Final = "ghcr.io/kubeloop/presets/{name}:latest"
DEFAULT_TUNER_IMAGE: Final = "ghcr.io/kubeloop/tuner:latest"
DEFAULT_PENDING_TIMEOUT: Final = 900.0
JOB_BACKOFF_LIMIT: Final = 2

WORKSPACE = Workspace.resource_info().gvk
NODECLAIM = NodeClaim.resource_info().gvk
DEPLOYMENT: Final = GroupVersionKind("apps", "v1", "Deployment")
JOB: Final = GroupVersionKind("batch", "v1", "Job")
POD: Final = GroupVersionKind("", "v1", "Pod")

CLAIM_INDEX: Final = "workspace.kubeloop.dev/owner-uid"
"""NodeClaims by their owner-uid label."""
POD_INDEX: Final = "workspace.kubeloop.dev/workspace"
"""Pods by `<namespace>/<workspace>` from their workspace label."""

# Condition reasons.
PENDING, PROVISIONING, PROVISION_FAILED = "Pending", "Provisioning", "ProvisionFailed"
NODECLAIMS_READY, AWAITING_RESOURCES = "NodeClaimsReady", "AwaitingResources"
CRASH_LOOP, ERR_IMAGE_PULL = "CrashLoop", "ErrImagePull"
DEPLOYMENT_AVAILABLE, PROGRESSING = "DeploymentAvailable", "Progressing"
JOB_PENDING, JOB_RUNNING, JOB_SUCCEEDED, JOB_FAILED = (
    "JobPending",
    "JobRunning",
    "JobSucceeded",
    "JobFailed",
)
PROVISION_TIMEOUT: Final = "ProvisionTimeout"

_WAITING_REASONS: Final = {
    "CrashLoopBackOff": CRASH_LOOP,
    "ErrImagePull": ERR_IMAGE_PULL,
    "ImagePullBackOff": ERR_IMAGE_PULL,
    "InvalidImageName": ERR_IMAGE_PULL,
}

WORKSPACE_RULES = RuleTable(
    rules=(
        PhaseRule("Terminating", deletion=True),
        PhaseRule(
            "Failed",
            when=any_of(
                cond(RESOURCE_READY, "False", reason=PROVISION_FAILED),
                cond(INFERENCE_READY, "False", reason=[CRASH_LOOP, ERR_IMAGE_PULL]),
                cond(WORKSPACE_SUCCEEDED, "False", reason=JOB_FAILED),
            ),
        ),
        PhaseRule("Succeeded", when=cond(WORKSPACE_SUCCEEDED)),
        PhaseRule(
            "Running",
            when=all_of(cond(RESOURCE_READY), any_of(cond(INFERENCE_READY), cond(JOB_STARTED))),
        ),
        PhaseRule("Creating", when=cond(RESOURCE_READY)),
    ),
    default="Pending",
)


def workspace_machine(pending_timeout: float = DEFAULT_PENDING_TIMEOUT) -> PhaseMachine:
    """The Workspace phases, with a Pending timeout of `pending_timeout` seconds."""
    return PhaseMachine(
        phases=("Pending", "Creating", "Running", "Succeeded", "Failed", "Terminating"),
        initial="Pending",
        transitions={
            "Pending": ("Creating", "Failed", "Terminating"),
            "Creating": ("Pending", "Running", "Failed", "Terminating"),
            "Running": ("Pending", "Creating", "Succeeded", "Failed", "Terminating"),
            "Succeeded": ("Terminating",),
            "Failed": ("Terminating",),
        },
        timeouts=(PhaseTimeout("Pending", pending_timeout, reason=PROVISION_TIMEOUT),),
        rules=WORKSPACE_RULES,
    )


class WorkspaceSettings(BaseSettings):
    """The controller's settings, from `KUBELOOP_WORKSPACE_*` environment variables."""

    model_config = SettingsConfigDict(env_prefix="KUBELOOP_WORKSPACE_")

    pending_timeout: float = Field(
        default=DEFAULT_PENDING_TIMEOUT, gt=0, description="Seconds a workspace may stay Pending."
    )
    tuner_image: str = Field(default=DEFAULT_TUNER_IMAGE, min_length=1)


def claim_name(workspace: Mapping[str, Any], index: int) -> str:
    """The name of the workspace's `index`th NodeClaim (at most 63 characters: the Node is
    named after it and that name is also its hostname label)."""
    meta = workspace["metadata"]
    prefix = str(meta["name"])[:40].rstrip("-.")
    return f"{prefix}-{str(meta['uid'])[:8]}-{index}"


# -- reading foreign objects -------------------------------------------------------------------


def _meta(obj: Mapping[str, Any]) -> JSON:
    found: JSON = obj.get("metadata") or {}
    return found


def _deleting(obj: Mapping[str, Any]) -> bool:
    return bool(_meta(obj).get("deletionTimestamp"))


def _find(obj: Mapping[str, Any] | None, type_: str) -> JSON | None:
    for entry in ((obj or {}).get("status") or {}).get("conditions") or ():
        if entry.get("type") == type_:
            found: JSON = entry
            return found
    return None


def _has(obj: Mapping[str, Any] | None, type_: str, status: str) -> bool:
    found = _find(obj, type_)
    return found is not None and found.get("status") == status


def _claim_uid(claim: JSON) -> list[str]:
    uid = (_meta(claim).get("labels") or {}).get(OWNER_UID_LABEL)
    return [uid] if uid else []


def _pod_workspace(pod: JSON) -> list[str]:
    meta = _meta(pod)
    workspace = (meta.get("labels") or {}).get(WORKSPACE_LABEL)
    return [f"{meta.get('namespace') or ''}/{workspace}"] if workspace else []


def _pod_workspace_key(workspace: JSON) -> str:
    meta = _meta(workspace)
    return f"{meta['namespace']}/{meta['name']}"


def _claim_requests(claim: JSON) -> list[Request]:
    """A NodeClaim event -> the workspace that owns the claim (label and annotation)."""
    return requests_for_annotated_owner(claim) if _claim_uid(claim) else []


def _pod_requests(pod: JSON) -> list[Request]:
    """A Pod event -> the workspace named by its workspace label."""
    return [Request(*key.split("/", 1)) for key in _pod_workspace(pod)]


def _condition(type_: str, status: ConditionStatus, reason: str, message: str = "") -> Condition:
    return Condition(type=type_, status=status, reason=reason, message=message)


def resource_condition(
    workspace: Mapping[str, Any], claims: Iterable[JSON | None], count: int
) -> Condition:
    """ResourceReady for the wanted `claims` (None: missing) of `workspace` (module docstring)."""
    wanted = list(claims)
    for claim in wanted:
        launched = _find(claim, "Launched")
        if launched is not None and launched.get("status") == "False":
            message = f"NodeClaim {_meta(claim or {}).get('name')}: {launched.get('message', '')}"
            return _condition(RESOURCE_READY, "False", PROVISION_FAILED, message)
    live = [c for c in wanted if c is not None and not _deleting(c)]
    ready = sum(1 for c in live if _has(c, "Ready", "True"))
    message = f"{ready}/{count} NodeClaims ready"
    if ready == count == len(wanted):
        return _condition(RESOURCE_READY, "True", NODECLAIMS_READY, message)
    previous = _find(workspace, RESOURCE_READY) or {}
    provisioned = previous.get("status") == "True" or previous.get("reason") == PROVISIONING
    if provisioned or any(_has(c, "Launched", "True") for c in live):
        return _condition(RESOURCE_READY, "False", PROVISIONING, message)
    return _condition(RESOURCE_READY, "False", PENDING, message)


def _failing_containers(pod: JSON) -> list[tuple[str, str, str]]:
    """(container, waiting reason, message) of the pod's containers waiting in a failure
    state."""
    found = []
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        waiting = (status.get("state") or {}).get("waiting") or {}
        if str(waiting.get("reason")) in _WAITING_REASONS:
            found.append((str(status.get("name")), waiting["reason"], waiting.get("message") or ""))
    return found


def _pod_problem(pods: Iterable[JSON]) -> Condition | None:
    """InferenceReady=False for the first container waiting in a failure state, if any."""
    for pod in pods:
        if _deleting(pod):
            continue
        for container, waiting, message in _failing_containers(pod):
            text = f"pod {_meta(pod).get('name')} container {container}: {waiting} {message}"
            return _condition(INFERENCE_READY, "False", _WAITING_REASONS[waiting], text.rstrip())
    return None


_COMPLETE_FIELDS: Final = ("replicas", "updatedReplicas", "availableReplicas")
"""Deployment status counts that all equal spec.replicas once a rollout is complete (the
Deployment controller's rule; "availableReplicas" last)."""


def inference_condition(deployment: JSON, pods: Iterable[JSON]) -> Condition:
    """InferenceReady from the Deployment and its pods (module docstring)."""
    problem = _pod_problem(pods)
    if problem is not None:
        return problem
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    replicas = int(spec.get("replicas", 1))
    current = int(status.get("observedGeneration") or 0) >= int(_meta(deployment)["generation"])
    counts = [int(status.get(field) or 0) for field in _COMPLETE_FIELDS]
    message = f"{counts[-1]}/{replicas} replicas available"
    if current and counts == [replicas] * len(counts):
        return _condition(INFERENCE_READY, "True", DEPLOYMENT_AVAILABLE, message)
    return _condition(INFERENCE_READY, "False", PROGRESSING, message)


def job_conditions(job: JSON, *, finished: bool) -> list[Condition]:
    """JobStarted, and with `finished` WorkspaceSucceeded once the Job has ended."""
    status = job.get("status") or {}
    started = (
        _condition(JOB_STARTED, "True", JOB_RUNNING, f"started at {status['startTime']}")
        if status.get("startTime")
        else _condition(JOB_STARTED, "False", JOB_PENDING, "the Job has not started")
    )
    conditions = [started]
    if finished and _has(job, "Complete", "True"):
        conditions.append(_condition(WORKSPACE_SUCCEEDED, "True", JOB_SUCCEEDED, "Job complete"))
    elif finished and _has(job, "Failed", "True"):
        failed = _find(job, "Failed") or {}
        message = f"{failed.get('reason', '')}: {failed.get('message', '')}".strip(": ")
        conditions.append(_condition(WORKSPACE_SUCCEEDED, "False", JOB_FAILED, message))
    return conditions


# -- desired objects ----------------------------------------------------------------------------


def _nodeclaim(workspace: JSON, name: str, resource: ResourceSpec) -> JSON:
    selector = resource.label_selector
    requirements: list[JSON] = [
        {"key": INSTANCE_TYPE_LABEL, "operator": "In", "values": [resource.instance_type]}
    ]
    for expression in (selector.match_expressions if selector else None) or ():
        requirements.append(expression.to_dict())
    labels = {**((selector.match_labels if selector else None) or {}), **owner_labels(workspace)}
    return {
        "apiVersion": NODECLAIM.api_version,
        "kind": NODECLAIM.kind,
        "metadata": {
            "name": name,
            "labels": labels,
            "annotations": owner_annotations(workspace),
        },
        "spec": {"requirements": requirements},
    }


def _pod_template(workspace: JSON, pod_spec: JSON) -> JSON:
    return {
        "metadata": {"labels": {WORKSPACE_LABEL: _meta(workspace)["name"]}},
        "spec": {**pod_spec, "nodeSelector": owner_labels(workspace)},
    }


def _inference_image(inference: InferenceSpec) -> str:
    if inference.image:
        return inference.image
    assert inference.preset is not None  # the schema requires one of them
    return PRESET_IMAGE.format(name=inference.preset.name)


def _deployment(workspace: JSON, inference: InferenceSpec) -> JSON:
    meta = _meta(workspace)
    labels = {WORKSPACE_LABEL: meta["name"]}
    container = {"name": "inference", "image": _inference_image(inference)}
    deployment: JSON = {
        "apiVersion": DEPLOYMENT.api_version,
        "kind": DEPLOYMENT.kind,
        "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": labels},
        "spec": {
            "replicas": inference.replicas,
            "selector": {"matchLabels": labels},
            "template": _pod_template(workspace, {"containers": [container]}),
        },
    }
    set_controller_reference(workspace, deployment)
    return deployment


def _job(workspace: JSON, tuning: TuningSpec, tuner_image: str) -> JSON:
    meta = _meta(workspace)
    env = [
        {"name": "TUNING_METHOD", "value": tuning.method},
        {"name": "INPUT_URLS", "value": ",".join(tuning.input.urls or ())},
        {"name": "OUTPUT_IMAGE", "value": tuning.output.image},
    ]
    pod_spec: JSON = {
        "restartPolicy": "Never",
        "containers": [{"name": "tuner", "image": tuner_image, "env": env}],
    }
    if tuning.input.image:
        pod_spec["initContainers"] = [{"name": "data", "image": tuning.input.image}]
    job: JSON = {
        "apiVersion": JOB.api_version,
        "kind": JOB.kind,
        "metadata": {
            "name": meta["name"],
            "namespace": meta["namespace"],
            "labels": {WORKSPACE_LABEL: meta["name"]},
        },
        "spec": {"backoffLimit": JOB_BACKOFF_LIMIT, "template": _pod_template(workspace, pod_spec)},
    }
    set_controller_reference(workspace, job)
    return job


def _deployment_drift(current: JSON, desired: JSON) -> JSON | None:
    """The merge patch bringing replicas and pod template to `desired`, None when they agree."""
    spec, want = current.get("spec") or {}, desired["spec"]
    template = spec.get("template") or {}
    same_template = all(
        (template.get(part) or {}).get(key) == want["template"][part].get(key)
        for part, key in (("metadata", "labels"), ("spec", "nodeSelector"))
    ) and [c.get("image") for c in (template.get("spec") or {}).get("containers") or ()] == [
        c["image"] for c in want["template"]["spec"]["containers"]
    ]
    if spec.get("replicas") == want["replicas"] and same_template:
        return None
    return {"spec": {"replicas": want["replicas"], "template": want["template"]}}


# -- the reconciler -----------------------------------------------------------------------------


@rbac("karpenter.sh", ("nodeclaims",), ("create", "delete", "get", "list", "watch"))
@rbac("apps", ("deployments",), ("create", "get", "list", "patch", "watch"))
@rbac("batch", ("jobs",), ("create", "get", "list", "watch"))
@rbac("", ("pods",), ("get", "list", "watch"))
class WorkspaceReconciler(PhaseReconciler[JSON]):
    """Reconciles Workspaces (see the module docstring). Needs a `framework.cache.Cache` as
    its context's cache (it lists claims and pods by index); `configured` makes a variant
    with other settings."""

    kind = WORKSPACE
    machine = workspace_machine()
    finalizer = FINALIZER
    deletion_phase = "Terminating"
    controller_name = CONTROLLER
    tuner_image: ClassVar[str] = DEFAULT_TUNER_IMAGE

    @classmethod
    def configured(cls, settings: WorkspaceSettings) -> type[WorkspaceReconciler]:
        """A subclass using `settings` (Pending timeout, tuner image)."""
        attributes = {
            "machine": workspace_machine(settings.pending_timeout),
            "tuner_image": settings.tuner_image,
            "__module__": cls.__module__,
            "__doc__": cls.__doc__,
        }
        return cast(type[WorkspaceReconciler], type(cls.__name__, (cls,), attributes))

    def __init__(self, context: ReconcilerContext, *, name: str | None = None) -> None:
        super().__init__(context, name=name)
        if not isinstance(context.cache, Cache):
            raise TypeError("WorkspaceReconciler needs a framework.cache.Cache to list from")
        self.cache: Cache = context.cache
        for kind, index, function in (
            (NODECLAIM, CLAIM_INDEX, _claim_uid),
            (POD, POD_INDEX, _pod_workspace),
        ):
            with contextlib.suppress(ValueError):  # another reconciler on this cache added it
                self.cache.add_indexers(kind, {index: function})

    @on_phase("Pending", "Creating", "Running")
    async def observe(self, obj: JSON) -> Result | None:
        try:
            spec = WorkspaceSpec.model_validate(obj.get("spec") or {})
        except ValidationError as error:  # the CRD schema admits little that gets here
            raise TerminalError(f"invalid spec: {error}") from error
        phase = obj["status"]["phase"]
        claims = await self._ensure_claims(obj, spec.resource)
        nodes = _worker_nodes(obj, claims)
        resource = resource_condition(obj, claims, spec.resource.count)
        if resource.status != "True":
            awaited = INFERENCE_READY if spec.inference is not None else JOB_STARTED
            waiting = _condition(awaited, "Unknown", AWAITING_RESOURCES, resource.message)
            return await self.set_conditions(obj, [resource, waiting], status=nodes)
        if phase == "Pending":  # Creating, then the workload
            return await self.set_conditions(obj, [resource], status=nodes)
        if spec.inference is not None:
            deployment = await self._ensure(obj, _deployment(obj, spec.inference))
            pods = await self.cache.list_by_index(POD, POD_INDEX, _pod_workspace_key(obj))
            workload = [inference_condition(deployment, pods)]
        else:
            assert spec.tuning is not None  # the schema requires one of them
            job = await self._ensure(obj, _job(obj, spec.tuning, self.tuner_image))
            workload = job_conditions(job, finished=phase == "Running")
        return await self.set_conditions(obj, [resource, *workload], status=nodes)

    async def finalize(self, obj: JSON) -> bool | Result:
        """Delete the workspace's NodeClaims; done when none is left."""
        claims = await self.cache.list_by_index(NODECLAIM, CLAIM_INDEX, _meta(obj)["uid"])
        if not claims:
            return True
        for claim in claims:
            if not _deleting(claim):
                await self._delete_claim(_meta(claim)["name"])
        return Result(requeue_after=1.0)  # claim deletions also bring the workspace back

    async def _ensure_claims(self, obj: JSON, resource: ResourceSpec) -> list[JSON | None]:
        """Create missing claims and delete surplus ones; the wanted claims (None: a claim
        that is still being deleted and will be re-created)."""
        existing = await self.cache.list_by_index(NODECLAIM, CLAIM_INDEX, _meta(obj)["uid"])
        by_name = {_meta(claim)["name"]: claim for claim in existing}
        wanted = [claim_name(obj, index) for index in range(resource.count)]
        for name, claim in by_name.items():
            if name not in wanted and not _deleting(claim):
                await self._delete_claim(name)
        claims: list[JSON | None] = []
        for name in wanted:
            found = by_name.get(name)
            if found is None:
                found = await self.context.client.create(_nodeclaim(obj, name, resource))
                self.cache.wrote(found)
            claims.append(None if _deleting(found) else found)
        return claims

    async def _delete_claim(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            await self.context.client.delete(NODECLAIM, name)
        self.cache.deleted(NODECLAIM, name)

    async def _ensure(self, obj: JSON, desired: JSON) -> JSON:
        """The workspace's Deployment or Job: created when missing; a Deployment whose
        replicas or template differ is patched. TerminalError if another object owns it."""
        meta = desired["metadata"]
        kind = GroupVersionKind.from_api_version(desired["apiVersion"], desired["kind"])
        try:
            current = await self.cache.get(kind, meta["name"], namespace=meta["namespace"])
        except NotFound:
            created: JSON = await self.context.client.create(desired)
            self.cache.wrote(created)
            return created
        if not is_controlled_by(current, obj):
            raise TerminalError(f"{kind.kind} {meta['name']} exists and is not this workspace's")
        patch = _deployment_drift(current, desired) if kind == DEPLOYMENT else None
        if patch is None:
            return current
        patched: JSON = await self.context.client.patch(
            kind, meta["name"], patch, namespace=meta["namespace"]
        )
        self.cache.wrote(patched)
        return patched


def _worker_nodes(obj: JSON, claims: Iterable[JSON | None]) -> JSON:
    """`{"workerNodes": the claims' nodes}` when that differs from the status, else `{}`."""
    nodes = sorted(
        str((claim.get("status") or {})["nodeName"])
        for claim in claims
        if claim is not None and (claim.get("status") or {}).get("nodeName")
    )
    return {} if (obj["status"].get("workerNodes") or []) == nodes else {"workerNodes": nodes}


def _claim_view(claim: JSON) -> tuple[object, ...]:
    """What the reconciler reads of a NodeClaim: its owner, deletion, Launched and Ready
    conditions and node."""
    meta, launched = _meta(claim), _find(claim, "Launched") or {}
    return (
        meta.get("labels"),
        meta.get("annotations"),
        _deleting(claim),
        launched.get("status"),
        launched.get("message") if launched.get("status") == "False" else None,
        _has(claim, "Ready", "True"),
        (claim.get("status") or {}).get("nodeName"),
    )


def _pod_view(pod: JSON) -> tuple[object, ...]:
    """What the reconciler reads of a Pod: its workspace label, deletion and failing
    containers."""
    return (_pod_workspace(pod), _deleting(pod), _failing_containers(pod))


def _workload_view(workload: JSON) -> tuple[object, ...]:
    """What the reconciler reads of its Deployment or Job: owner, deletion and spec (drift),
    and what it derives from the status (InferenceReady without the pods; JobStarted and how
    the Job ended)."""
    meta = _meta(workload)
    if workload.get("kind") == JOB.kind:
        derived = job_conditions(workload, finished=True)
    else:
        derived = [inference_condition(workload, ())]
    return (meta.get("ownerReferences"), _deleting(workload), workload.get("spec"), derived)


def _changed(view: Callable[[JSON], tuple[object, ...]]) -> Funcs:
    """A predicate passing updates that change `view` of the object (creates and deletes
    pass): the reconciler reads nothing else of that kind, so other updates would only cost a
    reconcile that finds nothing to do."""
    return Funcs(update=lambda old, new: view(old) != view(new))


CLAIM_PREDICATE: Final = _changed(_claim_view)
POD_PREDICATE: Final = _changed(_pod_view)
WORKLOAD_PREDICATE: Final = _changed(_workload_view)


def _spec_or_deletion_changed(old: JSON, new: JSON) -> bool:
    """A Workspace update worth a reconcile: its spec (generation) or its deletion changed.
    Status-only updates are the reconciler's own writes, which requeue it themselves."""
    before, after = _meta(old), _meta(new)
    return any(before.get(key) != after.get(key) for key in ("generation", "deletionTimestamp"))


def workspace_controller(options: ControllerOptions | None = None) -> ControllerBuilder:
    """The Workspace controller's watches: Workspaces (spec and deletion changes), their
    Deployments and Jobs, their NodeClaims (label and annotation) and their Pods (workspace
    label); updates of the others pass only when they change what the reconciler reads."""
    builder = (
        ControllerBuilder(CONTROLLER)
        .for_kind(WORKSPACE, predicates=[Funcs(update=_spec_or_deletion_changed)])
        .owns(DEPLOYMENT, predicates=[WORKLOAD_PREDICATE])
        .owns(JOB, predicates=[WORKLOAD_PREDICATE])
        .watches(NODECLAIM, _claim_requests, predicates=[CLAIM_PREDICATE])
        .watches(POD, _pod_requests, predicates=[POD_PREDICATE])
    )
    return builder.with_options(options) if options is not None else builder


def setup(manager: Manager) -> None:
    """Register the Workspace controller with `manager` (the `kubeloop.controllers` entry
    point), configured from `WorkspaceSettings`."""
    reconciler_class = WorkspaceReconciler.configured(WorkspaceSettings())
    reconciler = reconciler_class(manager.context(CONTROLLER))
    options = ControllerOptions(max_concurrent_reconciles=manager.options.max_concurrent_reconciles)
    manager.build(workspace_controller(options), reconciler)
