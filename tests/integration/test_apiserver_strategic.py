"""Strategic merge patches: served for built-in kinds, 415 for custom resources (as
kube-apiserver answers), advertised in OpenAPI; server-side apply is refused clearly."""

from __future__ import annotations

from typing import Any

import pytest
from test_apiserver_support import WIDGETS, Http, widget

from framework.envtest import Environment

DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"
STRATEGIC = "application/strategic-merge-patch+json"


def deployment(name: str, *containers: dict[str, Any]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": list(containers)},
            },
        },
    }


def names(obj: dict[str, Any]) -> list[str]:
    return [c["name"] for c in obj["spec"]["template"]["spec"]["containers"]]


@pytest.fixture
async def two_containers(http: Http) -> None:
    body = deployment(
        "x",
        {"name": "a", "image": "a:1", "env": [{"name": "A", "value": "1"}]},
        {"name": "b", "image": "b:1"},
    )
    assert (await http.post(DEPLOYMENTS, body)).status == 201


async def test_containers_merge_by_name(http: Http, two_containers: None) -> None:
    patch = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "c", "image": "c:1"},
                        {"name": "a", "env": [{"name": "B", "value": "2"}]},
                    ]
                }
            }
        }
    }
    reply = await http.patch(f"{DEPLOYMENTS}/x", patch, STRATEGIC)
    assert reply.status == 200, reply.body
    assert sorted(names(reply.body)) == ["a", "b", "c"]
    a = next(c for c in reply.body["spec"]["template"]["spec"]["containers"] if c["name"] == "a")
    assert a["image"] == "a:1"
    assert [e["name"] for e in a["env"]] == ["B", "A"]
    assert reply.body["metadata"]["generation"] == 2
    assert (await http.get(f"{DEPLOYMENTS}/x")).body == reply.body


async def test_delete_directive_removes_one_container(http: Http, two_containers: None) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}}}
    reply = await http.patch(f"{DEPLOYMENTS}/x", patch, STRATEGIC)
    assert names(reply.body) == ["a"]


async def test_malformed_strategic_patch_is_422(http: Http, two_containers: None) -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"image": "no-name"}]}}}}
    reply = await http.patch(f"{DEPLOYMENTS}/x", patch, STRATEGIC)
    assert reply.status == 422
    assert reply.body["reason"] == "Invalid"
    assert sorted(names((await http.get(f"{DEPLOYMENTS}/x")).body)) == ["a", "b"]


async def test_status_subresource_takes_strategic_patches(http: Http, two_containers: None) -> None:
    patch = {"status": {"conditions": [{"type": "Available", "status": "True"}]}}
    reply = await http.patch(f"{DEPLOYMENTS}/x/status", patch, STRATEGIC)
    assert reply.body["status"]["conditions"] == patch["status"]["conditions"]


async def test_custom_resources_answer_415_as_kube_does(crd_env: Environment, http: Http) -> None:
    await http.post(WIDGETS, widget("w"))
    reply = await http.patch(f"{WIDGETS}/w", {"spec": {"size": 2}}, STRATEGIC)
    assert reply.status == 415
    assert reply.body["reason"] == "UnsupportedMediaType"
    assert reply.body["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml"
    )


async def test_server_side_apply_is_refused_as_not_implemented(
    http: Http, two_containers: None
) -> None:
    reply = await http.patch(f"{DEPLOYMENTS}/x", {}, "application/apply-patch+yaml")
    assert reply.status == 415
    assert "server-side apply is not supported by the local API server" in reply.body["message"]


async def test_openapi_advertises_strategic_merge_for_built_ins_only(
    crd_env: Environment, http: Http
) -> None:
    index = (await http.get("/openapi/v3")).body["paths"]
    apps = (await http.get(index["apis/apps/v1"]["serverRelativeURL"])).body
    patch = apps["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert STRATEGIC in patch["requestBody"]["content"]
    widgets = (await http.get(index["apis/example.com/v1"]["serverRelativeURL"])).body
    path = "/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"
    assert STRATEGIC not in widgets["paths"][path]["patch"]["requestBody"]["content"]
