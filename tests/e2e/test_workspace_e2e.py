"""Workspace scenarios against the cluster in $KUBECONFIG (`make e2e-kind`): the deployed
manager runs the Workspace controller and the simulator plays Karpenter (kind has none).

kind's real kubelets do not run on the simulated Nodes of the NodeClaims, so inference pods
(pinned to the workspace's nodes) never start there: these scenarios follow a workspace to
Creating (NodeClaims Ready, Deployment created), to Failed when provisioning fails, and
through deletion (the finalizer removes the NodeClaims)."""

from __future__ import annotations

import asyncio
from typing import Any

from framework.client import Client
from framework.errors import NotFound
from framework.resources import GroupVersionKind

JSON = dict[str, Any]
WORKSPACE = GroupVersionKind("workspace.kubeloop.dev", "v1alpha1", "Workspace")
NODECLAIM = GroupVersionKind("karpenter.sh", "v1", "NodeClaim")
DEPLOYMENT = GroupVersionKind("apps", "v1", "Deployment")
WAIT = 120.0


def workspace(name: str, namespace: str, instance_type: str) -> JSON:
    return {
        "apiVersion": WORKSPACE.api_version,
        "kind": WORKSPACE.kind,
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "resource": {"instanceType": instance_type},
            "inference": {"preset": {"name": "falcon-7b"}},
        },
    }


def condition(obj: JSON, type_: str) -> JSON:
    for entry in (obj.get("status") or {}).get("conditions") or ():
        if entry.get("type") == type_:
            found: JSON = entry
            return found
    return {}


async def wait_phase(client: Client, name: str, namespace: str, phase: str) -> JSON:
    async with asyncio.timeout(WAIT):
        while True:
            obj: JSON = await client.get(WORKSPACE, name, namespace=namespace)
            if (obj.get("status") or {}).get("phase") == phase:
                return obj
            await asyncio.sleep(0.5)


async def claims_of(client: Client, obj: JSON) -> list[JSON]:
    uid = obj["metadata"]["uid"]
    found = await client.list(NODECLAIM, label_selector=f"kubeloop.dev/owner-uid={uid}")
    return list(found.items)


async def delete_and_wait(client: Client, obj: JSON) -> None:
    name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
    await client.delete(WORKSPACE, name, namespace=namespace)
    async with asyncio.timeout(WAIT):
        while True:
            try:
                await client.get(WORKSPACE, name, namespace=namespace)
            except NotFound:
                break
            await asyncio.sleep(0.5)
    assert await claims_of(client, obj) == []


async def test_workspace_provisions_nodes_and_creates_its_deployment(
    client: Client, namespace: str
) -> None:
    await client.create(workspace("serve", namespace, "standard_nc6"))
    creating = await wait_phase(client, "serve", namespace, "Creating")
    assert condition(creating, "ResourceReady")["status"] == "True"
    claims = await claims_of(client, creating)
    assert len(claims) == 1
    assert claims[0]["metadata"]["annotations"]["kubeloop.dev/owner"] == f"{namespace}/serve"
    assert creating["status"]["workerNodes"] == [claims[0]["status"]["nodeName"]]
    deployment = await client.get(DEPLOYMENT, "serve", namespace=namespace)
    selector = deployment["spec"]["template"]["spec"]["nodeSelector"]
    assert selector == {"kubeloop.dev/owner-uid": creating["metadata"]["uid"]}
    await delete_and_wait(client, creating)


async def test_workspace_fails_when_provisioning_fails(client: Client, namespace: str) -> None:
    await client.create(workspace("broken", namespace, "fail.gpu"))
    failed = await wait_phase(client, "broken", namespace, "Failed")
    resource = condition(failed, "ResourceReady")
    assert (resource["status"], resource["reason"]) == ("False", "ProvisionFailed")
    await delete_and_wait(client, failed)
