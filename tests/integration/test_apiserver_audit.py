"""Request audit: the distinct (user agent, verb, group, resource, subresource, namespace)
requests served, and the check of a Role's rules against them."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client
from test_apiserver_support import WIDGETS, Http, widget

from framework.envtest import Environment
from framework.envtest.apiserver.audit import AuditRecord, AuditSet

AGENT = {"User-Agent": "widget-controller/1.0"}


def record(
    verb: str, resource: str, group: str = "", subresource: str = "", ns: str = "default"
) -> AuditRecord:
    return AuditRecord("widget-controller/1.0", verb, group, resource, subresource, ns)


async def test_every_verb_is_recorded_as_the_authorizer_names_it(
    crd_env: Environment, http: Http
) -> None:
    await http.post(WIDGETS, widget("w"), headers=AGENT)
    await http.get(f"{WIDGETS}/w", headers=AGENT)
    await http.get(WIDGETS, headers=AGENT)
    await http.get("/apis/example.com/v1/widgets", headers=AGENT)
    await http.get(WIDGETS, headers=AGENT, params={"watch": "true", "timeoutSeconds": "1"})
    current = (await http.get(f"{WIDGETS}/w", headers=AGENT)).body
    await http.put(f"{WIDGETS}/w", current, headers=AGENT)
    await http.patch(f"{WIDGETS}/w/status", {"status": {"phase": "Ready"}}, headers=AGENT)
    await http.delete(f"{WIDGETS}/w", headers=AGENT)
    await http.delete(WIDGETS, headers=AGENT)
    group = "example.com"
    mine = crd_env.audit.of_user_agent("widget-controller")
    assert isinstance(mine, AuditSet)
    assert set(mine) == {
        record("create", "widgets", group),
        record("get", "widgets", group),
        record("list", "widgets", group),
        record("list", "widgets", group, ns=""),
        record("watch", "widgets", group),
        record("update", "widgets", group),
        record("patch", "widgets", group, "status"),
        record("delete", "widgets", group),
        record("deletecollection", "widgets", group),
    }


async def test_only_authenticated_resource_requests_are_recorded(
    env: Environment, http: Http
) -> None:
    await http.get("/api/v1/namespaces", headers={"Authorization": "Bearer wrong", **AGENT})
    await http.get("/apis", headers=AGENT)
    await http.get("/version", headers=AGENT)
    assert not env.audit.of_user_agent("widget-controller")
    await http.get("/api/v1/namespaces/default", headers=AGENT)
    assert set(env.audit.of_user_agent("widget-controller")) == {record("get", "namespaces", ns="")}


async def test_a_client_library_is_told_apart_by_its_user_agent(
    env: Environment, api: client.ApiClient
) -> None:
    await client.CoreV1Api(api).list_namespaced_config_map("default")
    agents = {r.user_agent for r in env.audit if r.resource == "configmaps"}
    assert len(agents) == 1
    assert next(iter(agents)).startswith("OpenAPI-Generator")


def role(*rules: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "rules": rules}


def test_allowed_by_lists_what_a_role_does_not_allow() -> None:
    status = record("patch", "widgets", "example.com", "status")
    watch = record("watch", "widgets", "example.com")
    events = record("create", "events", "events.k8s.io")
    leases = record("get", "leases", "coordination.k8s.io")
    audit = AuditSet({status, watch, events, leases})
    widgets = {"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["watch"]}
    assert audit.allowed_by(role(widgets)) == sorted([status, events, leases])
    with_status = {**widgets, "resources": ["widgets", "widgets/status"], "verbs": ["*"]}
    assert audit.allowed_by(role(with_status)) == sorted([events, leases])
    any_status = {"apiGroups": ["*"], "resources": ["*/status"], "verbs": ["patch"]}
    assert status not in audit.allowed_by(role(any_status))
    everything = {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}
    assert audit.allowed_by(role(everything)) == []
    named = {**everything, "resourceNames": ["w"]}
    assert len(audit.allowed_by(role(named))) == 4
    wrong_group = {"apiGroups": [""], "resources": ["events"], "verbs": ["create"]}
    assert events in audit.allowed_by(role(wrong_group))
