"""The Workspace controller on the local control plane with the simulator (kubelet and
Karpenter): every phase path, the NodeClaim-loss regression, deletion through the finalizer,
and a run of all paths at once proving that the transitions cover every edge the machine
declares."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from test_common_support import condition, phase_of
from test_workspace_support import (
    DEPLOYMENT,
    JOB,
    NAMESPACE,
    POD,
    WORKSPACE,
    WorkspaceCluster,
    inference,
    tuning,
    workspace_cluster,
)

from controllers.workspace import (
    NODECLAIM,
    WORKSPACE_RULES,
    WorkspaceReconciler,
    WorkspaceSettings,
    claim_name,
)
from framework.conditions import READY, STALLED
from framework.envtest.simulator import StageTiming

Scenario = Callable[[WorkspaceCluster, str], Awaitable[None]]


# -- scenarios: each drives one workspace along one path and checks it ---------------------------


async def serve_then_delete(c: WorkspaceCluster, name: str) -> None:
    """Pending -> Creating -> Running; deleting it removes its NodeClaims, then the object."""
    created = await c.create(inference(name, replicas=2))
    running = await c.wait_phase(name, "Running")
    assert c.history(name) == ["Pending", "Creating", "Running"]
    uid = created["metadata"]["uid"]
    claims = await c.claims(running)
    assert [claim["metadata"]["name"] for claim in claims] == [claim_name(running, 0)]
    claim = claims[0]
    assert claim["metadata"]["annotations"]["kubeloop.dev/owner"] == f"{NAMESPACE}/{name}"
    assert claim["spec"]["requirements"][0]["values"] == ["standard_nc6"]
    assert running["status"]["workerNodes"] == [claim["status"]["nodeName"]]
    for type_, reason in (("ResourceReady", "NodeClaimsReady"), ("InferenceReady", None)):
        assert condition(running, type_)["status"] == "True"
        assert reason is None or condition(running, type_)["reason"] == reason
    assert condition(running, READY)["status"] == "True"
    deployment = await c.get(DEPLOYMENT, name)
    assert deployment is not None
    assert deployment["metadata"]["ownerReferences"][0]["uid"] == uid
    template = deployment["spec"]["template"]
    assert template["metadata"]["labels"] == {"kubeloop.dev/workspace": name}
    assert template["spec"]["nodeSelector"] == {"kubeloop.dev/owner-uid": uid}
    pods = await c.pods(name)
    assert len(pods) == 2
    assert {pod["spec"]["nodeName"] for pod in pods} == {claim["status"]["nodeName"]}

    await c.delete_and_wait(name)
    assert await c.claims(created) == []

    async def forgotten() -> bool:
        return c.history(name) == []

    await c.until(forgotten, f"the tracker to forget {name}")


async def lose_claim_while_running(c: WorkspaceCluster, name: str) -> None:
    """The regression: Running, a NodeClaim is lost, then Pending, Creating, Running again."""
    await c.create(inference(name))
    running = await c.wait_phase(name, "Running")
    await c.client.delete(NODECLAIM, claim_name(running, 0))
    await c.wait_history(name, ["Running", "Pending", "Creating", "Running"])
    back = await c.wait_phase(name, "Running")
    assert [claim["metadata"]["name"] for claim in await c.claims(back)] == [claim_name(running, 0)]
    await _status_api_agrees(c, name)


async def _status_api_agrees(c: WorkspaceCluster, name: str) -> None:
    """The status API serves the same history as the tracker."""
    url = f"{c.manager.metrics_url}/api/v1/workspace.kubeloop.dev/workspaces/{NAMESPACE}/{name}"
    async with aiohttp.ClientSession() as session, session.get(f"{url}/status") as response:
        body = await response.json()
    assert [entry["to"] for entry in body["recentHistory"]] == c.history(name)
    assert body["state"] == "Running"


async def lose_claim_while_creating(c: WorkspaceCluster, name: str) -> None:
    """A claim lost while the workload starts: Creating -> Pending -> Creating -> Running."""
    await c.create(inference(name))
    creating = await c.wait_phase(name, "Creating")
    await c.client.delete(NODECLAIM, claim_name(creating, 0))
    await c.wait_history(name, ["Creating", "Pending", "Creating", "Running"])


async def lose_pod_while_running(c: WorkspaceCluster, name: str) -> None:
    """The inference pod is lost: the Deployment is unavailable (Creating), then Running."""
    await c.create(inference(name))
    await c.wait_phase(name, "Running")
    pod = (await c.pods(name))[0]
    await c.client.delete(POD, pod["metadata"]["name"], namespace=NAMESPACE)
    await c.wait_history(name, ["Running", "Creating", "Running"])


async def crash_while_running_then_delete(c: WorkspaceCluster, name: str) -> None:
    """Running, then the server starts crashing (the test reports it as the kubelet would):
    Failed (CrashLoop); deleting a failed workspace still cleans up."""
    await c.create(inference(name))
    await c.wait_phase(name, "Running")
    pod = (await c.pods(name))[0]
    crashing = {
        "status": {
            "containerStatuses": [
                {
                    "name": "inference",
                    "image": pod["spec"]["containers"][0]["image"],
                    "ready": False,
                    "restartCount": 1,
                    "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                }
            ]
        }
    }
    await c.client.patch(
        POD, pod["metadata"]["name"], crashing, namespace=NAMESPACE, subresource="status"
    )
    failed = await c.wait_phase(name, "Failed")
    assert condition(failed, "InferenceReady")["reason"] == "CrashLoop"
    assert c.history(name) == ["Pending", "Creating", "Running", "Failed"]
    await c.delete_and_wait(name)


async def update_to_crashing_image(c: WorkspaceCluster, name: str) -> None:
    """Running, then the image is changed to one that crashes: the Deployment follows, the
    rollout is Creating, then Failed (CrashLoop)."""
    await c.create(inference(name))
    await c.wait_phase(name, "Running")
    patch = {"spec": {"inference": {"image": "ghcr.io/example/crashloop:2"}}}
    await c.client.patch(WORKSPACE, name, patch, namespace=NAMESPACE)
    failed = await c.wait_phase(name, "Failed")
    assert condition(failed, "InferenceReady")["reason"] == "CrashLoop"
    assert c.history(name) == ["Pending", "Creating", "Running", "Creating", "Failed"]
    deployment = await c.get(DEPLOYMENT, name)
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith("crashloop:2")


async def crashloop(c: WorkspaceCluster, name: str) -> None:
    await c.create(inference(name, image="ghcr.io/example/crashloop-server:1"))
    failed = await c.wait_phase(name, "Failed")
    assert condition(failed, "InferenceReady")["reason"] == "CrashLoop"
    assert condition(failed, STALLED)["status"] == "True"
    assert c.history(name) == ["Pending", "Creating", "Failed"]


async def err_image_pull(c: WorkspaceCluster, name: str) -> None:
    await c.create(inference(name, image="ghcr.io/example/errimagepull:1"))
    failed = await c.wait_phase(name, "Failed")
    assert condition(failed, "InferenceReady")["reason"] == "ErrImagePull"
    assert c.history(name) == ["Pending", "Creating", "Failed"]


async def provision_failed(c: WorkspaceCluster, name: str) -> None:
    await c.create(inference(name, instance_type="fail.gpu"))
    failed = await c.wait_phase(name, "Failed")
    resource = condition(failed, "ResourceReady")
    assert (resource["status"], resource["reason"]) == ("False", "ProvisionFailed")
    assert "InsufficientCapacityError" in resource["message"]
    assert c.history(name) == ["Pending", "Failed"]


async def tune_then_delete(c: WorkspaceCluster, name: str) -> None:
    await c.create(tuning(name))
    succeeded = await c.wait_phase(name, "Succeeded")
    assert condition(succeeded, "JobStarted")["status"] == "True"
    assert condition(succeeded, "WorkspaceSucceeded")["reason"] == "JobSucceeded"
    assert c.history(name) == ["Pending", "Creating", "Running", "Succeeded"]
    job = await c.get(JOB, name)
    assert job is not None
    assert job["spec"]["template"]["spec"]["containers"][0]["image"] == (
        WorkspaceReconciler.tuner_image
    )
    await c.delete_and_wait(name)


async def delete_while_pending(c: WorkspaceCluster, name: str) -> None:
    created = await c.create(inference(name))
    await c.wait_phase(name, "Pending")
    await c.delete_and_wait(name)
    assert await c.claims(created) == []


async def delete_while_creating(c: WorkspaceCluster, name: str) -> None:
    created = await c.create(inference(name))
    await c.wait_phase(name, "Creating")
    await c.delete_and_wait(name)
    assert await c.claims(created) == []


SCENARIOS: dict[str, Scenario] = {
    "serve-then-delete": serve_then_delete,
    "lose-claim-while-running": lose_claim_while_running,
    "lose-claim-while-creating": lose_claim_while_creating,
    "lose-pod-while-running": lose_pod_while_running,
    "crash-while-running-then-delete": crash_while_running_then_delete,
    "update-to-crashing-image": update_to_crashing_image,
    "crashloop": crashloop,
    "err-image-pull": err_image_pull,
    "provision-failed": provision_failed,
    "tune-then-delete": tune_then_delete,
    "delete-while-pending": delete_while_pending,
    "delete-while-creating": delete_while_creating,
}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
async def test_workspace_path(scenario: str) -> None:
    async with workspace_cluster() as c:
        await SCENARIOS[scenario](c, scenario)


async def test_all_paths_at_once_cover_every_declared_edge() -> None:
    async with workspace_cluster() as c:
        await asyncio.gather(*(run(c, name) for name, run in SCENARIOS.items()))
        machine = WorkspaceReconciler.machine
        assert c.transitions() == set(machine.edges)
        url = f"{c.manager.metrics_url}/api/v1/controllers/workspace/machine"
        async with aiohttp.ClientSession() as session, session.get(url) as response:
            served = await response.json()
        assert {tuple(edge) for edge in served["edges"]} == set(machine.edges)
        assert served["rules"] == WORKSPACE_RULES.describe()


async def test_scaling_down_deletes_the_surplus_nodeclaims() -> None:
    async with workspace_cluster() as c:
        created = await c.create(inference("scaled", count=2))

        async def nodes_are(count: int) -> bool:
            found = await c.workspace("scaled") or {}
            claims = await c.claims(created)
            workers = (found.get("status") or {}).get("workerNodes") or []
            return phase_of(found) == "Running" and len(claims) == len(workers) == count

        await c.until(lambda: nodes_are(2), "two Ready NodeClaims")
        patch = {"spec": {"resource": {"count": 1}}}
        await c.client.patch(WORKSPACE, "scaled", patch, namespace=NAMESPACE)
        await c.until(lambda: nodes_are(1), "one NodeClaim left")
        claims = await c.claims(created)
        assert [claim["metadata"]["name"] for claim in claims] == [claim_name(created, 0)]


async def test_pending_timeout_fails_a_workspace_that_never_provisions() -> None:
    # The claim launches 30 s after creation, far past the 1 s timeout and the test's wait,
    # so the workspace cannot reach Creating first even on a loaded machine.
    slow = StageTiming(scale=0.02, delays={"karpenter.launch": 1500.0})
    settings = WorkspaceSettings(pending_timeout=1.0)
    async with workspace_cluster(slow, settings) as c:
        await c.create(inference("stuck"))
        failed = await c.wait_phase("stuck", "Failed")
        assert condition(failed, STALLED)["reason"] == "ProvisionTimeout"
        assert condition(failed, READY)["reason"] == "ProvisionTimeout"
        assert condition(failed, "ResourceReady")["reason"] == "Pending"
        assert c.history("stuck") == ["Pending", "Failed"]
        assert phase_of(failed) == "Failed"


async def test_failed_tuning_job_fails_the_workspace() -> None:
    settings = WorkspaceSettings(tuner_image="ghcr.io/kubeloop/tuner-fail:1")
    async with workspace_cluster(settings=settings) as c:
        await c.create(tuning("bad"))
        failed = await c.wait_phase("bad", "Failed")
        succeeded = condition(failed, "WorkspaceSucceeded")
        assert (succeeded["status"], succeeded["reason"]) == ("False", "JobFailed")
        assert c.history("bad") == ["Pending", "Creating", "Running", "Failed"]
