"""The Workspace controller's pure parts (no server): the machine and its rule table, the
conditions computed from NodeClaims, Deployments, Pods and Jobs, claim names, RBAC."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import pytest

from controllers.workspace import (
    CLAIM_PREDICATE,
    POD_PREDICATE,
    WORKLOAD_PREDICATE,
    WORKSPACE_RULES,
    WorkspaceReconciler,
    WorkspaceSettings,
    claim_name,
    inference_condition,
    job_conditions,
    resource_condition,
    workspace_machine,
)
from framework.phase import IllegalTransition
from framework.rbac import declared_permissions

JSON = dict[str, Any]
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def conditioned(*conditions: tuple[str, str, str], **metadata: Any) -> JSON:
    wire = [{"type": t, "status": s, "reason": r} for t, s, r in conditions]
    return {"metadata": {"name": "w", **metadata}, "status": {"conditions": wire}}


def claim(*conditions: tuple[str, str, str], deleting: bool = False) -> JSON:
    obj = conditioned(*conditions)
    if deleting:
        obj["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return obj


LAUNCHED = ("Launched", "True", "Launched")
READY = ("Ready", "True", "Ready")


@pytest.mark.parametrize(
    ("conditions", "phase"),
    [
        ((), "Pending"),
        ((("ResourceReady", "True", "NodeClaimsReady"),), "Creating"),
        ((("ResourceReady", "True", "x"), ("InferenceReady", "True", "x")), "Running"),
        ((("ResourceReady", "True", "x"), ("JobStarted", "True", "x")), "Running"),
        ((("ResourceReady", "True", "x"), ("InferenceReady", "Unknown", "x")), "Creating"),
        ((("ResourceReady", "False", "ProvisionFailed"),), "Failed"),
        ((("ResourceReady", "False", "Provisioning"),), "Pending"),
        ((("InferenceReady", "False", "CrashLoop"),), "Failed"),
        ((("InferenceReady", "False", "ErrImagePull"),), "Failed"),
        ((("InferenceReady", "False", "Progressing"),), "Pending"),
        ((("WorkspaceSucceeded", "False", "JobFailed"),), "Failed"),
        ((("ResourceReady", "True", "x"), ("WorkspaceSucceeded", "True", "x")), "Succeeded"),
    ],
)
def test_rule_table_first_match_wins(
    conditions: tuple[tuple[str, str, str], ...], phase: str
) -> None:
    assert WORKSPACE_RULES.evaluate(conditioned(*conditions), NOW)[0] == phase


def test_deletion_wins_over_every_condition() -> None:
    obj = conditioned(("ResourceReady", "False", "ProvisionFailed"), deletionTimestamp="t")
    assert WORKSPACE_RULES.evaluate(obj, NOW)[0] == "Terminating"


def test_machine_declares_the_required_edges_and_timeout() -> None:
    machine = workspace_machine(30.0)
    required = {
        ("Pending", "Creating"),
        ("Creating", "Running"),
        ("Running", "Pending"),
        ("Running", "Succeeded"),
        *((p, "Failed") for p in ("Pending", "Creating", "Running")),
        *((p, "Terminating") for p in machine.phases if p != "Terminating"),
    }
    assert required <= machine.edges
    assert machine.terminal == {"Terminating"}
    timeout = machine.timeouts["Pending"]
    assert (timeout.seconds, timeout.reason, timeout.failure_phase) == (
        30.0,
        "ProvisionTimeout",
        "Failed",
    )
    with pytest.raises(IllegalTransition):
        machine.check("Pending", "Running")  # the workload is looked at from Creating on


def test_configured_reconciler_takes_the_settings() -> None:
    settings = WorkspaceSettings(pending_timeout=12.0, tuner_image="example.com/tuner:2")
    configured = WorkspaceReconciler.configured(settings)
    assert issubclass(configured, WorkspaceReconciler)
    assert configured.machine.timeouts["Pending"].seconds == 12.0
    assert configured.tuner_image == "example.com/tuner:2"
    assert WorkspaceReconciler.machine.timeouts["Pending"].seconds == 900.0


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBELOOP_WORKSPACE_PENDING_TIMEOUT", "45")
    assert WorkspaceSettings().pending_timeout == 45.0


@pytest.mark.parametrize(
    ("claims", "previous", "expected"),
    [
        ([claim(LAUNCHED, READY)], None, ("True", "NodeClaimsReady")),
        ([claim(LAUNCHED, READY), None], None, ("False", "Provisioning")),
        ([claim()], None, ("False", "Pending")),
        ([None], None, ("False", "Pending")),
        ([None], ("True", "NodeClaimsReady"), ("False", "Provisioning")),  # a lost claim
        ([claim(LAUNCHED)], None, ("False", "Provisioning")),
        ([claim(LAUNCHED, READY, deleting=True)], None, ("False", "Pending")),
        (
            [claim(LAUNCHED, READY), claim(("Launched", "False", "LaunchFailed"))],
            None,
            ("False", "ProvisionFailed"),
        ),
    ],
)
def test_resource_condition(
    claims: list[JSON | None], previous: tuple[str, str] | None, expected: tuple[str, str]
) -> None:
    workspace = conditioned(*([("ResourceReady", *previous)] if previous else []))
    found = resource_condition(workspace, claims, len(claims))
    assert (found.status, found.reason) == expected


def deployment(want: int = 1, total: int = 1, updated: int = 1, available: int = 1) -> JSON:
    """A Deployment of `want` replicas at generation 2 whose status saw generation 2."""
    status = {"replicas": total, "updatedReplicas": updated, "availableReplicas": available}
    return {
        "metadata": {"name": "w", "generation": 2},
        "spec": {"replicas": want},
        "status": {"observedGeneration": 2, **status},
    }


def pod(reason: str) -> JSON:
    waiting = {"state": {"waiting": {"reason": reason}}, "name": "inference"}
    return {"metadata": {"name": "p"}, "status": {"containerStatuses": [waiting]}}


@pytest.mark.parametrize(
    ("obj", "pods", "expected"),
    [
        (deployment(), [], ("True", "DeploymentAvailable")),
        (deployment(2, 2, 2, 2), [], ("True", "DeploymentAvailable")),
        (deployment(2, 2, 2, 1), [], ("False", "Progressing")),
        (deployment(1, 2, 1, 1), [], ("False", "Progressing")),  # an old pod still runs
        (deployment(1, 1, 0, 1), [], ("False", "Progressing")),  # not the current template
        ({**deployment(), "status": {"observedGeneration": 1}}, [], ("False", "Progressing")),
        (deployment(), [pod("CrashLoopBackOff")], ("False", "CrashLoop")),
        (deployment(), [pod("ImagePullBackOff")], ("False", "ErrImagePull")),
        (deployment(), [pod("ErrImagePull")], ("False", "ErrImagePull")),
        (deployment(0, 0, 0, 0), [pod("ContainerCreating")], ("True", "DeploymentAvailable")),
    ],
)
def test_inference_condition(obj: JSON, pods: list[JSON], expected: tuple[str, str]) -> None:
    found = inference_condition(obj, pods)
    assert (found.status, found.reason) == expected


def test_job_conditions() -> None:
    created: JSON = {"status": {}}
    started: JSON = {"status": {"startTime": "2026-01-01T00:00:00Z"}}
    complete = {
        "status": {**started["status"], "conditions": [{"type": "Complete", "status": "True"}]}
    }
    failed = {
        "status": {
            **started["status"],
            "conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}],
        }
    }
    assert [(c.type, c.status) for c in job_conditions(created, finished=True)] == [
        ("JobStarted", "False")
    ]
    assert [(c.type, c.status) for c in job_conditions(complete, finished=False)] == [
        ("JobStarted", "True")
    ]
    assert [(c.type, c.status, c.reason) for c in job_conditions(complete, finished=True)][1] == (
        "WorkspaceSucceeded",
        "True",
        "JobSucceeded",
    )
    ended = job_conditions(failed, finished=True)[1]
    assert (ended.status, ended.reason) == ("False", "JobFailed")
    assert "BackoffLimitExceeded" in ended.message


def test_claim_names_fit_a_hostname_label() -> None:
    workspace = {"metadata": {"name": "a" * 250, "uid": "0123456789abcdef"}}
    name = claim_name(workspace, 12)
    assert len(name) <= 63
    assert name.endswith("-01234567-12")


def test_rbac_covers_what_the_controller_touches() -> None:
    granted = {
        (p.group, resource): set(p.verbs)
        for p in declared_permissions(WorkspaceReconciler)
        for resource in p.resources
    }
    assert {"create", "delete", "list", "watch"} <= granted["karpenter.sh", "nodeclaims"]
    assert {"create", "patch", "list", "watch"} <= granted["apps", "deployments"]
    assert {"create", "list", "watch"} <= granted["batch", "jobs"]
    assert granted["", "pods"] == {"get", "list", "watch"}


def _changed(obj: JSON, change: dict[str, Any]) -> JSON:
    """A deep copy of `obj` with `change` merged into its status."""
    new = copy.deepcopy(obj)
    new.setdefault("status", {}).update(copy.deepcopy(change))
    return new


def test_claim_updates_pass_only_when_what_the_reconciler_reads_changes() -> None:
    awaiting = ("Launched", "Unknown", "AwaitingReconciliation")
    base = claim(awaiting)
    initialized = claim(awaiting, ("Initialized", "True", "Initialized"))
    assert not CLAIM_PREDICATE.update(base, initialized)
    for change in (
        {"conditions": [{"type": "Launched", "status": "True"}]},
        {"conditions": [{"type": "Launched", "status": "False", "message": "no capacity"}]},
        {"conditions": [{"type": "Ready", "status": "True"}]},
        {"nodeName": "node-1"},
    ):
        assert CLAIM_PREDICATE.update(base, _changed(base, change)), change
    deleting = copy.deepcopy(base)
    deleting["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    assert CLAIM_PREDICATE.update(base, deleting)
    assert CLAIM_PREDICATE.create(base)
    assert CLAIM_PREDICATE.delete(base)


def test_pod_updates_pass_only_when_a_container_failure_changes() -> None:
    pod = {"metadata": {"name": "p", "namespace": "ns", "labels": {"kubeloop.dev/workspace": "w"}}}
    running = _changed(pod, {"phase": "Running", "containerStatuses": [{"name": "c"}]})
    assert not POD_PREDICATE.update(pod, running)
    crashing = _changed(
        pod,
        {
            "containerStatuses": [
                {"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
            ]
        },
    )
    assert POD_PREDICATE.update(running, crashing)
    assert POD_PREDICATE.update(crashing, running)
    relabelled = copy.deepcopy(pod)
    relabelled["metadata"]["labels"] = {}
    assert POD_PREDICATE.update(pod, relabelled)


_ROLLOUT = ("replicas", "updatedReplicas", "availableReplicas")


def test_workload_updates_pass_when_what_the_reconciler_derives_changes() -> None:
    deployment = {
        "kind": "Deployment",
        "metadata": {"name": "w", "generation": 1},
        "spec": {"replicas": 1},
    }
    progressing = [
        {"conditions": [{"type": "Progressing"}]},
        {"observedGeneration": 1},
        {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1},
    ]
    for change in progressing:  # still "0/1 replicas available", Progressing
        assert not WORKLOAD_PREDICATE.update(deployment, _changed(deployment, change)), change
    available = {"observedGeneration": 1, **dict.fromkeys(_ROLLOUT, 1)}
    assert WORKLOAD_PREDICATE.update(deployment, _changed(deployment, available))
    rescaled = copy.deepcopy(deployment)
    rescaled["spec"]["replicas"] = 2
    assert WORKLOAD_PREDICATE.update(deployment, rescaled)
    job = {"kind": "Job", "metadata": {"name": "w", "generation": 1}, "spec": {}}
    assert not WORKLOAD_PREDICATE.update(job, _changed(job, {"active": 1}))
    for change in (
        {"startTime": "2026-01-01T00:00:00Z"},
        {"conditions": [{"type": "Complete", "status": "True"}]},
        {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimit"}]},
    ):
        assert WORKLOAD_PREDICATE.update(job, _changed(job, change)), change
