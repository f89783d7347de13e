"""Events: one store seen through core/v1 and events.k8s.io/v1, selectable by the object they
regard (`involvedObject.*` / `regarding.*`), reason, type and reporting component."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from test_apiserver_support import Http

CORE = "/api/v1/namespaces/default/events"
EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"


def regarding(kind: str, name: str, uid: str) -> dict[str, str]:
    return {"apiVersion": "v1", "kind": kind, "name": name, "namespace": "default", "uid": uid}


@pytest.fixture
async def recorded(http: Http) -> None:
    """Three events: two through events.k8s.io, one through core/v1."""
    for name, ref, reason, kind in (
        ("e1", regarding("ConfigMap", "a", "u-a"), "Created", "Normal"),
        ("e2", regarding("ConfigMap", "b", "u-b"), "Failed", "Warning"),
    ):
        event = {
            "metadata": {"name": name},
            "regarding": ref,
            "reason": reason,
            "type": kind,
            "note": f"{reason} {ref['name']}",
            "reportingController": "kubeloop",
            "reportingInstance": "kubeloop-1",
            "action": "Reconcile",
            "eventTime": "2026-01-01T00:00:00.000000Z",
        }
        assert (await http.post(EVENTS, event)).status == 201
    core = {
        "metadata": {"name": "e3"},
        "involvedObject": regarding("Secret", "a", "u-s"),
        "reason": "Created",
        "type": "Normal",
        "message": "m",
        "source": {"component": "kubelet"},
    }
    assert (await http.post(CORE, core)).status == 201


async def names(http: Http, path: str, selector: str) -> list[str]:
    reply = await http.get(path, params={"fieldSelector": selector})
    assert reply.status == 200, reply.body
    return sorted(i["metadata"]["name"] for i in reply.body["items"])


@pytest.mark.parametrize(
    ("path", "selector", "expected"),
    [
        (CORE, "involvedObject.name=a", ["e1", "e3"]),
        (CORE, "involvedObject.kind=ConfigMap,involvedObject.name=a", ["e1"]),
        (CORE, "involvedObject.uid=u-b", ["e2"]),
        (CORE, "involvedObject.namespace=default,type=Warning", ["e2"]),
        (CORE, "reason=Created", ["e1", "e3"]),
        (CORE, "source=kubelet", ["e3"]),
        (CORE, "reportingComponent=kubeloop", ["e1", "e2"]),
        (EVENTS, "regarding.name=a", ["e1", "e3"]),
        (EVENTS, "regarding.kind=Secret", ["e3"]),
        (EVENTS, "regarding.uid=u-a,reason=Created", ["e1"]),
        (EVENTS, "regarding.kind!=ConfigMap", ["e3"]),
        (EVENTS, "reportingController=kubeloop,type=Warning", ["e2"]),
    ],
)
async def test_field_selectors(
    http: Http, recorded: None, path: str, selector: str, expected: list[str]
) -> None:
    assert await names(http, path, selector) == expected


async def test_each_api_refuses_the_other_apis_field_names(http: Http, recorded: None) -> None:
    assert (await http.get(CORE, params={"fieldSelector": "regarding.name=a"})).status == 400
    reply = await http.get(EVENTS, params={"fieldSelector": "involvedObject.name=a"})
    assert reply.status == 400
    assert "field label not supported" in reply.body["message"]


async def test_watch_by_regarded_object(http: Http) -> None:
    params = {"watch": "true", "fieldSelector": "regarding.name=target", "timeoutSeconds": "5"}
    headers = {"Authorization": f"Bearer {http.env.token}"}
    async with http.session.get(
        http.env.server_url + EVENTS, params=params, headers=headers
    ) as response:
        for name, target in (("other", "elsewhere"), ("mine", "target")):
            core: dict[str, Any] = {
                "metadata": {"name": name},
                "involvedObject": regarding("ConfigMap", target, "u"),
                "message": "m",
            }
            await http.post(CORE, core)
        async with asyncio.timeout(5):
            line = await response.content.readline()
    event = orjson.loads(line)
    assert event["type"] == "ADDED"
    assert event["object"]["metadata"]["name"] == "mine"
    assert event["object"]["regarding"]["name"] == "target"
