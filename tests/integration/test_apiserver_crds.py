"""CRDs (serving, conditions, schemas, pruning, defaulting, field validation, versions,
deletion), discovery, OpenAPI and Table output."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from test_apiserver_support import WIDGETS, Http, widget, widget_crd

from framework.envtest import Environment

CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


def condition(crd: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in crd["status"]["conditions"] if c["type"] == kind)


async def test_new_crd_is_served_at_once_with_conditions(http: Http) -> None:
    created = await http.post(CRDS, widget_crd())
    assert created.status == 201
    assert (await http.post(WIDGETS, widget("w"))).status == 201
    crd = (await http.get(f"{CRDS}/widgets.example.com")).body
    assert condition(crd, "Established")["status"] == "True"
    assert condition(crd, "NamesAccepted")["status"] == "True"
    assert crd["status"]["acceptedNames"]["kind"] == "Widget"
    assert crd["status"]["storedVersions"] == ["v1"]
    assert crd["spec"]["names"]["listKind"] == "WidgetList"
    listed = await http.get(WIDGETS)
    assert listed.body["kind"] == "WidgetList"


async def test_deleting_a_crd_stops_serving_and_deletes_objects(
    crd_env: Environment, http: Http
) -> None:
    await http.post(WIDGETS, widget("w"))
    assert (await http.delete(f"{CRDS}/widgets.example.com")).status == 200
    assert (await http.get(WIDGETS)).status == 404
    assert "example.com" not in str((await http.get("/apis")).body)
    await http.post(CRDS, widget_crd())
    assert (await http.get(WIDGETS)).body["items"] == []


async def test_invalid_crds_are_rejected(http: Http) -> None:
    mismatch = widget_crd()
    mismatch["metadata"]["name"] = "gadgets.example.com"
    bad_path = widget_crd()
    bad_path["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "X", "type": "string", "jsonPath": ".spec[?(@.x=="}
    ]
    two_storage = widget_crd()
    v2 = copy.deepcopy(two_storage["spec"]["versions"][0])
    v2["name"] = "v2"
    two_storage["spec"]["versions"].append(v2)
    no_schema = widget_crd()
    del no_schema["spec"]["versions"][0]["schema"]
    non_structural = widget_crd()
    non_structural["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"] = {
        "properties": {"a": {"type": "string"}}
    }
    for crd, field in (
        (mismatch, "metadata.name"),
        (bad_path, "spec.versions[0].additionalPrinterColumns[0].jsonPath"),
        (two_storage, "spec.versions"),
        (no_schema, "spec.versions[0].schema.openAPIV3Schema"),
        (non_structural, "spec.versions[0].schema.openAPIV3Schema"),
    ):
        reply = await http.post(CRDS, crd)
        assert reply.status == 422, field
        assert field in [c["field"] for c in reply.body["details"]["causes"]]
    assert (await http.get(CRDS)).body["items"] == []


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"size": 11}, "spec.size"),
        ({"size": -1}, "spec.size"),
        ({"size": "3"}, "spec.size"),
        ({"size": 1, "color": "green"}, "spec.color"),
        ({"size": 1, "name": "UPPER"}, "spec.name"),
        ({}, "spec.size"),
        ({"size": 1, "when": "yesterday"}, "spec.when"),
        ({"size": 1, "tags": ["ab", "cd", "ef"]}, "spec.tags"),
        ({"size": 1, "tags": ["a"]}, "spec.tags[0]"),
        ({"size": 1, "maybe": 5}, "spec.maybe"),
        ({"size": 1, "template": {"spec": {}}}, "spec.template.apiVersion"),
    ],
)
async def test_schema_validation_is_422_with_field_paths(
    crd_env: Environment, http: Http, spec: dict[str, Any], field: str
) -> None:
    body = widget("w")
    body["spec"] = spec
    reply = await http.post(WIDGETS, body)
    assert reply.status == 422, reply.body
    assert reply.body["reason"] == "Invalid"
    assert reply.body["details"]["causes"][0]["field"] == field
    assert reply.body["message"].startswith('Widget.example.com "w" is invalid: ')
    assert f"{field}: " in reply.body["message"]


async def test_defaults_pruning_and_preserved_fields(crd_env: Environment, http: Http) -> None:
    body = widget(
        "w", extra={"free": {"a": 1}, "inner": {"kept": "k", "dropped": "d"}}, port="http"
    )
    body["spec"]["bogus"] = True
    body["topLevel"] = 1
    reply = await http.post(WIDGETS, body, params={"fieldValidation": "Ignore"})
    assert reply.status == 201, reply.body
    spec = reply.body["spec"]
    assert spec["color"] == "red"
    assert "bogus" not in spec
    assert "topLevel" not in reply.body
    assert spec["extra"] == {"free": {"a": 1}, "inner": {"kept": "k"}}
    assert spec["port"] == "http"
    assert "Warning" not in reply.headers
    numeric = await http.post(WIDGETS, widget("n", port=8080))
    assert numeric.body["spec"]["port"] == 8080
    embedded = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": {"x": 1}}
    valid = widget("v", when="2026-01-01T00:00:00Z", maybe=None, tags=["ab"], template=embedded)
    accepted = await http.post(WIDGETS, valid)
    assert accepted.status == 201, accepted.body
    assert accepted.body["spec"]["template"] == embedded
    assert accepted.body["spec"]["maybe"] is None


async def test_field_validation_strict_and_warn(crd_env: Environment, http: Http) -> None:
    body = widget("w")
    body["spec"]["bogus"] = 1
    strict = await http.post(WIDGETS, body, params={"fieldValidation": "Strict"})
    assert strict.status == 400
    assert "spec.bogus" in strict.body["message"]
    warn = await http.post(WIDGETS, body, params={"fieldValidation": "Warn"})
    assert warn.status == 201
    assert "spec.bogus" in warn.headers["Warning"]
    assert warn.headers["Warning"].startswith("299 - ")


async def test_every_served_version_shares_storage(http: Http) -> None:
    crd = widget_crd()
    v2 = copy.deepcopy(crd["spec"]["versions"][0])
    v2["name"] = "v2"
    v2["storage"] = False
    v1beta1 = copy.deepcopy(v2)
    v1beta1["name"] = "v1beta1"
    v1beta1["served"] = False
    crd["spec"]["versions"] += [v2, v1beta1]
    await http.post(CRDS, crd)
    await http.post(WIDGETS, widget("w"))
    at_v2 = await http.get("/apis/example.com/v2/namespaces/default/widgets/w")
    assert at_v2.body["apiVersion"] == "example.com/v2"
    listed = await http.get("/apis/example.com/v2/namespaces/default/widgets")
    assert listed.body["items"][0]["apiVersion"] == "example.com/v2"
    assert (await http.get("/apis/example.com/v1beta1/namespaces/default/widgets")).status == 404
    patched = await http.patch(
        "/apis/example.com/v2/namespaces/default/widgets/w", {"spec": {"size": 2}}
    )
    assert patched.status == 200
    assert patched.body["apiVersion"] == "example.com/v2"
    at_v1 = await http.get(f"{WIDGETS}/w")
    assert at_v1.body["apiVersion"] == "example.com/v1"
    assert at_v1.body["spec"]["size"] == 2
    group = (await http.get("/apis/example.com")).body
    assert group["preferredVersion"]["version"] == "v2"
    assert [v["version"] for v in group["versions"]] == ["v2", "v1"]


async def test_cluster_scoped_crd(http: Http) -> None:
    crd = widget_crd()
    crd["spec"]["scope"] = "Cluster"
    await http.post(CRDS, crd)
    body = widget("w")
    del body["metadata"]["namespace"]
    created = await http.post("/apis/example.com/v1/widgets", body)
    assert created.status == 201
    assert "namespace" not in created.body["metadata"]
    assert (await http.get("/apis/example.com/v1/widgets/w")).status == 200


async def test_discovery_documents(crd_env: Environment, http: Http) -> None:
    version = (await http.get("/version")).body
    assert (version["major"], version["minor"]) == ("1", "37")
    api = (await http.get("/api")).body
    assert api["versions"] == ["v1"]
    core = (await http.get("/api/v1")).body
    pods = next(r for r in core["resources"] if r["name"] == "pods")
    assert pods["shortNames"] == ["po"]
    assert pods["namespaced"] is True
    assert "watch" in pods["verbs"]
    assert any(r["name"] == "pods/status" for r in core["resources"])
    groups = {g["name"] for g in (await http.get("/apis")).body["groups"]}
    assert {"apps", "batch", "coordination.k8s.io", "events.k8s.io", "example.com"} <= groups
    widgets = (await http.get("/apis/example.com/v1")).body
    entry = next(r for r in widgets["resources"] if r["name"] == "widgets")
    assert entry["kind"] == "Widget"
    assert entry["shortNames"] == ["wd"]
    assert entry["categories"] == ["all"]
    assert any(r["name"] == "widgets/status" for r in widgets["resources"])


async def test_aggregated_discovery_request_gets_legacy_json(http: Http) -> None:
    accept = (
        "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
        "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
        "application/json"
    )
    reply = await http.get("/apis", headers={"Accept": accept})
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.body["kind"] == "APIGroupList"


async def test_openapi_v3_documents(crd_env: Environment, http: Http) -> None:
    index = (await http.get("/openapi/v3")).body["paths"]
    assert "api/v1" in index
    assert "apis/example.com/v1" in index
    core = (await http.get(index["api/v1"]["serverRelativeURL"])).body
    namespace_patch = core["paths"]["/api/v1/namespaces/{name}"]["patch"]
    params = {p["name"] for p in namespace_patch["parameters"]}
    assert {"fieldValidation", "dryRun"} <= params
    assert namespace_patch["x-kubernetes-group-version-kind"]["kind"] == "Namespace"
    widgets = (await http.get(index["apis/example.com/v1"]["serverRelativeURL"])).body
    patch = widgets["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert "application/strategic-merge-patch+json" not in patch["requestBody"]["content"]
    assert (await http.get("/openapi/v2")).status == 404


async def test_table_output_with_printer_columns(crd_env: Environment, http: Http) -> None:
    await http.post(WIDGETS, widget("w", size=2, color="blue"))
    await http.patch(
        f"{WIDGETS}/w/status",
        {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
    )
    table = (await http.get(WIDGETS, headers={"Accept": TABLE})).body
    assert table["kind"] == "Table"
    assert table["apiVersion"] == "meta.k8s.io/v1"
    columns = [(c["name"], c["priority"]) for c in table["columnDefinitions"]]
    assert columns[:5] == [("Name", 0), ("Size", 0), ("Phase", 0), ("Color", 1), ("Ready", 0)]
    assert table["rows"][0]["cells"][:5] == ["w", 2, "Running", "blue", "True"]
    assert table["rows"][0]["object"]["kind"] == "PartialObjectMetadata"
    single = (await http.get(f"{WIDGETS}/w", headers={"Accept": TABLE})).body
    assert single["rows"][0]["cells"][0] == "w"
    full = await http.get(WIDGETS, headers={"Accept": TABLE}, params={"includeObject": "Object"})
    assert full.body["rows"][0]["object"]["spec"]["color"] == "blue"
    bad = await http.get(WIDGETS, headers={"Accept": TABLE}, params={"includeObject": "All"})
    assert bad.status == 400


async def test_table_defaults_to_name_and_age(http: Http) -> None:
    crd = widget_crd()
    del crd["spec"]["versions"][0]["additionalPrinterColumns"]
    await http.post(CRDS, crd)
    await http.post(WIDGETS, widget("w"))
    table = (await http.get(WIDGETS, headers={"Accept": TABLE})).body
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Age"]
    builtin = (await http.get("/api/v1/namespaces", headers={"Accept": TABLE})).body
    assert [c["name"] for c in builtin["columnDefinitions"]] == ["Name", "Age"]


async def test_partial_object_metadata(crd_env: Environment, http: Http) -> None:
    await http.post(WIDGETS, widget("w"))
    accept = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io"
    listed = (await http.get(WIDGETS, headers={"Accept": accept})).body
    assert listed["kind"] == "PartialObjectMetadataList"
    assert listed["items"][0]["metadata"]["name"] == "w"
    assert "spec" not in listed["items"][0]


async def test_environment_installs_crds_from_paths(tmp_path: Any) -> None:
    import yaml

    (tmp_path / "crds.yaml").write_text(yaml.safe_dump_all([widget_crd(), {"kind": "Other"}]))
    async with Environment(crd_paths=[tmp_path]) as env:
        served = env.server.catalog.lookup("example.com", "v1", "widgets")
        assert served is not None
        names = await env.install_crds([tmp_path / "crds.yaml"])
        assert names == ["widgets.example.com"]
