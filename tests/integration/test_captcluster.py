"""The CAPTCluster controller against the local control plane, with simulated Crossplane and
Cluster API core (or direct status patches on the workspace): the whole path, waiting for the
owning Cluster, terminal and transient workspace errors, both timeouts, deletion of the
cluster-scoped workspace, and coverage of every declared edge."""

from __future__ import annotations

import base64
from typing import Any

from test_capt_support import (
    Running,
    capt_cluster,
    cluster_api_cluster,
    provider_settled,
    running,
    workspace_status,
)
from test_common_support import condition, eventually, phase_of

from api.infrastructure.v1beta1 import CAPTCluster
from controllers import captcluster
from controllers.capt import ROLE_LABEL, SECRET, WAITING_FOR_CLUSTER, WORKSPACE
from controllers.simulation.clusterapi import CLUSTER, ClusterAPIActor
from controllers.simulation.crossplane import CrossplaneActor
from framework.envtest.simulator import FailureInjection, StageTiming
from framework.ownership import OWNER_ANNOTATION, OWNER_UID_LABEL

JSON = dict[str, Any]
CAPTC = CAPTCluster.resource_info().gvk
ACTORS = (CrossplaneActor(), ClusterAPIActor())


async def settled(cluster: Running, name: str) -> JSON:
    """The CAPTCluster once Ready, or Failed with the contract's failure fields."""
    return await cluster.wait_for(CAPTC, name, provider_settled)


async def create(cluster: Running, name: str, **spec: Any) -> JSON:
    await cluster.client.create(cluster_api_cluster(name, name, None))
    created: JSON = await cluster.client.create(capt_cluster(name, **spec))
    return created


async def test_the_vpc_is_provisioned_and_the_contract_fields_are_set() -> None:
    async with running([captcluster.setup], ACTORS) as cluster:
        created = await create(cluster, "demo")
        done = await settled(cluster, "demo")
        assert phase_of(done) == "Ready", done["status"]
        status = done["status"]
        assert status["ready"] is True
        assert status["vpcId"].startswith("vpc-")
        assert status["failureDomains"] == {
            "eu-west-1a": {"controlPlane": True},
            "eu-west-1b": {"controlPlane": True},
        }
        assert "failureReason" not in status
        assert condition(done, "VPCReady")["status"] == "True"
        assert condition(done, "ConnectionSecretReady")["status"] == "True"
        owners = done["metadata"]["ownerReferences"]
        assert [(o["kind"], o["name"]) for o in owners] == [("Cluster", "demo")]
        ws = await cluster.get(WORKSPACE, status["vpcWorkspaceName"], namespace="")
        labels = ws["metadata"]["labels"]
        assert labels[OWNER_UID_LABEL] == created["metadata"]["uid"]
        assert labels[ROLE_LABEL] == "vpc"
        assert ws["metadata"]["annotations"][OWNER_ANNOTATION] == "default/demo"
        assert ws["spec"]["writeConnectionSecretToRef"]["name"] == "demo-vpc-connection"
        secret = await cluster.get(SECRET, "demo-vpc-connection")
        assert base64.b64decode(secret["data"]["vpc_id"]).decode() == status["vpcId"]
        mirrored = await cluster.wait_for(
            CLUSTER, "demo", lambda c: (c.get("status") or {}).get("infrastructureReady") is True
        )
        assert mirrored["status"]["failureDomains"] == status["failureDomains"]


async def test_nothing_happens_until_the_cluster_owns_it() -> None:
    async with running([captcluster.setup], [CrossplaneActor()]) as cluster:
        owner = await cluster.client.create(cluster_api_cluster("demo", "demo", None))
        await cluster.client.create(capt_cluster("demo"))
        waiting = await cluster.wait_for(
            CAPTC, "demo", lambda o: (o.get("status") or {}).get("message") == WAITING_FOR_CLUSTER
        )
        assert phase_of(waiting) == "Pending"
        assert "ready" not in waiting["status"]
        assert (await cluster.client.list(WORKSPACE)).items == []
        reference = {
            "apiVersion": CLUSTER.api_version,
            "kind": "Cluster",
            "name": "demo",
            "uid": owner["metadata"]["uid"],
        }
        patch = {"metadata": {"ownerReferences": [reference]}}
        await cluster.client.patch(CAPTC, "demo", patch, namespace="default")
        assert phase_of(await settled(cluster, "demo")) == "Ready"


async def test_a_failed_apply_is_a_terminal_error() -> None:
    async with running([captcluster.setup], ACTORS) as cluster:
        await create(cluster, "demo", vpc={"cidrBlock": "10.1.0.0/16", "tags": {"env": "fail"}})
        done = await settled(cluster, "demo")
        assert phase_of(done) == "Failed"
        status = done["status"]
        assert status["failureReason"] == "CreateError"
        assert "ApplyFailed" in status["failureMessage"]
        assert status["ready"] is False
        assert condition(done, "Stalled")["reason"] == "CreateError"
        mirrored = await cluster.wait_for(
            CLUSTER, "demo", lambda c: (c.get("status") or {}).get("phase") == "Failed"
        )
        assert mirrored["status"]["failureReason"] == "CreateError"


async def test_an_injected_apply_failure_is_a_terminal_error() -> None:
    always = FailureInjection({"crossplane": 1.0})
    async with running([captcluster.setup], ACTORS, failures=always) as cluster:
        await create(cluster, "demo")
        done = await settled(cluster, "demo")
        assert phase_of(done) == "Failed"
        assert "injected by the simulator" in done["status"]["failureMessage"]


async def test_a_vpc_that_never_becomes_ready_times_out() -> None:
    slow = StageTiming(scale=0.05, delays={"crossplane.apply": 600.0})
    async with running([captcluster.setup], ACTORS, timing=slow) as cluster:
        await create(cluster, "demo", timeouts={"vpcProvisioning": "2s"})
        done = await settled(cluster, "demo")
        assert phase_of(done) == "Failed"
        assert done["status"]["failureReason"] == "VPCReadyTimeout"
        assert condition(done, "Stalled")["reason"] == "VPCReadyTimeout"
        assert done["status"]["vpcWorkspaceName"] == "default-demo-vpc"


async def test_transient_errors_are_conditions_and_a_missing_secret_times_out() -> None:
    async with running([captcluster.setup], [ClusterAPIActor()]) as cluster:
        await create(cluster, "demo", timeouts={"secretWait": "2s"})
        name = "default-demo-vpc"
        await eventually(lambda: cluster.find(WORKSPACE, name, ""), lambda ws: ws is not None)
        unsynced = {"status": workspace_status("False", "Creating", synced="False")}
        await cluster.client.patch(WORKSPACE, name, unsynced, subresource="status")
        waiting = await cluster.wait_for(
            CAPTC, "demo", lambda o: condition(o, "VPCReady").get("status") == "False"
        )
        assert phase_of(waiting) == "ProvisioningVPC"
        assert "failureReason" not in waiting["status"]
        ready = {"status": workspace_status("True", "Available")}
        await cluster.client.patch(WORKSPACE, name, ready, subresource="status")
        missing = await cluster.wait_for(
            CAPTC, "demo", lambda o: condition(o, "ConnectionSecretReady").get("status") == "False"
        )
        assert condition(missing, "ConnectionSecretReady")["reason"] == "SecretNotFound"
        done = await settled(cluster, "demo")
        assert phase_of(done) == "Failed"
        assert done["status"]["failureReason"] == "SecretTimeout"


async def test_deletion_removes_the_cluster_scoped_workspace() -> None:
    async with running([captcluster.setup], ACTORS) as cluster:
        await create(cluster, "demo")
        done = await settled(cluster, "demo")
        assert done["metadata"]["finalizers"] == [captcluster.CAPTClusterReconciler.finalizer]
        await cluster.client.delete(CAPTC, "demo", namespace="default")
        await cluster.wait_gone(CAPTC, "demo")
        assert await cluster.find(WORKSPACE, "default-demo-vpc", "") is None


async def test_every_declared_edge_is_taken() -> None:
    async with running([captcluster.setup], ACTORS) as cluster:
        await create(cluster, "ok")
        await create(cluster, "fail-vpc")
        await create(cluster, "impatient", timeouts={"secretWait": "1ms"})
        phases = {name: phase_of(await settled(cluster, name)) for name in ("ok", "fail-vpc")}
        impatient = await settled(cluster, "impatient")
        assert phases == {"ok": "Ready", "fail-vpc": "Failed"}
        assert impatient["status"]["failureReason"] == "SecretTimeout"
        assert cluster.transitions("captcluster") == set(captcluster.MACHINE.edges)
