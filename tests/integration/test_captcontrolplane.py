"""The CAPTControlPlane controller against the local control plane, with simulated Crossplane
and Cluster API core (or direct status patches on the workspace): the whole path with the
kubeconfig Secret, atProvider preservation (a concurrent writer, a temporarily empty
source), terminal failures before and after Ready, the creation timeout, deletion, and
coverage of every declared edge."""

from __future__ import annotations

import base64
from typing import Any

from test_capt_support import (
    Running,
    capt_control_plane,
    cluster_api_cluster,
    provider_settled,
    running,
    workspace_status,
)
from test_common_support import condition, eventually, phase_of

from api.controlplane.v1beta1 import CAPTControlPlane
from controllers import captcontrolplane
from controllers.capt import WORKSPACE
from controllers.simulation.clusterapi import CLUSTER, ClusterAPIActor
from controllers.simulation.crossplane import CrossplaneActor
from framework.envtest.simulator import StageTiming
from framework.resources import GroupVersionKind

JSON = dict[str, Any]
CAPTCP = CAPTControlPlane.resource_info().gvk
SECRET = GroupVersionKind("", "v1", "Secret")
ACTORS = (CrossplaneActor(), ClusterAPIActor())
KUBECONFIG = "apiVersion: v1\nkind: Config\n"


async def settled(cluster: Running, name: str) -> JSON:
    return await cluster.wait_for(CAPTCP, name, provider_settled)


async def create(cluster: Running, name: str, *, with_cluster: bool = True, **spec: Any) -> None:
    if with_cluster:
        await cluster.client.create(cluster_api_cluster(name, None, f"{name}-cp"))
    await cluster.client.create(capt_control_plane(f"{name}-cp", name, **spec))


async def patch_workspace(cluster: Running, name: str, status: JSON) -> None:
    await cluster.client.patch(WORKSPACE, name, {"status": status}, subresource="status")


async def test_the_control_plane_becomes_ready_with_its_kubeconfig_secret() -> None:
    async with running([captcontrolplane.setup], ACTORS) as cluster:
        await create(cluster, "demo")
        done = await settled(cluster, "demo-cp")
        assert phase_of(done) == "Ready", done["status"]
        status = done["status"]
        assert status["ready"] is True
        assert status["initialized"] is True
        assert status["externalManagedControlPlane"] is True
        assert status["version"] == "v1.31.0"
        outputs = status["workspaceTemplateStatus"]["outputs"]
        assert status["workspaceStatus"]["atProvider"]["outputs"] == outputs
        assert status["workspaceTemplateStatus"]["lastAppliedRevision"]
        host = outputs["endpoint"].removeprefix("https://").removesuffix(":443")
        assert done["spec"]["controlPlaneEndpoint"] == {"host": host, "port": 443}
        assert condition(done, "WorkspaceReady")["status"] == "True"
        secret = await cluster.get(SECRET, "demo-kubeconfig")
        assert secret["type"] == captcontrolplane.KUBECONFIG_SECRET_TYPE
        assert secret["metadata"]["labels"]["cluster.x-k8s.io/cluster-name"] == "demo"
        assert base64.b64decode(secret["data"]["value"]).decode() == outputs["kubeconfig"]
        owner = secret["metadata"]["ownerReferences"][0]
        assert (owner["kind"], owner["controller"]) == ("CAPTControlPlane", True)
        mirrored = await cluster.wait_for(
            CLUSTER, "demo", lambda c: (c.get("spec") or {}).get("controlPlaneEndpoint") is not None
        )
        assert mirrored["spec"]["controlPlaneEndpoint"] == done["spec"]["controlPlaneEndpoint"]


async def test_at_provider_survives_a_concurrent_writer_and_an_empty_source() -> None:
    async with running([captcontrolplane.setup], []) as cluster:
        await create(cluster, "demo", with_cluster=False)
        name = "default-demo-cp-control-plane"
        await eventually(lambda: cluster.find(WORKSPACE, name, ""), lambda ws: ws is not None)
        provider = {"checksum": "c1", "outputs": {"id": "ws-1"}}
        await patch_workspace(
            cluster, name, workspace_status("False", "Creating", at_provider=provider)
        )

        def at_provider(obj: JSON) -> JSON:
            found: JSON = (obj["status"].get("workspaceStatus") or {}).get("atProvider") or {}
            return found

        await cluster.wait_for(CAPTCP, "demo-cp", lambda o: at_provider(o) == provider)
        other = {"status": {"workspaceStatus": {"atProvider": {"region": "eu-west-1"}}}}
        await cluster.client.patch(
            CAPTCP, "demo-cp", other, namespace="default", subresource="status"
        )
        emptied = workspace_status("False", "Creating", synced="False")
        await cluster.client.patch(
            WORKSPACE, name, {"status": {"atProvider": None, **emptied}}, subresource="status"
        )
        waiting = await cluster.wait_for(
            CAPTCP,
            "demo-cp",
            lambda o: "Synced=False" in condition(o, "WorkspaceReady").get("message", ""),
        )
        assert at_provider(waiting) == {**provider, "region": "eu-west-1"}
        outputs = {"id": "ws-1", "endpoint": "https://cp.example:6443", "kubeconfig": KUBECONFIG}
        final = {"checksum": "c2", "outputs": outputs}
        await patch_workspace(
            cluster, name, workspace_status("True", "Available", at_provider=final)
        )
        done = await settled(cluster, "demo-cp")
        assert phase_of(done) == "Ready"
        assert at_provider(done) == {**final, "region": "eu-west-1"}
        assert done["spec"]["controlPlaneEndpoint"] == {"host": "cp.example", "port": 6443}
        assert done["status"]["workspaceTemplateStatus"]["lastAppliedRevision"] == "c2"


async def test_a_failed_apply_is_a_terminal_error() -> None:
    async with running([captcontrolplane.setup], ACTORS) as cluster:
        await create(cluster, "demo", workspaceTemplateRef={"name": "fail-eks"})
        done = await settled(cluster, "demo-cp")
        assert phase_of(done) == "Failed"
        assert done["status"]["failureReason"] == "CreateError"
        assert done["status"]["ready"] is False
        assert done["status"]["workspaceTemplateStatus"]["state"] == "Failed"
        assert done["status"]["workspaceTemplateStatus"]["lastFailureMessage"]


async def test_creation_that_outlives_its_timeout_fails() -> None:
    slow = StageTiming(scale=0.05, delays={"crossplane.apply": 600.0})
    async with running([captcontrolplane.setup], ACTORS, timing=slow) as cluster:
        await create(cluster, "demo", timeouts={"controlPlaneCreation": "1s"})
        done = await settled(cluster, "demo-cp")
        assert phase_of(done) == "Failed"
        assert done["status"]["failureReason"] == "ControlPlaneTimeout"
        assert condition(done, "Stalled")["reason"] == "ControlPlaneTimeout"


async def test_deletion_removes_the_workspace_and_the_kubeconfig_secret() -> None:
    async with running([captcontrolplane.setup], ACTORS) as cluster:
        await create(cluster, "demo")
        assert phase_of(await settled(cluster, "demo-cp")) == "Ready"
        await cluster.client.delete(CAPTCP, "demo-cp", namespace="default")
        await cluster.wait_gone(CAPTCP, "demo-cp")
        assert await cluster.find(WORKSPACE, "default-demo-cp-control-plane", "") is None
        await cluster.wait_gone(SECRET, "demo-kubeconfig")


async def test_every_declared_edge_is_taken() -> None:
    async with running([captcontrolplane.setup], ACTORS) as cluster:
        await create(cluster, "ok")
        await create(cluster, "broken", workspaceTemplateRef={"name": "fail-eks"})
        assert phase_of(await settled(cluster, "ok-cp")) == "Ready"
        assert phase_of(await settled(cluster, "broken-cp")) == "Failed"
        failed = workspace_status("False", "ApplyFailed")
        await patch_workspace(cluster, "default-ok-cp-control-plane", failed)
        lost = await cluster.wait_for(CAPTCP, "ok-cp", lambda o: phase_of(o) == "Failed")
        assert lost["status"]["failureReason"] == "UpdateError"
        assert cluster.transitions("captcontrolplane") == set(captcontrolplane.MACHINE.edges)
