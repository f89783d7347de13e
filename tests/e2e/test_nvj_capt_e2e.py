"""NotebookValidationJob and CAPT scenarios against the cluster in $KUBECONFIG (`make
e2e-kind`): the deployed manager runs the controllers and the simulator plays Crossplane,
Tekton/OpenShift builds and Cluster API core (kind has none of them).

kind's real kubelet runs the validation pods, and a freshly built image exists nowhere, so a
built job's pod cannot start there: that scenario follows the build to completion and the
pod's creation, and ends in Failed by the job's deadline (Succeeded on a simulated kubelet)."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

from framework.client import Client
from framework.errors import NotFound
from framework.resources import GroupVersionKind

JSON = dict[str, Any]
NVJ = GroupVersionKind("mlops.kubeloop.dev", "v1alpha1", "NotebookValidationJob")
CAPTC = GroupVersionKind("infrastructure.cluster.x-k8s.io", "v1beta1", "CAPTCluster")
CAPTCP = GroupVersionKind("controlplane.cluster.x-k8s.io", "v1beta1", "CAPTControlPlane")
CLUSTER = GroupVersionKind("cluster.x-k8s.io", "v1beta1", "Cluster")
WORKSPACE = GroupVersionKind("tf.upbound.io", "v1beta1", "Workspace")
SECRET = GroupVersionKind("", "v1", "Secret")
POD = GroupVersionKind("", "v1", "Pod")
WAIT = 180.0


async def wait_for(
    client: Client, gvk: GroupVersionKind, name: str, namespace: str, check: Callable[[JSON], bool]
) -> JSON:
    async with asyncio.timeout(WAIT):
        while True:
            try:
                obj: JSON = await client.get(gvk, name, namespace=namespace or None)
            except NotFound:
                obj = {}
            if obj and check(obj):
                return obj
            await asyncio.sleep(0.5)


def phase(obj: JSON) -> str | None:
    found = (obj.get("status") or {}).get("phase")
    return None if found is None else str(found)


def job(name: str, namespace: str, **pod_config: Any) -> JSON:
    return {
        "apiVersion": NVJ.api_version,
        "kind": NVJ.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "notebook": {
                "git": {"url": "https://github.com/kubeloop/example-notebooks.git"},
                "path": "notebooks/quickstart.ipynb",
            },
            "podConfig": {"containerImage": "busybox:1.36", **pod_config},
            "timeout": "60s",
        },
    }


def provider(gvk: GroupVersionKind, name: str, namespace: str, cluster: str, spec: JSON) -> JSON:
    labels = {"cluster.x-k8s.io/cluster-name": cluster}
    return {
        "apiVersion": gvk.api_version,
        "kind": gvk.kind,
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def cluster(name: str, namespace: str) -> JSON:
    def ref(gvk: GroupVersionKind, ref_name: str) -> JSON:
        return {"apiVersion": gvk.api_version, "kind": gvk.kind, "name": ref_name}

    return {
        "apiVersion": CLUSTER.api_version,
        "kind": CLUSTER.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "infrastructureRef": ref(CAPTC, name),
            "controlPlaneRef": ref(CAPTCP, f"{name}-cp"),
        },
    }


async def test_notebook_job_builds_with_tekton_and_runs_its_pod(
    client: Client, namespace: str
) -> None:
    build = {"enabled": True, "strategy": "tekton", "timeout": "60s"}
    await client.create(job("built", namespace, buildConfig=build))
    done = await wait_for(
        client, NVJ, "built", namespace, lambda o: phase(o) in ("Succeeded", "Failed")
    )
    status = done["status"]
    assert status["buildStatus"]["phase"] == "Complete"
    assert status["buildStatus"]["imageReference"].endswith(f"/{namespace}/built:main")
    pod = await client.get(POD, "built-validation", namespace=namespace)
    assert pod["spec"]["containers"][0]["image"] == status["buildStatus"]["imageReference"]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == done["metadata"]["uid"]


async def test_notebook_job_fails_when_its_build_fails(client: Client, namespace: str) -> None:
    spec = job("broken", namespace, buildConfig={"enabled": True, "strategy": "s2i"})
    spec["spec"]["notebook"]["git"]["url"] = "https://example.com/fail.git"
    await client.create(spec)
    done = await wait_for(client, NVJ, "broken", namespace, lambda o: phase(o) == "Failed")
    assert done["status"]["buildStatus"]["phase"] == "Failed"


async def test_legacy_running_phase_is_migrated(client: Client, namespace: str) -> None:
    created = await client.create(job("legacy", namespace))
    started = created["metadata"]["creationTimestamp"]
    patch = {"status": {"phase": "Running", "startTime": started}}
    await client.patch(NVJ, "legacy", patch, namespace=namespace, subresource="status")
    done = await wait_for(
        client, NVJ, "legacy", namespace, lambda o: phase(o) in ("Succeeded", "Failed")
    )
    assert done["status"]["message"]


async def test_capt_cluster_and_control_plane_become_ready(client: Client, namespace: str) -> None:
    vpc = {"cidrBlock": "10.0.0.0/16", "availabilityZones": ["eu-west-1a"]}
    await client.create(cluster("demo", namespace))
    await client.create(
        provider(CAPTC, "demo", namespace, "demo", {"region": "eu-west-1", "vpc": vpc})
    )
    plane = {"version": "v1.31.0", "workspaceTemplateRef": {"name": "eks"}}
    await client.create(provider(CAPTCP, "demo-cp", namespace, "demo", plane))
    infra = await wait_for(client, CAPTC, "demo", namespace, lambda o: phase(o) == "Ready")
    assert infra["status"]["ready"] is True
    assert infra["status"]["failureDomains"] == {"eu-west-1a": {"controlPlane": True}}
    cp = await wait_for(client, CAPTCP, "demo-cp", namespace, lambda o: phase(o) == "Ready")
    assert cp["status"]["externalManagedControlPlane"] is True
    assert cp["status"]["workspaceStatus"]["atProvider"]["outputs"]["kubeconfig"]
    secret = await client.get(SECRET, "demo-kubeconfig", namespace=namespace)
    value = base64.b64decode(secret["data"]["value"]).decode()
    assert value == cp["status"]["workspaceTemplateStatus"]["outputs"]["kubeconfig"]
    mirrored = await wait_for(
        client, CLUSTER, "demo", namespace, lambda o: phase(o) == "Provisioned"
    )
    assert mirrored["status"]["controlPlaneReady"] is True
    await client.delete(CAPTC, "demo", namespace=namespace)
    async with asyncio.timeout(WAIT):
        while True:
            try:
                await client.get(WORKSPACE, f"{namespace}-demo-vpc")
            except NotFound:
                break
            await asyncio.sleep(0.5)


async def test_capt_cluster_fails_when_its_vpc_cannot_be_applied(
    client: Client, namespace: str
) -> None:
    vpc = {"cidrBlock": "10.0.0.0/16", "tags": {"purpose": "fail"}}
    await client.create(cluster("broken", namespace))
    await client.create(
        provider(CAPTC, "broken", namespace, "broken", {"region": "eu-west-1", "vpc": vpc})
    )
    failed = await wait_for(
        client,
        CAPTC,
        "broken",
        namespace,
        lambda o: bool((o.get("status") or {}).get("failureReason")),
    )
    assert phase(failed) == "Failed"
    assert failed["status"]["failureReason"] == "CreateError"
