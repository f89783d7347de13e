"""The simulator's kubelet actor on the embedded API server with real informers: Deployments,
ReplicaSets and Pods on Nodes, the image-name convention, Jobs, scheduling, deleted Nodes,
failure injection and zero-delay mode."""

from __future__ import annotations

from functools import partial
from typing import Any

from test_simulator_support import (
    DEPLOYMENT,
    JOB,
    NODE,
    POD,
    Cluster,
    condition,
    deployment,
    eventually,
    is_true,
    job,
    node,
    pod,
    simulating,
)

from framework.clock import FakeClock
from framework.envtest.simulator import FailureInjection, Kubelet, StageTiming
from framework.envtest.simulator.objects import REPLICA_SET
from framework.envtest.simulator.workloads import pod_template_hash

JSON = dict[str, Any]


def container_status(obj: JSON | None) -> JSON:
    statuses = ((obj or {}).get("status") or {}).get("containerStatuses") or [{}]
    first: JSON = statuses[0]
    return first


def waiting_reason(obj: JSON | None) -> str | None:
    waiting = (container_status(obj).get("state") or {}).get("waiting") or {}
    return None if "reason" not in waiting else str(waiting["reason"])


async def only_pod(cluster: Cluster) -> JSON:
    pods = await eventually(lambda: cluster.list(POD), lambda pods: len(pods) == 1)
    return pods[0]


async def test_deployment_becomes_available_with_ready_pods_on_a_node() -> None:
    async with simulating([Kubelet()]) as cluster:
        await cluster.client.create(node("worker-1"))
        created = await cluster.client.create(deployment("web", "example.com/web:1", 3))

        status = await eventually(
            lambda: cluster.get(DEPLOYMENT, "web", "default"),
            lambda d: is_true(d, "Available") and (d or {})["status"].get("readyReplicas") == 3,
        )
        assert status is not None
        assert status["status"]["replicas"] == 3
        assert status["status"]["updatedReplicas"] == 3
        assert status["status"]["availableReplicas"] == 3
        assert status["status"]["observedGeneration"] == created["metadata"]["generation"]
        assert condition(status, "Available")["reason"] == "MinimumReplicasAvailable"
        progressing = condition(status, "Progressing")
        assert (progressing["status"], progressing["reason"]) == ("True", "NewReplicaSetAvailable")

        template_hash = pod_template_hash(created["spec"]["template"])
        replica_set = await cluster.get(REPLICA_SET, f"web-{template_hash}", "default")
        assert replica_set is not None
        assert replica_set["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
        assert replica_set["status"]["readyReplicas"] == 3

        pods = await cluster.list(POD)
        assert len(pods) == 3
        for item in pods:
            assert item["metadata"]["ownerReferences"][0]["name"] == f"web-{template_hash}"
            assert item["metadata"]["labels"]["pod-template-hash"] == template_hash
            assert item["spec"]["nodeName"] == "worker-1"
            assert item["status"]["phase"] == "Running"
            assert is_true(item, "Ready")
            assert is_true(item, "ContainersReady")
            assert is_true(item, "PodScheduled")
            assert container_status(item)["ready"] is True
            assert "running" in container_status(item)["state"]
        assert is_true(await cluster.get(NODE, "worker-1"), "Ready")

        await cluster.client.patch(
            DEPLOYMENT, "web", {"spec": {"replicas": 1}}, namespace="default"
        )
        await eventually(lambda: cluster.list(POD), lambda pods: len(pods) == 1)
        scaled = await eventually(
            lambda: cluster.get(DEPLOYMENT, "web", "default"),
            lambda d: (d or {})["status"].get("replicas") == 1,
        )
        assert is_true(scaled, "Available")


async def test_a_new_pod_template_rolls_out_a_new_replicaset() -> None:
    async with simulating([Kubelet()]) as cluster:
        first = await cluster.client.create(deployment("web", "example.com/web:1", 2))
        await eventually(
            lambda: cluster.get(DEPLOYMENT, "web", "default"), lambda d: is_true(d, "Available")
        )
        old_name = f"web-{pod_template_hash(first['spec']['template'])}"
        template = first["spec"]["template"]
        template["spec"]["containers"][0]["image"] = "example.com/web:2"
        await cluster.client.patch(
            DEPLOYMENT, "web", {"spec": {"template": template}}, namespace="default"
        )

        new_name = f"web-{pod_template_hash(template)}"
        rolled = await eventually(
            lambda: cluster.get(DEPLOYMENT, "web", "default"),
            lambda d: (
                condition(d, "Progressing")
                .get("message", "")
                .startswith(f'ReplicaSet "{new_name}" has successfully')
            ),
        )
        assert rolled is not None
        assert rolled["status"]["updatedReplicas"] == 2
        assert rolled["status"]["observedGeneration"] == 2
        old = await cluster.get(REPLICA_SET, old_name, "default")
        assert old is not None
        assert old["spec"]["replicas"] == 0
        pods = await eventually(lambda: cluster.list(POD), lambda pods: len(pods) == 2)
        assert {p["spec"]["containers"][0]["image"] for p in pods} == {"example.com/web:2"}


async def test_deleting_a_deployment_deletes_its_replicasets_and_pods() -> None:
    async with simulating([Kubelet()]) as cluster:
        await cluster.client.create(deployment("web", "example.com/web:1", 2))
        await eventually(lambda: cluster.list(POD), lambda pods: len(pods) == 2)

        await cluster.client.delete(DEPLOYMENT, "web", namespace="default")

        await eventually(lambda: cluster.list(REPLICA_SET), lambda sets: not sets)
        await eventually(lambda: cluster.list(POD), lambda pods: not pods)


async def test_crashloop_image_keeps_restarting_and_the_pod_never_becomes_ready() -> None:
    async with simulating([Kubelet()], timing=StageTiming(scale=0.01)) as cluster:
        await cluster.client.create(deployment("crashy", "example.com/crashloop:1", 1))

        crashing = await eventually(
            lambda: only_pod(cluster), lambda p: container_status(p).get("restartCount", 0) >= 3
        )
        assert waiting_reason(crashing) == "CrashLoopBackOff"
        assert crashing["status"]["phase"] == "Running"
        assert not is_true(crashing, "Ready")
        assert condition(crashing, "ContainersReady")["reason"] == "ContainersNotReady"
        last = container_status(crashing)["lastState"]["terminated"]
        assert (last["reason"], last["exitCode"]) == ("Error", 1)
        status = await cluster.get(DEPLOYMENT, "crashy", "default")
        assert condition(status, "Available")["status"] == "False"
        assert condition(status, "Available")["reason"] == "MinimumReplicasUnavailable"


async def test_errimagepull_image_backs_off_and_the_pod_stays_pending() -> None:
    async with simulating([Kubelet()]) as cluster:
        await cluster.client.create(pod("puller", "registry.example.com/errimagepull:v1"))

        pulled = await eventually(
            lambda: cluster.get(POD, "puller", "default"),
            lambda p: waiting_reason(p) in ("ErrImagePull", "ImagePullBackOff"),
        )
        assert pulled is not None
        assert pulled["status"]["phase"] == "Pending"
        backing_off = await eventually(
            lambda: cluster.get(POD, "puller", "default"),
            lambda p: waiting_reason(p) == "ImagePullBackOff",
        )
        assert backing_off is not None
        assert backing_off["status"]["phase"] == "Pending"
        assert not is_true(backing_off, "Ready")
        assert "errimagepull" in container_status(backing_off)["state"]["waiting"]["message"]


async def test_job_runs_its_completions_and_completes() -> None:
    async with simulating([Kubelet()]) as cluster:
        await cluster.client.create(job("batch", "example.com/worker:1", completions=2))

        done = await eventually(
            lambda: cluster.get(JOB, "batch", "default"), lambda j: is_true(j, "Complete")
        )
        assert done is not None
        assert done["status"]["succeeded"] == 2
        assert "failed" not in done["status"]
        assert "active" not in done["status"]
        assert done["status"]["startTime"] <= done["status"]["completionTime"]
        pods = await cluster.list(POD)
        assert [p["status"]["phase"] for p in pods] == ["Succeeded", "Succeeded"]
        assert all(p["metadata"]["labels"]["job-name"] == "batch" for p in pods)
        terminated = container_status(pods[0])["state"]["terminated"]
        assert (terminated["reason"], terminated["exitCode"]) == ("Completed", 0)


async def test_job_with_a_failing_image_fails_after_its_backoff_limit() -> None:
    async with simulating([Kubelet()]) as cluster:
        await cluster.client.create(job("doomed", "example.com/fail:1", backoffLimit=1))

        failed = await eventually(
            lambda: cluster.get(JOB, "doomed", "default"), lambda j: is_true(j, "Failed")
        )
        assert condition(failed, "Failed")["reason"] == "BackoffLimitExceeded"
        assert failed is not None
        assert failed["status"]["failed"] == 2
        assert not is_true(failed, "Complete")
        pods = await cluster.list(POD)
        assert [p["status"]["phase"] for p in pods] == ["Failed", "Failed"]
        assert container_status(pods[0])["state"]["terminated"]["exitCode"] == 1


async def test_unschedulable_pod_waits_for_a_fitting_node() -> None:
    async with simulating([Kubelet()]) as cluster:
        await cluster.client.create(node("cpu-node", {"pool": "cpu"}))
        await eventually(lambda: cluster.get(NODE, "cpu-node"), lambda n: is_true(n, "Ready"))
        await cluster.client.create(
            pod("gpu-pod", "example.com/train:1", nodeSelector={"pool": "gpu"})
        )

        waiting = await eventually(
            lambda: cluster.get(POD, "gpu-pod", "default"),
            lambda p: condition(p, "PodScheduled").get("reason") == "Unschedulable",
        )
        assert "0/1 nodes are available" in condition(waiting, "PodScheduled")["message"]

        await cluster.client.create(node("gpu-node", {"pool": "gpu"}))
        running = await eventually(
            lambda: cluster.get(POD, "gpu-pod", "default"),
            lambda p: (p or {}).get("status", {}).get("phase") == "Running",
        )
        assert running is not None
        assert running["spec"]["nodeName"] == "gpu-node"


async def test_pods_bound_to_a_deleted_node_are_deleted() -> None:
    async with simulating([Kubelet()]) as cluster:
        await cluster.client.create(node("doomed-node"))
        await cluster.client.create(node("other-node"))
        await cluster.client.create(pod("on-doomed", "example.com/app:1", nodeName="doomed-node"))
        await cluster.client.create(pod("on-other", "example.com/app:1", nodeName="other-node"))
        for name in ("on-doomed", "on-other"):
            await eventually(
                partial(cluster.get, POD, name, "default"), lambda p: is_true(p, "Ready")
            )

        await cluster.client.delete(NODE, "doomed-node")

        await eventually(lambda: cluster.get(POD, "on-doomed", "default"), lambda p: p is None)
        assert await cluster.get(POD, "on-other", "default") is not None


async def test_injected_start_failures_fail_pods() -> None:
    failures = FailureInjection({"kubelet": 1.0}, seed=7)
    async with simulating([Kubelet()], failures=failures) as cluster:
        await cluster.client.create(pod("unlucky", "example.com/app:1"))

        failed = await eventually(
            lambda: cluster.get(POD, "unlucky", "default"),
            lambda p: (p or {}).get("status", {}).get("phase") == "Failed",
        )
        assert failed is not None
        assert failed["status"]["reason"] == "SimulatedFailure"
        injected = cluster.registry.get_sample_value(
            "kubeloop_simulator_injected_failures_total",
            {"actor": "kubelet", "stage": "kubelet.start"},
        )
        assert injected is not None
        assert injected >= 1


async def test_zero_delay_mode_needs_no_time_to_pass() -> None:
    clock = FakeClock()  # never advanced: every stage must happen without waiting
    async with simulating([Kubelet()], timing=StageTiming.zero(), clock=clock) as cluster:
        await cluster.client.create(node("worker"))
        await cluster.client.create(deployment("web", "example.com/web:1", 4))
        await cluster.client.create(job("batch", "example.com/worker:1", completions=3))

        await eventually(
            lambda: cluster.get(DEPLOYMENT, "web", "default"),
            lambda d: is_true(d, "Available") and (d or {})["status"].get("readyReplicas") == 4,
        )
        await eventually(
            lambda: cluster.get(JOB, "batch", "default"), lambda j: is_true(j, "Complete")
        )
        assert clock.now() == 0.0
