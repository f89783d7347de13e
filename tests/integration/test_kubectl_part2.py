"""kubectl 1.37 against the embedded API server: describe with events, diff and server dry
run, cascading deletion, strategic merge patches of built-ins (own --cache-dir per test)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from test_apiserver_support import Http

from framework.envtest import Environment

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
DEPLOYMENTS = "/apis/apps/v1/namespaces/default/deployments"


def deployment(replicas: int = 1, *containers: str) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": c, "image": c} for c in containers or ("a",)]},
            },
        },
    }


def write(path: Path, doc: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump(doc))
    return str(path)


async def test_describe_lists_the_objects_events(
    env: Environment, kubectl: Any, http: Http
) -> None:
    created = (await http.post(DEPLOYMENTS, deployment())).body
    involved = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "x",
        "namespace": "default",
        "uid": created["metadata"]["uid"],
    }
    for name, about, reason in (("mine", involved, "ScalingReplicaSet"), ("other", {}, "Other")):
        about = about or {**involved, "name": "y", "uid": "another"}
        event = {
            "metadata": {"name": name},
            "involvedObject": about,
            "reason": reason,
            "message": f"{reason} happened",
            "type": "Normal",
            "source": {"component": "deployment-controller"},
            "count": 1,
            "firstTimestamp": "2026-01-01T00:00:00Z",
            "lastTimestamp": "2026-01-01T00:00:00Z",
        }
        assert (await http.post("/api/v1/namespaces/default/events", event)).status == 201
    described = (await kubectl("describe", "deployment", "x")).stdout
    assert "ScalingReplicaSet" in described
    assert "ScalingReplicaSet happened" in described
    assert "Other" not in described


async def test_diff_and_server_dry_run_store_nothing(
    env: Environment, kubectl: Any, http: Http, tmp_path: Path
) -> None:
    await kubectl("apply", "-f", write(tmp_path / "v1.yaml", deployment(1)))
    before = (await http.get(f"{DEPLOYMENTS}/x")).body
    changed = write(tmp_path / "v2.yaml", deployment(3, "a", "b"))
    diff = await kubectl("diff", "-f", changed, check=False)
    assert diff.returncode == 1, diff.stderr  # 1: differences found
    assert "-  replicas: 1" in diff.stdout
    assert "+  replicas: 3" in diff.stdout
    dry = await kubectl("apply", "--dry-run=server", "-f", changed)
    assert "deployment.apps/x configured (server dry run)" in dry.stdout
    created = await kubectl(
        "apply", "--dry-run=server", "-f", write(tmp_path / "cm.yaml", _configmap("new"))
    )
    assert "configmap/new created (server dry run)" in created.stdout
    assert (await http.get(f"{DEPLOYMENTS}/x")).body == before
    assert (await http.get(f"{CONFIGMAPS}/new")).status == 404
    same = await kubectl("diff", "-f", write(tmp_path / "v1b.yaml", deployment(1)))
    assert same.stdout == ""


async def test_apply_twice_then_change(env: Environment, kubectl: Any, tmp_path: Path) -> None:
    path = tmp_path / "d.yaml"
    assert "created" in (await kubectl("apply", "-f", write(path, deployment()))).stdout
    again = await kubectl("apply", "-f", write(path, deployment()))
    assert "deployment.apps/x unchanged" in again.stdout
    assert again.stderr == ""
    changed = await kubectl("apply", "-f", write(path, deployment(2, "a", "b")))
    assert "deployment.apps/x configured" in changed.stdout
    got = await kubectl("get", "deployment", "x", "-o", "jsonpath={.spec.replicas}")
    assert got.stdout == "2"


async def test_strategic_patch_adds_a_container_by_name(
    env: Environment, kubectl: Any, http: Http
) -> None:
    await http.post(DEPLOYMENTS, deployment())
    patch = '{"spec":{"template":{"spec":{"containers":[{"name":"b","image":"b"}]}}}}'
    patched = await kubectl("patch", "deployment", "x", "-p", patch)
    assert "deployment.apps/x patched" in patched.stdout
    containers = (await http.get(f"{DEPLOYMENTS}/x")).body["spec"]["template"]["spec"]
    assert sorted(c["name"] for c in containers["containers"]) == ["a", "b"]


def _configmap(name: str, owner: dict[str, Any] | None = None, block: bool = False) -> Any:
    meta: dict[str, Any] = {"name": name, "namespace": "default"}
    if owner is not None:
        ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"]}
        meta["ownerReferences"] = [
            {**ref, "uid": owner["metadata"]["uid"], "blockOwnerDeletion": block}
        ]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


async def test_delete_cascade_foreground_waits_for_dependents(
    env: Environment, kubectl: Any, http: Http
) -> None:
    owner = (await http.post(CONFIGMAPS, _configmap("owner"))).body
    held = _configmap("held", owner, block=True)
    held["metadata"]["finalizers"] = ["example.com/hold"]
    await http.post(CONFIGMAPS, held)
    deleting = asyncio.create_task(
        kubectl("delete", "configmap", "owner", "--cascade=foreground", "--timeout=20s")
    )

    async def held_is_deleting() -> bool:
        return "deletionTimestamp" in (await http.get(f"{CONFIGMAPS}/held")).body["metadata"]

    for _ in range(200):
        if await held_is_deleting():
            break
        await asyncio.sleep(0.05)
    assert not deleting.done()  # kubectl still waits for the owner, held by its dependent
    assert (await http.get(f"{CONFIGMAPS}/owner")).status == 200
    await http.patch(f"{CONFIGMAPS}/held", {"metadata": {"finalizers": None}})
    result = await asyncio.wait_for(deleting, 20)
    assert 'configmap "owner" deleted' in result.stdout
    assert (await http.get(f"{CONFIGMAPS}/owner")).status == 404
    assert (await http.get(f"{CONFIGMAPS}/held")).status == 404


async def test_delete_cascade_orphan_keeps_dependents(
    env: Environment, kubectl: Any, http: Http
) -> None:
    owner = (await http.post(CONFIGMAPS, _configmap("owner"))).body
    await http.post(CONFIGMAPS, _configmap("child", owner))
    result = await kubectl("delete", "configmap", "owner", "--cascade=orphan")
    assert 'configmap "owner" deleted' in result.stdout
    assert (await http.get(f"{CONFIGMAPS}/owner")).status == 404
    child = (await http.get(f"{CONFIGMAPS}/child")).body
    assert "ownerReferences" not in child["metadata"]
