"""kubernetes-asyncio against the embedded API server, used as a real client would."""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException
from test_apiserver_support import widget

from framework.envtest import Environment

GROUP, VERSION, PLURAL = "example.com", "v1", "widgets"


async def test_custom_objects_crud(crd_env: Environment, api: client.ApiClient) -> None:
    objects = client.CustomObjectsApi(api)
    created = await objects.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, widget("a")
    )
    assert created["spec"] == {"size": 1, "color": "red"}
    got = await objects.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]
    patched = await objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "a",
        {"spec": {"size": 2}},
        _content_type="application/merge-patch+json",
    )
    assert patched["metadata"]["generation"] == 2
    status = await objects.patch_namespaced_custom_object_status(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "a",
        {"status": {"phase": "Up"}},
        _content_type="application/merge-patch+json",
    )
    assert status["status"] == {"phase": "Up"}
    replaced = await objects.replace_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, "a", {**status, "spec": {"size": 3}}
    )
    assert replaced["spec"]["size"] == 3
    listed = await objects.list_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, label_selector=""
    )
    assert [i["metadata"]["name"] for i in listed["items"]] == ["a"]
    await objects.delete_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    with pytest.raises(ApiException) as missing:
        await objects.get_namespaced_custom_object(GROUP, VERSION, "default", PLURAL, "a")
    assert missing.value.status == 404


async def test_typed_errors_carry_status_codes(crd_env: Environment, api: client.ApiClient) -> None:
    objects = client.CustomObjectsApi(api)
    created = await objects.create_namespaced_custom_object(
        GROUP, VERSION, "default", PLURAL, widget("a")
    )
    with pytest.raises(ApiException) as exists:
        await objects.create_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, widget("a")
        )
    assert exists.value.status == 409
    with pytest.raises(ApiException) as invalid:
        await objects.create_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, widget("b", size=99)
        )
    assert invalid.value.status == 422
    await objects.patch_namespaced_custom_object(
        GROUP,
        VERSION,
        "default",
        PLURAL,
        "a",
        {"spec": {"size": 2}},
        _content_type="application/merge-patch+json",
    )
    with pytest.raises(ApiException) as conflict:
        await objects.replace_namespaced_custom_object(
            GROUP, VERSION, "default", PLURAL, "a", created
        )
    assert conflict.value.status == 409


async def test_core_v1(api: client.ApiClient) -> None:
    core = client.CoreV1Api(api)
    namespaces = await core.list_namespace()
    assert {"default", "kube-system"} <= {n.metadata.name for n in namespaces.items}
    await core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="team")))
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name="s"), string_data={"k": "v"})
    created = await core.create_namespaced_secret("team", secret)
    assert created.data == {"k": "dg=="}
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="p", labels={"app": "x"}),
        spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox")]),
    )
    await core.create_namespaced_pod("team", pod)
    await core.patch_namespaced_pod_status(
        "p", "team", {"status": {"phase": "Running"}}, _content_type="application/merge-patch+json"
    )
    running = await core.list_namespaced_pod("team", field_selector="status.phase=Running")
    assert [p.metadata.name for p in running.items] == ["p"]
    by_label = await core.list_pod_for_all_namespaces(label_selector="app=x")
    assert len(by_label.items) == 1


async def test_leases_for_leader_election(api: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(api)
    body = client.V1Lease(
        metadata=client.V1ObjectMeta(name="leader"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15),
    )
    created = await leases.create_namespaced_lease("default", body)
    created.spec.holder_identity = "b"
    updated = await leases.replace_namespaced_lease("leader", "default", created)
    assert updated.spec.holder_identity == "b"
    with pytest.raises(ApiException) as stale:
        await leases.replace_namespaced_lease("leader", "default", created)
    assert stale.value.status == 409
