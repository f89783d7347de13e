"""Client against the embedded API server: every verb, error mapping, optimistic locks,
pagination, selectors, discovery, create_or_update / create_or_patch results, streaming."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kubernetes_asyncio.client import Configuration
from kubernetes_asyncio.config import incluster_config
from prometheus_client import CollectorRegistry
from yarl import URL

from framework.client import Client, OperationResult, Preconditions
from framework.envtest import Environment
from framework.envtest.environment import kubeconfig_yaml
from framework.errors import AlreadyExists, Conflict, Invalid, NotFound, Unauthorized
from framework.models import KubeObject
from framework.resources import GroupVersionKind, ResourceInfo
from framework.selectors import FieldSelector, LabelSelector

WIDGET_GVK = GroupVersionKind("example.com", "v1", "Widget")
WIDGET = ResourceInfo(
    gvk=WIDGET_GVK,
    plural="widgets",
    singular="widget",
    namespaced=True,
    subresources=frozenset({"status"}),
)


class Widget(KubeObject):
    __resource__ = WIDGET

    spec: dict[str, Any] = {}
    status: dict[str, Any] | None = None


def widget(name: str, size: int = 1, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name, "namespace": "default", "labels": labels or {}},
        "spec": {"size": size},
    }


@pytest.fixture
async def kube(crd_env: Environment) -> AsyncIterator[Client]:
    async with await Client.for_environment(crd_env, registry=CollectorRegistry()) as client:
        yield client


async def test_every_verb_on_a_custom_resource(kube: Client) -> None:
    created = await kube.create(widget("a"))
    assert created["spec"] == {"size": 1, "color": "red"}  # defaulted by the schema
    got = await kube.get(WIDGET_GVK, "a", namespace="default")
    assert got["metadata"]["uid"] == created["metadata"]["uid"]

    got["spec"]["size"] = 2
    updated = await kube.update(got)
    assert updated["spec"]["size"] == 2
    assert updated["metadata"]["generation"] == 2

    merged = await kube.patch(WIDGET, "a", {"spec": {"color": "blue"}}, namespace="default")
    assert merged["spec"] == {"size": 2, "color": "blue"}
    json_patched = await kube.patch(
        WIDGET,
        "a",
        [{"op": "replace", "path": "/spec/size", "value": 3}],
        namespace="default",
        patch_type="json",
    )
    assert json_patched["spec"]["size"] == 3

    with_status = await kube.patch(
        WIDGET, "a", {"status": {"phase": "Ready"}}, namespace="default", subresource="status"
    )
    assert with_status["status"] == {"phase": "Ready"}
    assert with_status["metadata"]["generation"] == json_patched["metadata"]["generation"]
    with_status["status"]["phase"] = "Done"
    assert (await kube.update(with_status, subresource="status"))["status"]["phase"] == "Done"

    listed = await kube.list(WIDGET, namespace="default")
    assert [w["metadata"]["name"] for w in listed.items] == ["a"]
    assert listed.items[0]["kind"] == "Widget"
    assert listed.resource_version

    await kube.delete(WIDGET, "a", namespace="default")
    with pytest.raises(NotFound):
        await kube.get(WIDGET, "a", namespace="default")


async def test_models_in_and_out(kube: Client) -> None:
    created = await kube.create(
        Widget(metadata={"name": "m", "namespace": "default"}, spec={"size": 4})
    )
    assert isinstance(created, Widget)
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    created.spec["size"] = 5
    updated = await kube.update(created)
    assert isinstance(updated, Widget)
    assert updated.spec["size"] == 5
    listed = await kube.list(Widget, namespace="default")
    assert [type(w) for w in listed.items] == [Widget]


async def test_errors_are_typed(kube: Client) -> None:
    with pytest.raises(NotFound):
        await kube.get(WIDGET, "missing", namespace="default")
    stale = await kube.create(widget("e"))
    with pytest.raises(AlreadyExists):
        await kube.create(widget("e"))
    await kube.patch(WIDGET, "e", {"spec": {"size": 2}}, namespace="default")
    with pytest.raises(Conflict):
        await kube.update(stale)
    with pytest.raises(Invalid) as invalid:
        await kube.create(widget("big", size=99))
    assert [cause.field for cause in invalid.value.causes] == ["spec.size"]


async def test_a_wrong_token_is_unauthorized(crd_env: Environment) -> None:
    configuration = Configuration(host=crd_env.server_url)
    configuration.api_key["BearerToken"] = "Bearer wrong"
    configuration.verify_ssl = False
    async with Client(configuration) as client:
        with pytest.raises(Unauthorized):
            await client.get(WIDGET, "a", namespace="default")


@pytest.mark.parametrize("patch_type", ["merge", "json"])
async def test_patch_with_a_stale_resource_version_conflicts(kube: Client, patch_type: Any) -> None:
    created = await kube.create(widget("lock"))
    version = created["metadata"]["resourceVersion"]
    patch: Any = (
        {"spec": {"size": 2}}
        if patch_type == "merge"
        else [{"op": "replace", "path": "/spec/size", "value": 2}]
    )
    options: dict[str, Any] = {"namespace": "default", "patch_type": patch_type}
    first = await kube.patch(WIDGET, "lock", patch, resource_version=version, **options)
    assert first["spec"]["size"] == 2
    with pytest.raises(Conflict):
        await kube.patch(WIDGET, "lock", patch, resource_version=version, **options)


async def test_list_pages_and_selectors(kube: Client) -> None:
    for i in range(5):
        await kube.create(widget(f"w{i}", labels={"parity": "even" if i % 2 == 0 else "odd"}))
    paged = await kube.list(WIDGET, namespace="default", limit=2)
    assert sorted(w["metadata"]["name"] for w in paged.items) == [f"w{i}" for i in range(5)]
    pages = [page async for page in kube.pages(WIDGET, namespace="default", limit=2)]
    assert [len(page.items) for page in pages] == [2, 2, 1]

    def names(items: list[dict[str, Any]]) -> list[str]:
        return sorted(item["metadata"]["name"] for item in items)

    even = await kube.list(WIDGET, namespace="default", label_selector={"parity": "even"})
    assert names(even.items) == ["w0", "w2", "w4"]
    odd = await kube.list(WIDGET, label_selector=LabelSelector.parse("parity notin (even)"))
    assert names(odd.items) == ["w1", "w3"]
    one = await kube.list(
        WIDGET, namespace="default", field_selector=FieldSelector.parse("metadata.name=w3")
    )
    assert names(one.items) == ["w3"]
    assert names((await kube.list(WIDGET, field_selector="metadata.name!=w3")).items) == [
        "w0",
        "w1",
        "w2",
        "w4",
    ]


async def test_delete_options(kube: Client) -> None:
    created = await kube.create(widget("d"))
    with pytest.raises(Conflict):
        await kube.delete(
            WIDGET, "d", namespace="default", preconditions=Preconditions(uid="not-the-uid")
        )
    await kube.delete(
        WIDGET,
        "d",
        namespace="default",
        propagation_policy="Foreground",
        preconditions=Preconditions(
            uid=created["metadata"]["uid"], resource_version=created["metadata"]["resourceVersion"]
        ),
    )
    with pytest.raises(NotFound):
        await kube.get(WIDGET, "d", namespace="default")


async def test_dry_run_stores_nothing(kube: Client) -> None:
    answered = await kube.create(widget("dry"), dry_run=True)
    assert answered["metadata"]["name"] == "dry"
    with pytest.raises(NotFound):
        await kube.get(WIDGET, "dry", namespace="default")
    await kube.create(widget("dry"))
    await kube.delete(WIDGET, "dry", namespace="default", dry_run=True)
    assert (await kube.get(WIDGET, "dry", namespace="default"))["metadata"]["uid"]


async def test_unregistered_kinds_come_from_discovery(kube: Client) -> None:
    assert kube.resources.get(WIDGET_GVK) is None
    await kube.create(widget("x"))
    info = kube.resources.get(WIDGET_GVK)
    assert info is not None
    assert (info.plural, info.namespaced, info.subresources) == (
        "widgets",
        True,
        frozenset({"status"}),
    )


async def test_builtin_kinds_as_dicts(kube: Client) -> None:
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm", "namespace": "default"},
        "data": {"a": "1"},
    }
    await kube.create(config_map)
    got = await kube.get(GroupVersionKind("", "v1", "ConfigMap"), "cm", namespace="default")
    assert got["data"] == {"a": "1"}


async def test_create_or_update_results(kube: Client) -> None:
    def size_three(obj: dict[str, Any]) -> None:
        obj["spec"] = {**obj.get("spec", {}), "size": 3}

    created, result = await kube.create_or_update(widget("cu"), size_three)
    assert (result, created["spec"]["size"]) == (OperationResult.CREATED, 3)
    again, result = await kube.create_or_update(widget("cu"), size_three)
    assert result is OperationResult.UNCHANGED
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]

    def size_four(obj: dict[str, Any]) -> None:
        obj["spec"]["size"] = 4

    updated, result = await kube.create_or_update(widget("cu"), size_four)
    assert (result, updated["spec"]["size"]) == (OperationResult.UPDATED, 4)


async def test_create_or_patch_results(kube: Client) -> None:
    key = Widget(metadata={"name": "cp", "namespace": "default"})

    def spec(size: int) -> Any:
        def mutate(obj: Widget) -> None:
            obj.spec["size"] = size

        return mutate

    def phase(value: str, size: int | None = None) -> Any:
        def mutate(obj: Widget) -> None:
            obj.status = {**(obj.status or {}), "phase": value}
            if size is not None:
                obj.spec["size"] = size

        return mutate

    steps = [
        (spec(1), OperationResult.CREATED),
        (spec(1), OperationResult.UNCHANGED),
        (spec(2), OperationResult.UPDATED),
        (phase("A"), OperationResult.UPDATED_STATUS_ONLY),
        (phase("B", size=3), OperationResult.UPDATED_STATUS),
    ]
    for mutate, expected in steps:
        _, result = await kube.create_or_patch(key, mutate)
        assert result is expected
    stored = await kube.get(Widget, "cp", namespace="default")
    assert (stored.spec["size"], stored.status) == (3, {"phase": "B"})


async def test_stream_reads_a_watch_as_it_arrives(kube: Client) -> None:
    await kube.create(widget("s"))
    path = "/apis/example.com/v1/namespaces/default/widgets"
    async with kube.stream("GET", path, query=[("watch", "1")], read_timeout=30) as response:
        line = await response.content.readline()
    event = orjson.loads(line)
    assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "s")


async def test_request_returns_raw_answers(kube: Client) -> None:
    response = await kube.request("GET", "/api/v1/namespaces/default")
    assert response.status == 200
    assert response.json()["metadata"]["name"] == "default"


async def test_in_cluster_service_account(
    crd_env: Environment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = crd_env.server.cert
    assert cert is not None
    (tmp_path / "token").write_text(crd_env.token)
    (tmp_path / "ca.crt").write_bytes(cert.cert_pem)
    url = URL(crd_env.server_url)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", str(url.host))
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", str(url.port))
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(tmp_path / "token"))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(tmp_path / "ca.crt"))
    async with await Client.from_default() as client:
        created = await client.create(widget("pod"))
    assert created["metadata"]["name"] == "pod"


async def test_a_rotated_token_file_is_picked_up_after_a_401(
    crd_env: Environment, tmp_path: Path
) -> None:
    cert = crd_env.server.cert
    assert cert is not None
    token_file = tmp_path / "token"
    token_file.write_text("not-yet-valid")
    kubeconfig = tmp_path / "kubeconfig"
    config = yaml.safe_load(kubeconfig_yaml(crd_env.server_url, "unused", cert.cert_pem))
    config["users"][0]["user"] = {"tokenFile": str(token_file)}
    kubeconfig.write_text(yaml.safe_dump(config))
    async with await Client.from_kubeconfig(kubeconfig) as client:
        token_file.write_text(crd_env.token)
        created = await client.create(widget("rotated"))
    assert created["metadata"]["name"] == "rotated"
