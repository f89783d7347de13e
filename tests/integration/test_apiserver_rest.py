"""The embedded API server's REST semantics, over raw HTTP: metadata, verbs, errors, auth."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_apiserver_support import WIDGETS, Http, widget

from framework.envtest import Environment

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


async def test_requests_without_the_token_are_unauthorized(http: Http, env: Environment) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        async with http.session.get(env.server_url + "/api/v1/namespaces", headers=headers) as r:
            body = await r.json()
            assert r.status == 401
            assert body["reason"] == "Unauthorized"
            assert body["kind"] == "Status"


async def test_server_binds_loopback_with_https(env: Environment) -> None:
    assert env.server_url.startswith("https://127.0.0.1:")
    assert "certificate-authority-data" in Path(env.kubeconfig).read_text()  # noqa: ASYNC240


async def test_seeded_namespaces_exist(http: Http) -> None:
    reply = await http.get("/api/v1/namespaces")
    names = {item["metadata"]["name"] for item in reply.body["items"]}
    assert {"default", "kube-system"} <= names
    assert reply.body["kind"] == "NamespaceList"
    default = await http.get("/api/v1/namespaces/default")
    assert default.body["status"]["phase"] == "Active"
    assert default.body["spec"]["finalizers"] == ["kubernetes"]


async def test_create_sets_server_metadata_and_global_resource_version(http: Http) -> None:
    first = await http.post(CONFIGMAPS, configmap("a", k="v"))
    second = await http.post(CONFIGMAPS, configmap("b"))
    assert first.status == 201
    meta = first.body["metadata"]
    assert meta["uid"]
    assert meta["creationTimestamp"].endswith("Z")
    assert meta["generation"] == 1
    assert meta["namespace"] == "default"
    assert int(second.body["metadata"]["resourceVersion"]) > int(meta["resourceVersion"])
    got = await http.get(f"{CONFIGMAPS}/a")
    assert got.body == first.body


async def test_create_twice_is_already_exists(http: Http) -> None:
    await http.post(CONFIGMAPS, configmap("a"))
    reply = await http.post(CONFIGMAPS, configmap("a"))
    assert reply.status == 409
    assert reply.body["reason"] == "AlreadyExists"
    assert reply.body["message"] == 'configmaps "a" already exists'
    assert reply.body["details"] == {"name": "a", "kind": "configmaps"}


async def test_generate_name(http: Http) -> None:
    reply = await http.post(CONFIGMAPS, {"metadata": {"generateName": "gen-"}})
    name = reply.body["metadata"]["name"]
    assert reply.status == 201
    assert name.startswith("gen-")
    assert len(name) == len("gen-") + 5


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"name": "Bad_Name"}, "metadata.name"),
        ({}, "metadata.name"),
        ({"name": "ok", "labels": {"bad key": "v"}}, "metadata.labels"),
        ({"name": "ok", "labels": {"k": "x" * 64}}, "metadata.labels"),
        ({"name": "ok", "annotations": {"a": "x" * (256 * 1024 + 1)}}, "metadata.annotations"),
        (
            {"name": "ok", "ownerReferences": [{"apiVersion": "v1", "kind": "Pod", "name": "p"}]},
            "metadata.ownerReferences.uid",
        ),
        (
            {
                "name": "ok",
                "ownerReferences": [
                    {"apiVersion": "v1", "kind": "Pod", "name": n, "uid": n, "controller": True}
                    for n in ("a", "b")
                ],
            },
            "metadata.ownerReferences",
        ),
    ],
)
async def test_invalid_metadata_is_422_with_causes(
    http: Http, metadata: dict[str, Any], field: str
) -> None:
    reply = await http.post(CONFIGMAPS, {"metadata": metadata})
    assert reply.status == 422, reply.body
    assert reply.body["reason"] == "Invalid"
    assert field in [c["field"] for c in reply.body["details"]["causes"]]
    assert reply.body["details"]["kind"] == "ConfigMap"


async def test_namespace_must_exist(http: Http) -> None:
    reply = await http.post("/api/v1/namespaces/nope/configmaps", configmap("a"))
    assert reply.status == 404
    assert reply.body["message"] == 'namespaces "nope" not found'


async def test_secret_string_data_is_folded_into_data(http: Http) -> None:
    secret = {"metadata": {"name": "s"}, "stringData": {"user": "admin"}, "data": {"a": "Yg=="}}
    reply = await http.post("/api/v1/namespaces/default/secrets", secret)
    assert reply.body["data"] == {"a": "Yg==", "user": "YWRtaW4="}
    assert "stringData" not in reply.body


async def test_update_builtin_unconditional_and_stale_conflict(http: Http) -> None:
    created = (await http.post(CONFIGMAPS, configmap("a", k="1"))).body
    unconditional = await http.put(f"{CONFIGMAPS}/a", configmap("a", k="2"))
    assert unconditional.status == 200
    assert unconditional.body["data"] == {"k": "2"}
    assert unconditional.body["metadata"]["uid"] == created["metadata"]["uid"]
    stale = await http.put(f"{CONFIGMAPS}/a", created)
    assert stale.status == 409
    assert stale.body["reason"] == "Conflict"
    assert "the object has been modified" in stale.body["message"]


async def test_update_custom_resource_requires_resource_version(
    crd_env: Environment, http: Http
) -> None:
    created = (await http.post(WIDGETS, widget("w"))).body
    reply = await http.put(f"{WIDGETS}/w", widget("w", size=2))
    assert reply.status == 422
    assert reply.body["details"]["causes"][0]["field"] == "metadata.resourceVersion"
    body = widget("w", size=2)
    body["metadata"]["resourceVersion"] = created["metadata"]["resourceVersion"]
    assert (await http.put(f"{WIDGETS}/w", body)).status == 200


async def test_update_name_mismatch_is_bad_request(http: Http) -> None:
    await http.post(CONFIGMAPS, configmap("a"))
    reply = await http.put(f"{CONFIGMAPS}/a", configmap("b"))
    assert reply.status == 400


async def test_generation_counts_spec_changes_only(crd_env: Environment, http: Http) -> None:
    await http.post(WIDGETS, widget("w"))
    labelled = await http.patch(f"{WIDGETS}/w", {"metadata": {"labels": {"a": "b"}}})
    assert labelled.body["metadata"]["generation"] == 1
    resized = await http.patch(f"{WIDGETS}/w", {"spec": {"size": 5}})
    assert resized.body["metadata"]["generation"] == 2
    status = await http.patch(f"{WIDGETS}/w/status", {"status": {"phase": "Running"}})
    assert status.body["metadata"]["generation"] == 2
    assert status.body["status"] == {"phase": "Running"}


async def test_status_subresource_separates_writes(crd_env: Environment, http: Http) -> None:
    body = widget("w")
    body["status"] = {"phase": "Ignored"}
    created = await http.post(WIDGETS, body)
    assert "status" not in created.body
    ignored = await http.patch(f"{WIDGETS}/w", {"status": {"phase": "X"}, "spec": {"size": 2}})
    assert "status" not in ignored.body
    assert ignored.body["spec"]["size"] == 2
    only_status = await http.patch(
        f"{WIDGETS}/w/status", {"status": {"phase": "Y"}, "spec": {"size": 9}}
    )
    assert only_status.body["status"] == {"phase": "Y"}
    assert only_status.body["spec"]["size"] == 2
    put = dict(only_status.body, status={"phase": "Z"})
    assert (await http.put(f"{WIDGETS}/w/status", put)).body["status"] == {"phase": "Z"}
    assert (await http.get(f"{WIDGETS}/w/status")).body["status"] == {"phase": "Z"}


async def test_noop_write_keeps_resource_version(http: Http) -> None:
    created = (await http.post(CONFIGMAPS, configmap("a", k="v"))).body
    same = await http.patch(f"{CONFIGMAPS}/a", {"data": {"k": "v"}})
    assert same.body["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


async def test_merge_and_json_patch(http: Http) -> None:
    await http.post(CONFIGMAPS, configmap("a", k="v", drop="me"))
    merged = await http.patch(f"{CONFIGMAPS}/a", {"data": {"drop": None, "n": "1"}})
    assert merged.body["data"] == {"k": "v", "n": "1"}
    ops = [
        {"op": "test", "path": "/data/k", "value": "v"},
        {"op": "replace", "path": "/data/k", "value": "w"},
    ]
    patched = await http.patch(f"{CONFIGMAPS}/a", ops, "application/json-patch+json")
    assert patched.body["data"]["k"] == "w"
    failed = await http.patch(f"{CONFIGMAPS}/a", ops, "application/json-patch+json")
    assert failed.status == 422
    assert failed.body["reason"] == "Invalid"
    bad_op = await http.patch(
        f"{CONFIGMAPS}/a", [{"op": "nope", "path": "/x"}], "application/json-patch+json"
    )
    assert bad_op.status == 400


async def test_patch_resource_version_is_a_precondition(http: Http) -> None:
    created = (await http.post(CONFIGMAPS, configmap("a"))).body
    rv = created["metadata"]["resourceVersion"]
    ok = await http.patch(
        f"{CONFIGMAPS}/a", {"metadata": {"resourceVersion": rv}, "data": {"x": "1"}}
    )
    assert ok.status == 200
    stale = await http.patch(
        f"{CONFIGMAPS}/a", {"metadata": {"resourceVersion": rv}, "data": {"x": "2"}}
    )
    assert stale.status == 409
    assert stale.body["reason"] == "Conflict"


@pytest.mark.parametrize(
    ("content_type", "needle"),
    [
        ("application/apply-patch+yaml", "server-side apply"),
        ("text/plain", "accepted media types"),
    ],
)
async def test_unsupported_patch_types_are_415(http: Http, content_type: str, needle: str) -> None:
    await http.post(CONFIGMAPS, configmap("a"))
    reply = await http.patch(f"{CONFIGMAPS}/a", {"data": {}}, content_type)
    assert reply.status == 415
    assert reply.body["reason"] == "UnsupportedMediaType"
    assert needle in reply.body["message"]


async def test_delete_without_finalizers(http: Http) -> None:
    created = (await http.post(CONFIGMAPS, configmap("a"))).body
    reply = await http.delete(f"{CONFIGMAPS}/a", {"propagationPolicy": "Background"})
    assert reply.status == 200
    assert reply.body["status"] == "Success"
    assert reply.body["details"]["uid"] == created["metadata"]["uid"]
    assert (await http.get(f"{CONFIGMAPS}/a")).status == 404
    assert (await http.delete(f"{CONFIGMAPS}/a")).status == 404


async def test_delete_with_finalizers_waits_for_them(crd_env: Environment, http: Http) -> None:
    body = widget("w")
    body["metadata"]["finalizers"] = ["example.com/a", "example.com/b"]
    await http.post(WIDGETS, body)
    deleting = await http.delete(f"{WIDGETS}/w")
    assert deleting.status == 200
    meta = deleting.body["metadata"]
    assert meta["deletionTimestamp"]
    assert meta["generation"] == 2
    again = await http.delete(f"{WIDGETS}/w")
    assert again.body["metadata"]["resourceVersion"] == meta["resourceVersion"]
    added = await http.patch(
        f"{WIDGETS}/w", {"metadata": {"finalizers": ["example.com/a", "example.com/new"]}}
    )
    assert added.status == 422
    assert added.body["details"]["causes"][0]["field"] == "metadata.finalizers"
    one_left = await http.patch(f"{WIDGETS}/w", {"metadata": {"finalizers": ["example.com/b"]}})
    assert one_left.status == 200
    assert (await http.get(f"{WIDGETS}/w")).status == 200
    await http.patch(f"{WIDGETS}/w", {"metadata": {"finalizers": None}})
    assert (await http.get(f"{WIDGETS}/w")).status == 404


async def test_delete_preconditions(http: Http) -> None:
    created = (await http.post(CONFIGMAPS, configmap("a"))).body
    wrong_uid = await http.delete(f"{CONFIGMAPS}/a", {"preconditions": {"uid": "nope"}})
    assert wrong_uid.status == 409
    assert "Precondition failed: UID" in wrong_uid.body["message"]
    wrong_rv = await http.delete(f"{CONFIGMAPS}/a", {"preconditions": {"resourceVersion": "1"}})
    assert wrong_rv.status == 409
    ok = await http.delete(
        f"{CONFIGMAPS}/a",
        {
            "preconditions": {
                "uid": created["metadata"]["uid"],
                "resourceVersion": created["metadata"]["resourceVersion"],
            }
        },
    )
    assert ok.status == 200


async def test_delete_collection_by_label(http: Http) -> None:
    for name, team in (("a", "x"), ("b", "x"), ("c", "y")):
        await http.post(CONFIGMAPS, {"metadata": {"name": name, "labels": {"team": team}}})
    await http.delete(CONFIGMAPS, params={"labelSelector": "team=x"})
    left = await http.get(CONFIGMAPS)
    assert [i["metadata"]["name"] for i in left.body["items"]] == ["c"]


async def test_deleting_a_namespace_deletes_its_objects(http: Http) -> None:
    await http.post("/api/v1/namespaces", {"metadata": {"name": "team"}})
    await http.post("/api/v1/namespaces/team/configmaps", configmap("a"))
    await http.post(
        "/api/v1/namespaces/team/configmaps",
        {"metadata": {"name": "held", "finalizers": ["x.io/hold"]}},
    )
    terminating = await http.delete("/api/v1/namespaces/team")
    assert terminating.body["status"]["phase"] == "Terminating"
    assert (await http.get("/api/v1/namespaces/team/configmaps/a")).status == 404
    refused = await http.post("/api/v1/namespaces/team/configmaps", configmap("new"))
    assert refused.status == 403
    assert "being terminated" in refused.body["message"]
    await http.patch("/api/v1/namespaces/team/configmaps/held", {"metadata": {"finalizers": None}})
    assert (await http.get("/api/v1/namespaces/team")).status == 404
    await http.post("/api/v1/namespaces", {"metadata": {"name": "empty"}})
    gone = await http.delete("/api/v1/namespaces/empty")
    assert gone.body["status"] == "Success"
    assert (await http.get("/api/v1/namespaces/empty")).status == 404


async def test_update_with_another_uid_is_a_conflict(http: Http) -> None:
    await http.post(CONFIGMAPS, configmap("a"))
    body = configmap("a")
    body["metadata"]["uid"] = "not-the-uid"
    reply = await http.put(f"{CONFIGMAPS}/a", body)
    assert reply.status == 409
    assert "Precondition failed: UID" in reply.body["message"]


async def test_list_selectors(http: Http) -> None:
    for name, labels in (("a", {"env": "prod", "tier": "web"}), ("b", {"env": "dev"}), ("c", {})):
        await http.post(CONFIGMAPS, {"metadata": {"name": name, "labels": labels}})

    async def names(**params: str) -> list[str]:
        reply = await http.get(CONFIGMAPS, params=params)
        assert reply.status == 200, reply.body
        return [i["metadata"]["name"] for i in reply.body["items"]]

    assert await names(labelSelector="env=prod") == ["a"]
    assert await names(labelSelector="env in (prod,dev),!tier") == ["b"]
    assert await names(labelSelector="!env") == ["c"]
    assert await names(fieldSelector="metadata.name!=a") == ["b", "c"]
    assert await names(fieldSelector="metadata.namespace=default,metadata.name=c") == ["c"]
    unsupported = await http.get(CONFIGMAPS, params={"fieldSelector": "spec.x=1"})
    assert unsupported.status == 400
    assert "field label not supported: spec.x" in unsupported.body["message"]
    assert (await http.get(CONFIGMAPS, params={"labelSelector": "a in (b"})).status == 400


async def test_list_all_namespaces_and_cluster_scoped(http: Http) -> None:
    await http.post("/api/v1/namespaces", {"metadata": {"name": "other"}})
    await http.post(CONFIGMAPS, configmap("a"))
    await http.post("/api/v1/namespaces/other/configmaps", configmap("a"))
    reply = await http.get("/api/v1/configmaps")
    assert [i["metadata"]["namespace"] for i in reply.body["items"]] == ["default", "other"]
    node = await http.post("/api/v1/nodes", {"metadata": {"name": "n1"}})
    assert "namespace" not in node.body["metadata"]


async def test_pagination(http: Http) -> None:
    for i in range(5):
        await http.post(CONFIGMAPS, configmap(f"cm{i}"))
    seen: list[str] = []
    token = ""
    remaining = []
    while True:
        params = {"limit": "2", **({"continue": token} if token else {})}
        reply = await http.get(CONFIGMAPS, params=params)
        seen += [i["metadata"]["name"] for i in reply.body["items"]]
        token = reply.body["metadata"].get("continue", "")
        remaining.append(reply.body["metadata"].get("remainingItemCount"))
        if not token:
            break
    assert seen == [f"cm{i}" for i in range(5)]
    assert remaining == [3, 1, None]
    bad = await http.get(CONFIGMAPS, params={"limit": "2", "continue": "garbage"})
    assert bad.status == 400


async def test_bad_input_gets_clear_4xx(http: Http) -> None:
    malformed = await http.request("POST", CONFIGMAPS, raw=b"{not json")
    assert malformed.status == 400
    assert malformed.body["reason"] == "BadRequest"
    wrong_kind = await http.post(
        CONFIGMAPS, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "a"}}
    )
    assert wrong_kind.status == 400
    not_object = await http.post(CONFIGMAPS, [1, 2])
    assert not_object.status == 400
    huge = await http.request(
        "POST", CONFIGMAPS, raw=b'{"data":"' + b"x" * (3 * 1024 * 1024 + 10) + b'"}'
    )
    assert huge.status == 413
    assert huge.body["reason"] == "RequestEntityTooLarge"
    assert (await http.get("/api/v1/nope")).status == 404
    assert (await http.get("/apis/example.com/v1/widgets")).status == 404
    assert (await http.post(f"{CONFIGMAPS}/a", configmap("a"))).status == 405
    assert (await http.get(CONFIGMAPS, params={"limit": "x"})).status == 400
    assert (await http.get(CONFIGMAPS, params={"fieldValidation": "x"})).status == 200
    assert (
        await http.post(CONFIGMAPS, configmap("z"), params={"fieldValidation": "x"})
    ).status == 400
    # the server is still healthy and its state intact
    assert (await http.get("/api/v1/namespaces/default")).status == 200
    assert (await http.get(CONFIGMAPS)).body["items"] == []


async def test_builtin_kinds_are_served(http: Http) -> None:
    paths = {
        "/api/v1/namespaces/default/pods": "Pod",
        "/api/v1/namespaces/default/services": "Service",
        "/api/v1/namespaces/default/serviceaccounts": "ServiceAccount",
        "/api/v1/namespaces/default/events": "Event",
        "/apis/events.k8s.io/v1/namespaces/default/events": "Event",
        "/apis/apps/v1/namespaces/default/deployments": "Deployment",
        "/apis/apps/v1/namespaces/default/replicasets": "ReplicaSet",
        "/apis/apps/v1/namespaces/default/statefulsets": "StatefulSet",
        "/apis/batch/v1/namespaces/default/jobs": "Job",
        "/apis/coordination.k8s.io/v1/namespaces/default/leases": "Lease",
    }
    for index, (path, kind) in enumerate(paths.items()):
        # both Event groups share one store: each object gets its own name
        name = "x" if index != 4 else "x-events"
        reply = await http.post(path, {"metadata": {"name": name}, "spec": {}})
        assert reply.status == 201, (path, reply.body)
        assert reply.body["kind"] == kind
    deployment = await http.patch(
        "/apis/apps/v1/namespaces/default/deployments/x/status", {"status": {"replicas": 1}}
    )
    assert deployment.body["status"] == {"replicas": 1}
    assert (await http.get("/api/v1/namespaces/default/configmaps/x/status")).status == 404


async def test_dry_run_create_stores_nothing(http: Http) -> None:
    reply = await http.post(CONFIGMAPS, configmap("a"), params={"dryRun": "All"})
    assert reply.status == 201
    assert (await http.get(f"{CONFIGMAPS}/a")).status == 404


async def test_events_are_one_store_in_both_groups(http: Http) -> None:
    event = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e1"},
        "regarding": {"kind": "Widget", "name": "w", "namespace": "default", "uid": "u1"},
        "note": "phase changed",
        "reason": "Transition",
        "type": "Normal",
        "reportingController": "kubeloop",
        "reportingInstance": "kubeloop-1",
        "action": "Reconcile",
        "eventTime": "2026-01-01T00:00:00.000000Z",
    }
    created = await http.post("/apis/events.k8s.io/v1/namespaces/default/events", event)
    assert created.status == 201
    assert created.body["regarding"]["name"] == "w"
    core = await http.get(
        "/api/v1/namespaces/default/events",
        params={"fieldSelector": "involvedObject.uid=u1,involvedObject.kind=Widget"},
    )
    [item] = core.body["items"]
    assert item["apiVersion"] == "v1"
    assert item["involvedObject"]["name"] == "w"
    assert item["message"] == "phase changed"
    assert item["reportingComponent"] == "kubeloop"
    patched = await http.patch(
        "/apis/events.k8s.io/v1/namespaces/default/events/e1", {"series": {"count": 2}}
    )
    assert patched.body["series"] == {"count": 2}
    assert patched.body["note"] == "phase changed"
    core_event = {"metadata": {"name": "e2"}, "involvedObject": {"name": "x"}, "message": "m"}
    await http.post("/api/v1/namespaces/default/events", core_event)
    seen = await http.get("/apis/events.k8s.io/v1/namespaces/default/events/e2")
    assert seen.body["apiVersion"] == "events.k8s.io/v1"
    assert seen.body["note"] == "m"
    assert seen.body["regarding"] == {"name": "x"}
