"""kubectl 1.37 against the embedded API server, unchanged (own --cache-dir per test)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml
from test_apiserver_support import WIDGETS, Http, widget, widget_crd

from framework.envtest import Environment
from framework.envtest.apiserver.storage import MemoryStorage


async def until_watched(env: Environment, resource: str = "widgets.example.com") -> None:
    """Wait (bounded) until a client (kubectl) has a watch open on `resource`."""
    storage = env.store
    assert isinstance(storage, MemoryStorage)
    for _ in range(400):
        if storage.watcher_count(resource):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"nobody watches {resource}")


def write(path: Path, *docs: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump_all(docs))
    return str(path)


async def test_apply_crd_then_wait_established(
    env: Environment, kubectl: Any, tmp_path: Path
) -> None:
    crd = write(tmp_path / "crd.yaml", widget_crd())
    applied = await kubectl("apply", "-f", crd)
    assert (
        "customresourcedefinition.apiextensions.k8s.io/widgets.example.com created"
        in applied.stdout
    )
    waited = await kubectl(
        "wait", "--for=condition=Established", "crd/widgets.example.com", "--timeout=20s"
    )
    assert "condition met" in waited.stdout
    again = await kubectl("apply", "-f", crd)
    assert "unchanged" in again.stdout


async def test_apply_sample_twice_reports_unchanged(
    crd_env: Environment, kubectl: Any, tmp_path: Path
) -> None:
    sample = write(tmp_path / "w.yaml", widget("w1", size=3))
    assert "widget.example.com/w1 created" in (await kubectl("apply", "-f", sample)).stdout
    assert "widget.example.com/w1 unchanged" in (await kubectl("apply", "-f", sample)).stdout
    changed = write(tmp_path / "w2.yaml", widget("w1", size=4))
    assert "widget.example.com/w1 configured" in (await kubectl("apply", "-f", changed)).stdout
    got = await kubectl("get", "widget", "w1", "-o", "jsonpath={.spec.size}")
    assert got.stdout == "4"


async def test_apply_strict_validation_rejects_unknown_fields(
    crd_env: Environment, kubectl: Any, tmp_path: Path
) -> None:
    sample = widget("w1")
    sample["spec"]["bogus"] = 1
    result = await kubectl("apply", "-f", write(tmp_path / "w.yaml", sample), check=False)
    assert result.returncode != 0
    assert "bogus" in result.stderr


async def test_get_and_wide_show_printer_columns(
    crd_env: Environment, kubectl: Any, http: Http
) -> None:
    await http.post(WIDGETS, widget("w1", size=3, color="blue"))
    await http.patch(
        f"{WIDGETS}/w1/status",
        {"status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}},
    )
    plain = (await kubectl("get", "widgets")).stdout.splitlines()
    assert plain[0].split() == ["NAME", "SIZE", "PHASE", "READY"]
    assert plain[1].split() == ["w1", "3", "Running", "True"]
    wide = (await kubectl("get", "wd", "-o", "wide")).stdout.splitlines()
    assert wide[0].split() == ["NAME", "SIZE", "PHASE", "COLOR", "READY"]
    assert wide[1].split() == ["w1", "3", "Running", "blue", "True"]


async def test_get_watch_shows_a_later_patch(
    crd_env: Environment, kubectl: Any, http: Http
) -> None:
    await http.post(WIDGETS, widget("w1", size=3))
    watcher = asyncio.create_task(
        kubectl("get", "widgets", "-w", "--request-timeout=3s", check=False)
    )

    async def shown() -> None:
        while True:
            await http.patch(f"{WIDGETS}/w1/status", {"status": {"phase": "Patched"}})
            await asyncio.sleep(0.2)
            if watcher.done():
                return

    patcher = asyncio.create_task(shown())
    result = await watcher
    patcher.cancel()
    lines = [line.split() for line in result.stdout.splitlines()]
    assert lines[0] == ["NAME", "SIZE", "PHASE", "READY"]
    assert ["w1", "3"] in [line[:2] for line in lines[1:]]
    assert ["w1", "3", "Patched"] in [line[:3] for line in lines[1:]]


async def test_patch_status_subresource(crd_env: Environment, kubectl: Any, http: Http) -> None:
    await http.post(WIDGETS, widget("w1"))
    await kubectl(
        "patch",
        "widget",
        "w1",
        "--subresource=status",
        "--type=merge",
        "-p",
        '{"status":{"phase":"Done"}}',
    )
    got = (await http.get(f"{WIDGETS}/w1")).body
    assert got["status"] == {"phase": "Done"}
    assert got["metadata"]["generation"] == 1


async def test_delete_waits_for_a_finalizer(crd_env: Environment, kubectl: Any, http: Http) -> None:
    body = widget("w1")
    body["metadata"]["finalizers"] = ["example.com/hold"]
    await http.post(WIDGETS, body)
    deleting = asyncio.create_task(kubectl("delete", "widget", "w1", "--timeout=20s"))
    await until_watched(crd_env)
    assert (await http.get(f"{WIDGETS}/w1")).body["metadata"]["deletionTimestamp"]
    assert not deleting.done()
    await http.patch(f"{WIDGETS}/w1", {"metadata": {"finalizers": None}})
    result = await deleting
    assert 'widget.example.com "w1" deleted' in result.stdout
    assert (await http.get(f"{WIDGETS}/w1")).status == 404


async def test_wait_for_jsonpath(crd_env: Environment, kubectl: Any, http: Http) -> None:
    await http.post(WIDGETS, widget("w1"))
    waiting = asyncio.create_task(
        kubectl("wait", "--for=jsonpath={.status.phase}=Ready", "widget/w1", "--timeout=20s")
    )
    await until_watched(crd_env)
    await http.patch(f"{WIDGETS}/w1/status", {"status": {"phase": "Ready"}})
    assert "condition met" in (await waiting).stdout


async def test_api_resources(crd_env: Environment, kubectl: Any) -> None:
    out = (await kubectl("api-resources")).stdout
    rows = {tuple(line.split()[:2]) for line in out.splitlines()}
    assert ("widgets", "wd") in rows
    assert ("pods", "po") in rows
    assert ("customresourcedefinitions", "crd,crds") in rows
    assert "leases" in out


async def test_builtin_create_get_delete(env: Environment, kubectl: Any) -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm"},
        "data": {"a": "b"},
    }
    await kubectl("create", "-f", "-", stdin=yaml.safe_dump(configmap))
    assert (await kubectl("get", "cm", "cm", "-o", "jsonpath={.data.a}")).stdout == "b"
    await kubectl("label", "cm", "cm", "team=x")
    assert "cm" in (await kubectl("get", "cm", "-l", "team=x")).stdout
    assert "deleted" in (await kubectl("delete", "cm", "cm")).stdout
    namespaces = (await kubectl("get", "ns")).stdout
    assert "kube-system" in namespaces


async def test_server_side_apply_is_refused_with_a_message(
    crd_env: Environment, kubectl: Any, tmp_path: Path
) -> None:
    result = await kubectl(
        "apply", "--server-side", "-f", write(tmp_path / "w.yaml", widget("w1")), check=False
    )
    assert result.returncode != 0
    assert "server-side apply is not supported" in result.stderr


async def test_protobuf_bodies_get_a_clear_415(env: Environment, kubectl: Any) -> None:
    # kubectl's typed commands (create configmap, ...) send protobuf, which is not supported
    result = await kubectl("create", "configmap", "cm", "--from-literal=a=b", check=False)
    assert result.returncode != 0
    assert "accepts application/json" in result.stderr


async def test_reapply_of_builtins_sends_strategic_merge_patch(
    env: Environment, kubectl: Any, tmp_path: Path
) -> None:
    configmap = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "cm"},
        "data": {"a": "b"},
    }
    first = await kubectl("apply", "-f", write(tmp_path / "cm.yaml", configmap))
    assert "configmap/cm created" in first.stdout
    configmap["data"] = {"a": "c"}
    second = await kubectl("apply", "-f", write(tmp_path / "cm2.yaml", configmap))
    assert "configmap/cm configured" in second.stdout


async def test_describe_shows_events_recorded_through_events_k8s_io(
    crd_env: Environment, kubectl: Any, http: Http
) -> None:
    created = (await http.post(WIDGETS, widget("w1"))).body
    regarding = {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "name": "w1",
        "namespace": "default",
        "uid": created["metadata"]["uid"],
    }
    event = {
        "metadata": {"name": "w1.1"},
        "regarding": regarding,
        "note": "moved to Running",
        "reason": "PhaseChanged",
        "type": "Normal",
        "reportingController": "kubeloop",
        "reportingInstance": "kubeloop-1",
        "action": "Reconcile",
        "eventTime": "2026-01-01T00:00:00.000000Z",
    }
    await http.post("/apis/events.k8s.io/v1/namespaces/default/events", event)
    described = (await kubectl("describe", "widget", "w1")).stdout
    assert "PhaseChanged" in described
    assert "moved to Running" in described
